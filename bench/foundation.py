"""Foundation benchmarks: creating check-ins over HTTP, and listing them as the table grows.

1. Create throughput. The real app (validation, Firebase auth checking each token's RS256
   signature, ORM, response schema) against a bare Flask endpoint (bench/bare_app.py) inserting
   the same row, both served as the Dockerfile serves the app (gunicorn with
   backend/gunicorn_conf.py: 4 workers × 4 threads, the redacting access log, prometheus-client's
   multiprocess files; the app in production configuration) and driven by the same client, with
   as many connections as the server has threads. Aim: app/bare ≥ 0.5. Alongside the rates, the
   CPU the servers and their PostgreSQL backends spent per request: on a shared machine that
   cost moves much less than a rate does.
2. Listing stays flat. A heavy user's year of check-ins walked a page at a time (signed tokens,
   through the app in-process), in a table holding only their rows and in one holding a million
   rows of other users as well, everyone's rows loaded in the order they were recorded, so the
   heavy user's rows lie scattered among the others' as they do in production (the heap pages
   holding them are counted). Two databases, so that the walks can alternate and load from
   elsewhere on the machine hits both alike. Aim: ≈ 1×, because the keyset query reads
   ix_checkins_user_recorded; the EXPLAIN of a page shows it (and its heap reads).
"""

import collections
import datetime as dt
import http.client
import json
import random
import statistics
import threading
import time
import uuid

import psycopg

from bench.support import (app_config, bearer_headers, check_signatures_refused, cpu_seconds, fresh_database,
                           google_certificates, gunicorn, machine_load, print_table, production_env, results_of,
                           scale_note, scaled, server_concurrency, with_children, write_results)

# Create throughput: each side gets the same requests, concurrency and rounds; the rounds
# alternate the order (bare, app | app, bare | …) so drift hits both sides alike.
CREATE_REQUESTS = scaled(3000, 100)
CREATE_ROUNDS = scaled(10, 2)
WARMUP_REQUESTS = scaled(300, 50)

# Listing: one heavy user among a crowd of others.
HEAVY_USER_ROWS = scaled(3000, 300)
PAGE_LIMIT = 100
WALKS = scaled(15, 3)
OTHER_USERS = scaled(1000, 10)
ROWS_PER_OTHER_USER = 1000

LIST_INDEX = "ix_checkins_user_recorded"
SCORE_COLUMNS = {  # column: highest value
    "pain": 10, "enjoyment_interference": 10, "activity_interference": 10, "focus": 4,
    "hyperactivity": 4, "impulsivity": 4, "restlessness": 4, "mood": 10, "sleep_quality": 4,
}


def main():
    started, load_before = time.perf_counter(), machine_load()
    create = bench_create()
    listing = bench_listing()
    results = results_of("foundation", started, load_before, {
        "create_throughput": create,
        "listing": listing,
    })
    path = write_results("foundation", results)

    app, bare = create["app"], create["bare"]
    print("\nfoundation")
    print_table([
        ["create check-in, req/s (app/bare)", f"bare {bare['requests_per_s']:.0f}",
         f"app {app['requests_per_s']:.0f}", f"{create['ratio_app_over_bare']:.2f}", "≥ 0.5"],
        ["  server CPU ms/request (bare/app)", f"bare {bare['cpu_ms_per_request']:.2f}",
         f"app {app['cpu_ms_per_request']:.2f}", f"{create['cpu_ratio_bare_over_app']:.2f}", "≥ 0.5"],
        [f"list {HEAVY_USER_ROWS:,} rows, {listing['alone']['pages']} pages, s (crowded/alone)",
         f"alone {listing['alone']['median_s']:.3f}",
         f"+{listing['other_rows'] / 1e6:g}M rows {listing['crowded']['median_s']:.3f}",
         f"{listing['ratio_crowded_over_alone']:.2f}", "≈ 1"],
        ["  its SQL, ms/walk (crowded/alone)", f"alone {listing['alone']['median_query_ms']:.1f}",
         f"crowded {listing['crowded']['median_query_ms']:.1f}", f"{listing['sql_ratio_crowded_over_alone']:.2f}",
         "≈ 1"],
    ], ["benchmark", "baseline", "measured", "ratio", "aim"])
    print(f"  list query uses {LIST_INDEX}: {listing['uses_index']}; the heavy user's rows lie on "
          f"{listing['heap_pages']['alone']:,} heap pages alone, {listing['heap_pages']['crowded']:,} in the crowd; "
          f"machine load per core {load_before} → {results['machine_load_per_core']['end']}")
    if scale_note():
        print(scale_note())
    print(f"  {path.relative_to(path.parents[2])}, {results['duration_s']:.0f} s")
    return results


# -- 1. create throughput ------------------------------------------------------------------------

def bench_create():
    from backend import close_app, create_app
    from backend.accounts.services import user_for_firebase_uid
    from backend.extensions import db

    uid = "bench-creator"
    rng = random.Random(1)
    concurrency = server_concurrency()
    with fresh_database("create") as url:
        app = create_app(app_config(url))
        with app.app_context():
            user_id = str(user_for_firebase_uid(uid)[0].id)
            db.session.commit()
        close_app(app)
        headers = {"Content-Type": "application/json", **bearer_headers(uid)}

        def env(side):  # the application name tells the two servers' PostgreSQL backends apart
            return production_env(f"{url}?application_name=bench-{side}", BENCH_USER_ID=user_id)

        with gunicorn("backend:create_app()", env("app"), ready_path="/healthz") as app_server, \
                gunicorn("bench.bare_app:create_app()", env("bare")) as bare_server, \
                psycopg.connect(url, autocommit=True) as monitor:
            check_signatures_refused(lambda path, headers: http_get(app_server.port, path, headers))
            sides = {"bare": Side("bare", bare_server, "/checkins", monitor, concurrency),
                     "app": Side("app", app_server, "/v1/checkins", monitor, concurrency)}
            for side in sides.values():
                side.drive(checkin_bodies(rng, WARMUP_REQUESTS), headers, measure=False)
            fetches_before = google_certificates().fetches
            for n in range(CREATE_ROUNDS):
                for name in (("bare", "app") if n % 2 == 0 else ("app", "bare")):
                    sides[name].drive(checkin_bodies(rng, CREATE_REQUESTS // CREATE_ROUNDS), headers)
            measured_fetches = google_certificates().fetches - fetches_before
            stored = monitor.execute("SELECT count(*) FROM checkins").fetchone()[0]
    expected = 2 * (WARMUP_REQUESTS + CREATE_REQUESTS // CREATE_ROUNDS * CREATE_ROUNDS)
    if stored != expected:
        raise RuntimeError(f"expected {expected} stored check-ins, found {stored}")

    result = {name: side.summary() for name, side in sides.items()}
    result.update({
        "ratio_app_over_bare": round(result["app"]["requests_per_s"] / result["bare"]["requests_per_s"], 3),
        "cpu_ratio_bare_over_app": round(result["bare"]["cpu_ms_per_request"] / result["app"]["cpu_ms_per_request"], 3),
        "concurrency": concurrency, "rounds": CREATE_ROUNDS,
        "server": "gunicorn -c python:backend.gunicorn_conf (the Dockerfile's), CARELOOP_ENV=production",
        "auth": "RS256 ID tokens checked by firebase-admin against loopback certificates (max-age cached)",
        "certificate_fetches_while_measured": measured_fetches,
    })
    rows = [(name, result[name]) for name in sides]
    print_table([[name, r["requests"], f"{r['requests_per_s']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
                  f"{r['python_cpu_ms_per_request']:.2f}", f"{r['postgres_cpu_ms_per_request']:.2f}"] for name, r in rows],
                ["create check-in", "requests", "req/s", "p50 ms", "p95 ms", "CPU ms/req: gunicorn", "postgres"])
    return result


class Side:
    """One server under test, with the time, latencies and CPU its measured rounds took."""

    def __init__(self, name, server, path, monitor, concurrency):
        self.name, self.server, self.path, self.monitor = name, server, path, monitor
        self.concurrency = concurrency
        self.requests, self.seconds, self.latencies = 0, 0.0, []
        self.cpu = collections.Counter()

    def drive(self, bodies, headers, *, measure=True):
        before = self.cpu_snapshot()
        seconds, latencies = drive(self.server.port, self.path, bodies, headers, self.concurrency)
        if measure:
            after = self.cpu_snapshot()
            for kind in after:
                self.cpu[kind] += sum(used - before[kind].get(pid, 0.0) for pid, used in after[kind].items())
            self.requests += len(bodies)
            self.seconds += seconds
            self.latencies += latencies

    def cpu_snapshot(self):
        backends = [pid for pid, in self.monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [f"bench-{self.name}"])]
        return {"python": cpu_seconds(with_children(self.server.pid)), "postgres": cpu_seconds(backends)}

    def summary(self):
        per_request = {kind: self.cpu[kind] * 1000 / self.requests for kind in ("python", "postgres")}
        return {"requests": self.requests, "seconds": round(self.seconds, 3),
                "requests_per_s": round(self.requests / self.seconds, 1),
                "p50_ms": round(statistics.median(self.latencies) * 1000, 2),
                "p95_ms": round(statistics.quantiles(self.latencies, n=20)[18] * 1000, 2),
                "python_cpu_ms_per_request": round(per_request["python"], 3),
                "postgres_cpu_ms_per_request": round(per_request["postgres"], 3),
                "cpu_ms_per_request": round(sum(per_request.values()), 3)}


def checkin_bodies(rng, count):
    """Ready-encoded create bodies, as a phone sends them (fresh ids, times in the past year)."""
    now = dt.datetime.now(dt.timezone.utc)
    bodies = []
    for _ in range(count):
        body = {"id": str(uuid.uuid4()),
                "recorded_at": (now - dt.timedelta(minutes=rng.randrange(525_600))).isoformat(timespec="seconds")}
        body.update({name: rng.randint(0, high) for name, high in SCORE_COLUMNS.items()})
        body.update({"sleep_hours": round(rng.uniform(4, 9), 1),
                     "side_effects": rng.sample(["constipation", "dry_mouth", "drowsiness"], rng.randint(0, 2)),
                     "withdrawal_symptoms": [], "note": "Slept badly, better after lunch."})
        bodies.append(json.dumps(body).encode())
    return bodies


def drive(port, path, bodies, headers, concurrency):
    """POST every body over `concurrency` keep-alive connections; returns (seconds, latencies).

    http.client rather than requests: the client shares the machine with the servers, and the
    lighter it is, the less it flattens the difference between them.
    """
    pending = collections.deque(bodies)
    latencies, failures = [], []
    start = threading.Barrier(concurrency + 1)

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.connect()
        start.wait()
        while True:
            try:
                body = pending.popleft()
            except IndexError:
                break
            began = time.perf_counter()
            status, answer = post(connection, path, body, headers)
            latencies.append(time.perf_counter() - began)
            if status != 201:
                failures.append(f"{status} {answer[:300]!r}")
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(bodies)} requests to {path} failed, e.g. {failures[0]}")
    return seconds, latencies


def http_get(port, path, headers):
    """One GET on a connection of its own; returns the status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def post(connection, path, body, headers):
    for attempt in (1, 2):
        try:
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            return response.status, response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed an idle keep-alive connection; reconnect once.
            connection.close()
            if attempt == 2:
                raise


# -- 2. listing stays flat -----------------------------------------------------------------------

def bench_listing():
    now = dt.datetime.now(dt.timezone.utc)
    with fresh_database("list_alone") as alone_url, fresh_database("list_crowded") as crowded_url:
        alone = Listing(alone_url)
        crowded = Listing(crowded_url)
        alone.load(now, others=False)
        began = time.perf_counter()
        crowded.load(now, others=True)
        load_seconds = time.perf_counter() - began
        check_signatures_refused(lambda path, headers: crowded.client.get(path, headers=headers).status_code)

        for listing in (alone, crowded):
            listing.walk()  # warm-up
        for n in range(WALKS):
            for listing in ((alone, crowded) if n % 2 == 0 else (crowded, alone)):
                listing.timed_walk()
        plans = {"alone": alone.explain(), "crowded": crowded.explain()}
        other_rows = crowded.count_rows() - HEAVY_USER_ROWS
        heap_pages = {"alone": alone.heap_pages(), "crowded": crowded.heap_pages()}
        alone.close()
        crowded.close()

    print(f"\nEXPLAIN (ANALYZE, BUFFERS) of a middle page, among {other_rows:,} other rows:")
    for line in plans["crowded"]:
        print("    " + line)
    print()
    result = {
        "heavy_user_rows": HEAVY_USER_ROWS, "page_limit": PAGE_LIMIT, "walks": WALKS,
        "other_users": OTHER_USERS, "other_rows": other_rows, "bulk_load_s": round(load_seconds, 1),
        "load_order": "everyone's rows in the order they were recorded (the heavy user's interleaved)",
        "heap_pages": heap_pages,
        "alone": alone.summary(), "crowded": crowded.summary(),
        "uses_index": all(any(LIST_INDEX in line for line in plan) for plan in plans.values()),
        "plans": plans,
    }
    result["ratio_crowded_over_alone"] = round(result["crowded"]["median_s"] / result["alone"]["median_s"], 3)
    result["sql_ratio_crowded_over_alone"] = round(
        result["crowded"]["median_query_ms"] / result["alone"]["median_query_ms"], 3)
    print_table([[name, r["pages"], f"{r['median_s']:.3f}", f"{r['median_s'] / r['pages'] * 1000:.1f}",
                  f"{r['median_query_ms']:.1f}"]
                 for name, r in (("alone", result["alone"]), (f"+{other_rows:,} rows", result["crowded"]))],
                ["list walk", "pages", "median s", "ms/page", "of which SQL, ms/walk"])
    return result


class Listing:
    """The heavy user's check-ins in one database, listed through the app's test client."""

    def __init__(self, url):
        from backend import create_app
        from backend.accounts.services import user_for_firebase_uid
        from backend.extensions import db

        uid = "bench-heavy-user"
        self.url, self.times, self.query_times = url, [], []
        self.app = create_app(app_config(url))
        with self.app.app_context():
            self.user_id = user_for_firebase_uid(uid)[0].id
            db.session.commit()
            self.queries = PageQueries(db.engine)
        self.client = self.app.test_client()
        self.uid = uid

    @property
    def headers(self):
        return bearer_headers(self.uid)  # a fresh token before the last one runs out, as phones do

    def load(self, now, *, others):
        """The heavy user's year (the same rows in both databases) and, with `others`, the crowd's,
        inserted in the order they were recorded, then vacuumed."""
        with psycopg.connect(self.url, autocommit=True) as connection:
            staged = [stage_heavy_user_rows(connection, self.user_id, now)]
            if others:
                staged.append(stage_other_users_rows(connection))
            everyone = " UNION ALL ".join(f"SELECT * FROM {table}" for table in staged)
            connection.execute(f"INSERT INTO checkins SELECT * FROM ({everyone}) AS r ORDER BY recorded_at, id")
            connection.execute("VACUUM (ANALYZE) checkins")

    def heap_pages(self):
        """How many heap pages hold the heavy user's rows."""
        with psycopg.connect(self.url) as connection:
            return connection.execute("SELECT count(DISTINCT (ctid::text::point)[0]) FROM checkins WHERE user_id = %s",
                                      [self.user_id]).fetchone()[0]

    def walk(self):
        """GET /v1/checkins page after page until next_cursor runs out; returns the page count."""
        pages, items, cursor = 0, 0, None
        while True:
            query = {"limit": PAGE_LIMIT} | ({"cursor": cursor} if cursor else {})
            response = self.client.get("/v1/checkins", query_string=query, headers=self.headers)
            if response.status_code != 200:
                raise RuntimeError(f"listing failed: {response.status_code} {response.get_data(as_text=True)[:300]}")
            pages += 1
            items += len(response.json["items"])
            cursor = response.json["next_cursor"]
            if cursor is None:
                break
        if items != HEAVY_USER_ROWS:
            raise RuntimeError(f"walked {items} check-ins, expected {HEAVY_USER_ROWS}")
        self.pages = pages
        return pages

    def timed_walk(self):
        began, queries_before = time.perf_counter(), self.queries.seconds
        self.walk()
        self.times.append(time.perf_counter() - began)
        self.query_times.append(self.queries.seconds - queries_before)

    def summary(self):
        return {"pages": self.pages, "median_s": round(statistics.median(self.times), 4),
                "median_query_ms": round(statistics.median(self.query_times) * 1000, 2),
                "walks_s": [round(t, 4) for t in self.times]}

    def explain(self):
        """EXPLAIN ANALYZE the app's own query for a page from the middle of the last walk."""
        from backend.extensions import db

        # Every page but the first carries a cursor: `(recorded_at, id) < (…)`.
        paged = [entry for entry in self.queries.statements if ") < (" in entry[0]]
        statement, parameters = paged[-(HEAVY_USER_ROWS // PAGE_LIMIT) // 2]
        with self.app.app_context(), db.engine.connect() as connection:
            rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
            return [row[0] for row in rows]

    def count_rows(self):
        with psycopg.connect(self.url) as connection:
            return connection.execute("SELECT count(*) FROM checkins").fetchone()[0]

    def close(self):
        from backend.extensions import db

        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()


def stage_heavy_user_rows(connection, user_id, now):
    """A year of check-ins, about eight a day, for the heavy user, copied into a temporary table
    (the same rows each time); returns its name."""
    rng = random.Random(2)
    step = dt.timedelta(days=365) / HEAVY_USER_ROWS
    columns = ["id", "user_id", "recorded_at", *SCORE_COLUMNS, "sleep_hours", "side_effects",
               "withdrawal_symptoms", "note", "created_at", "updated_at"]
    connection.execute("CREATE TEMPORARY TABLE heavy_rows (LIKE checkins INCLUDING DEFAULTS)")
    with connection.cursor().copy(f"COPY heavy_rows ({', '.join(columns)}) FROM STDIN") as copy:
        for n in range(HEAVY_USER_ROWS):
            recorded_at = now - step * n - dt.timedelta(seconds=rng.randrange(600))
            copy.write_row([uuid.UUID(int=rng.getrandbits(128), version=4), user_id, recorded_at,
                            *(rng.randint(0, high) for high in SCORE_COLUMNS.values()),
                            round(rng.uniform(4, 9), 1), '["dry_mouth"]', "[]", None, recorded_at, recorded_at])
    return "heavy_rows"


def stage_other_users_rows(connection):
    """OTHER_USERS users with ROWS_PER_OTHER_USER check-ins each over the same year, built in SQL
    into a temporary table; returns its name."""
    connection.execute("CREATE TEMPORARY TABLE other_rows (LIKE checkins INCLUDING DEFAULTS)")
    connection.execute(
        "INSERT INTO users (id, firebase_uid, timezone, notification_privacy, created_at, updated_at) "
        "SELECT gen_random_uuid(), 'bench-other-' || n, 'UTC', 'discreet', now(), now() "
        "FROM generate_series(1, %s) AS n", [OTHER_USERS])
    scores = ", ".join(f"floor(random() * {high + 1})::smallint" for high in SCORE_COLUMNS.values())
    connection.execute(
        f"INSERT INTO other_rows (id, user_id, recorded_at, {', '.join(SCORE_COLUMNS)}, sleep_hours, "
        "side_effects, withdrawal_symptoms, note, created_at, updated_at) "
        f"SELECT gen_random_uuid(), u.id, at, {scores}, round((4 + random() * 5)::numeric, 1), "
        "'[]', '[]', NULL, at, at "
        "FROM generate_series(1, %(per_user)s) AS n "
        "CROSS JOIN (SELECT id FROM users WHERE firebase_uid LIKE 'bench-other-%%') AS u "
        "CROSS JOIN LATERAL (SELECT now() - n * interval '1 year' / %(per_user)s "
        "                           - random() * interval '1 hour' AS at) AS t",
        {"per_user": ROWS_PER_OTHER_USER})
    return "other_rows"


class PageQueries:
    """The app's check-in page queries: the recent statements (for EXPLAIN) and their total time."""

    def __init__(self, engine):
        import sqlalchemy as sa

        self.statements = collections.deque(maxlen=200)
        self.seconds = 0.0
        sa.event.listen(engine, "before_cursor_execute", self.before)
        sa.event.listen(engine, "after_cursor_execute", self.after)

    @staticmethod
    def is_page_query(statement):
        return "FROM checkins" in statement and "LIMIT" in statement

    def before(self, conn, cursor, statement, parameters, context, executemany):
        if self.is_page_query(statement):
            self.statements.append((statement, parameters))
            conn.info["bench_query_began"] = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, executemany):
        if self.is_page_query(statement):
            self.seconds += time.perf_counter() - conn.info.pop("bench_query_began")
