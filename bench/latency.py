"""Latency benchmarks: latency at a fixed arrival rate, and two API processes side by side.

1. Latency at a fixed arrival rate (open loop). Requests are sent at Poisson arrival times drawn
   in advance, whether or not earlier ones have been answered, and each latency runs from the
   request's *scheduled* instant to the end of its answer. A request that waits for a free
   connection in the client or for a worker in the server therefore counts that wait, which a
   closed loop (a new request only after an answer) hides (coordinated omission). A request that
   could not even be sent 5 s after its instant is given up and counted as an error with an
   endless latency.
   - The real app is served as the Dockerfile serves it (bench.support.gunicorn: the committed
     gunicorn settings, production configuration, limits in Redis) and signed in with RS256 ID
     tokens, for PEOPLE people who each already hold a month of check-ins and doses.
   - Its requests are a phone's mix: check-in and dose creates with client ids, the first page of
     check-ins (`GET /v1/checkins?limit=20`), and sync pulls from the person's last pull (what they
     wrote since).
   - The baseline is the bare Flask/Core insert of bench/bare_app.py (`POST /checkins`), served the
     same way and sent the same kind of check-in body at the same offered rates: the latency of
     the server, the database and this client with none of the app.
   - The rate steps up (RATES, STEP_SECONDS each, the two sides alternating at each rate so that
     load from elsewhere on the machine hits both alike), at least to 100 requests/s, until p99
     passes 100 ms, or a request fails, at two steps in a row (one alone can be a burst of work
     elsewhere). Per step: offered and achieved rate, p50 / p95 / p99, errors, how late the client
     sent (its own lag, p99: above 10 ms, it waited for a CPU itself), and the CPU the client, the
     gunicorn processes and their PostgreSQL backends used, in percent of one core. The rate where
     p99 crosses 100 ms is interpolated between the last step under and the one after it.
   - Aim: p99 < 100 ms at 100 requests/s (2 cores, PostgreSQL).
   The client is stdlib: a thread per keep-alive connection (http.client) and one thread that
   hands out requests at their instants. Its CPU is printed so that a reader can see it did not
   starve the server; on a 2-core machine the client, the servers and PostgreSQL share the cores.
2. Two API processes side by side. Closed-loop check-in creates (every request sent as soon as
   its connection's previous answer came, as many connections as the servers have workers,
   requests from all the signed-in people) against one gunicorn master, and against two masters
   on two ports with the connections split between them: once with the same total workers (each
   master half), and once with each master as many as the one (twice the processes on the same
   cores). Rounds alternate the three. The ratios mean this: on 2 cores the CPU is the limit, so
   two masters cannot do much more than one (≈ 1×); what they show is that two API processes
   sharing only PostgreSQL and Redis lose nothing to each other. Every acknowledged create is
   then checked to be stored once under the account that sent it (no cross-talk between the
   processes' caches of verified tokens and accounts), and any failed request fails the run.

    python -m bench latency
"""

import collections
import contextlib
import datetime as dt
import http.client
import itertools
import json
import math
import queue
import random
import resource
import threading
import time
import uuid

import psycopg

from bench.foundation import SCORE_COLUMNS, http_get
from bench.support import (app_config, bearer_headers, check_signatures_refused, cpu_seconds, fresh_database, gunicorn,
                           machine_load, print_table, production_env, results_of, scale_note, scaled,
                           server_concurrency, with_children, write_results)

PEOPLE = scaled(200, 20)
HISTORY_DAYS = 30
HISTORY_CHECKINS, HISTORY_DOSES = 3 * HISTORY_DAYS, 2 * HISTORY_DAYS   # per person
LIST_LIMIT = 20

# 1. Open loop.
AIM_P99_MS = 100
AIM_RATE = 100
RATES = (25, 50, 100, 150, 200, 300, 400, 500, 650, 800, 1000, 1300, 1600, 2000)
STEP_SECONDS = scaled(10, 1)
WARMUP_RATE, WARMUP_SECONDS = 100, scaled(5, 1)
CLIENT_LAG_NOTE_MS = 10
GIVE_UP_S = 5.0                 # a request not sent this long after its instant is not sent at all
TIMEOUT_S = 30.0
MIX = (("POST /v1/checkins", 0.35), ("POST /v1/doses", 0.30), ("GET /v1/checkins", 0.20), ("GET /v1/sync", 0.15))
BARE_KIND = "POST /checkins"

# 2. Side by side.
SIDE_BY_SIDE_REQUESTS = scaled(4000, 120)
SIDE_BY_SIDE_ROUNDS = scaled(6, 2)
SIDE_BY_SIDE_WARMUP = scaled(300, 30)


def main():
    started, load_before = time.perf_counter(), machine_load()
    with fresh_database("latency") as url:
        people, bare_person = load_people(url)
        open_loop = bench_open_loop(url, people, bare_person)
        side_by_side = bench_side_by_side(url, people)
    results = results_of("latency", started, load_before, {
        "open_loop": open_loop,
        "side_by_side": side_by_side,
    })
    path = write_results("latency", finite(results))

    app, bare = open_loop["app"], open_loop["bare"]
    ratios = side_by_side["ratios"]
    print("\nlatency")
    print_table([
        [f"p99 at {AIM_RATE} req/s, ms (app/bare)", f"bare {ms(bare['p99_ms_at_aim_rate'])}",
         f"app {ms(app['p99_ms_at_aim_rate'])}", ratio(app["p99_ms_at_aim_rate"], bare["p99_ms_at_aim_rate"]),
         f"< {AIM_P99_MS}"],
        [f"rate where p99 crosses {AIM_P99_MS} ms, req/s (app/bare)", f"bare {crossing_text(bare['crossing'])}",
         f"app {crossing_text(app['crossing'])}",
         ratio(app["crossing"]["interpolated"], bare["crossing"]["interpolated"]), ""],
        ["create check-in, req/s: two masters, half the workers each / one",
         f"one {side_by_side['one']['requests_per_s']:.0f}", f"two {side_by_side['two_halves']['requests_per_s']:.0f}",
         f"{ratios['two_halves_over_one']:.2f}", "≈ 1"],
        ["  two masters, as many workers each / one", f"one {side_by_side['one']['requests_per_s']:.0f}",
         f"two {side_by_side['two_full']['requests_per_s']:.0f}", f"{ratios['two_full_over_one']:.2f}", "≈ 1"],
    ], ["benchmark", "baseline", "measured", "ratio", "aim"])
    print(f"  machine load per core {load_before} → {results['machine_load_per_core']['end']}")
    if scale_note():
        print(scale_note())
    print(f"  {path.relative_to(path.parents[2])}, {results['duration_s']:.0f} s")
    return results


# -- people --------------------------------------------------------------------------------------

class Person:
    """Someone signed in on a phone: their uid, request headers (one token for the run, which is
    shorter than a token's hour) and the change number of their last pull."""

    def __init__(self, uid):
        self.uid = uid
        self.user_id = None
        self.headers = None
        self.last_pulled_at = None

    def sign(self):
        self.headers = {"Content-Type": "application/json", **bearer_headers(self.uid)}


def load_people(url):
    """PEOPLE people with a month of check-ins and doses each (loaded in time order across everyone,
    as bench.sync loads them, under one change number), and the bare side's owner."""
    import sqlalchemy as sa

    from backend import close_app, create_app
    from backend.accounts.services import user_for_firebase_uid
    from backend.checkins.models import CheckIn
    from backend.doses.models import Dose
    from backend.extensions import db
    from backend.records import ChangeCounter
    from bench.sync import checkin_values, dose_values, stored_row

    loaded_change = 2
    rng = random.Random(13)
    now = dt.datetime.now(dt.timezone.utc)
    people = [Person(f"bench-latency-{n}") for n in range(PEOPLE)]
    bare_person = Person("bench-latency-bare")
    app = create_app(app_config(url))
    with app.app_context():
        for person in people + [bare_person]:
            person.user_id = user_for_firebase_uid(person.uid)[0].id
            person.sign()
        db.session.execute(sa.insert(ChangeCounter), [{"user_id": person.user_id, "seq": loaded_change}
                                                      for person in people])
        db.session.commit()
        checkins, doses = [], []
        first = now - dt.timedelta(days=HISTORY_DAYS)
        for person in people:
            for rows, count, values in ((checkins, HISTORY_CHECKINS, checkin_values),
                                        (doses, HISTORY_DOSES, dose_values)):
                rows += [stored_row(person.user_id, loaded_change, now,
                                    values(rng, first + dt.timedelta(days=HISTORY_DAYS) * (n + rng.random()) / count))
                         for n in range(count)]
        with db.engine.begin() as connection:
            for model, rows, instant in ((CheckIn, checkins, "recorded_at"), (Dose, doses, "taken_at")):
                rows.sort(key=lambda row: row[instant])
                for start in range(0, len(rows), 5000):
                    connection.execute(sa.insert(model.__table__), rows[start:start + 5000])
    close_app(app)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
    return people, bare_person


# -- requests --------------------------------------------------------------------------------------

class Request:
    """One request as sent: its kind (method and route, for the tables), what it carries, who sends
    it, and the client id of the record a create makes."""

    __slots__ = ("kind", "method", "path", "body", "person", "record_id")

    def __init__(self, kind, method, path, person, body=None, record_id=None):
        self.kind, self.method, self.path, self.person = kind, method, path, person
        self.body, self.record_id = body, record_id

    def target(self):
        """The path as sent now: a pull asks from the person's last pull, whatever answered since."""
        if self.kind == "GET /v1/sync":
            return f"{self.path}?last_pulled_at={self.person.last_pulled_at}&schema_version={sync_schema_version()}"
        return self.path

    def answered(self, status, body):
        if self.kind == "GET /v1/sync" and status == 200:
            self.person.last_pulled_at = json.loads(body)["timestamp"]


def sync_schema_version():
    from backend.sync.schema import SCHEMA_VERSION

    return SCHEMA_VERSION


def checkin_body(rng, now):
    """A check-in as the app sends it when someone logs one now (the fields of foundation's)."""
    record_id = str(uuid.uuid4())
    body = {"id": record_id, "recorded_at": (now - dt.timedelta(seconds=rng.randrange(600))).isoformat()}
    body.update({name: rng.randint(0, high) for name, high in SCORE_COLUMNS.items()})
    body.update({"sleep_hours": round(rng.uniform(4, 9), 1),
                 "side_effects": rng.sample(["constipation", "dry_mouth", "drowsiness"], rng.randint(0, 2)),
                 "withdrawal_symptoms": [], "note": "Slept badly, better after lunch."})
    return record_id, json.dumps(body).encode()


def dose_body(rng, now):
    record_id = str(uuid.uuid4())
    taken_at = (now - dt.timedelta(seconds=rng.randrange(600))).isoformat()
    if rng.random() < 0.7:
        body = {"taken_at": taken_at, "substance_kind": "kratom", "form": "leaf_powder", "product": "Green Malay",
                "amount": rng.choice((1.5, 2.0, 2.5, 3.0)), "unit": "g"}
    else:
        body = {"taken_at": taken_at, "substance_kind": "nsaid", "form": "tablet", "product": "Ibuprofen",
                "amount": 1, "unit": "tablet"}
    return record_id, json.dumps({"id": record_id, **body}).encode()


def phone_request(rng, people, now):
    """One request of the phone mix, from someone picked at random."""
    person = rng.choice(people)
    kind = rng.choices([kind for kind, _ in MIX], [share for _, share in MIX])[0]
    if kind == "POST /v1/checkins":
        return Request(kind, "POST", "/v1/checkins", person, *reversed(checkin_body(rng, now)))
    if kind == "POST /v1/doses":
        return Request(kind, "POST", "/v1/doses", person, *reversed(dose_body(rng, now)))
    if kind == "GET /v1/checkins":
        return Request(kind, "GET", f"/v1/checkins?limit={LIST_LIMIT}", person)
    return Request(kind, "GET", "/v1/sync", person)


def bare_request(rng, person, now):
    return Request(BARE_KIND, "POST", "/checkins", person, *reversed(checkin_body(rng, now)))


def checkin_request(rng, people, now):
    return Request("POST /v1/checkins", "POST", "/v1/checkins", rng.choice(people), *reversed(checkin_body(rng, now)))


class Connection:
    """A keep-alive connection that reconnects once when the server has closed it while idle
    (gunicorn closes keep-alive connections idle for 2 s); a create is safe to resend, as its
    client id makes it idempotent.

    It connects with its first request, never ahead: gunicorn's gthread worker hands a connection
    it accepts straight to a thread, which waits up to 5 s for the request to arrive, and with one
    thread per worker (the committed setting) a connection opened early and left idle holds up
    that worker's other connections meanwhile."""

    def __init__(self, port):
        self.port = port
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        self.reconnects = 0

    def send(self, request):
        for attempt in (1, 2):
            try:
                self.http.request(request.method, request.target(), request.body, request.person.headers)
                response = self.http.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.http.close()
                if attempt == 2:
                    raise
                self.reconnects += 1

    def answer(self, request):
        """Send `request` and hand it its answer; returns the status, or None (and closes) when the
        connection failed."""
        try:
            status, body = self.send(request)
        except OSError:
            self.close()
            return None
        request.answered(status, body)
        return status

    def close(self):
        self.http.close()


# -- 1. open loop ------------------------------------------------------------------------------------

Outcome = collections.namedtuple("Outcome", "kind latency lag status record_id")


def bench_open_loop(url, people, bare_person):
    rng = random.Random(1)
    users = [person.user_id for person in people]

    def env(side, **extra):  # the application name tells the two servers' PostgreSQL backends apart
        return production_env(f"{url}?application_name=bench-latency-{side}", **extra)

    with gunicorn("backend:create_app()", env("app"), ready_path="/healthz") as app_server, \
            gunicorn("bench.bare_app:create_app()", env("bare", BENCH_USER_ID=str(bare_person.user_id))) as bare_server, \
            psycopg.connect(url, autocommit=True) as monitor:
        check_signatures_refused(lambda path, headers: http_get(app_server.port, path, headers))
        # Everyone's first pull, which also gives them the change number their next one starts at.
        first_pulls = [Request("GET /v1/sync", "GET", "/v1/sync", person) for person in people]
        for person in people:
            person.last_pulled_at = "null"
        closed_loop([app_server.port], first_pulls, server_concurrency())
        if any(person.last_pulled_at == "null" for person in people):
            raise RuntimeError("a first pull failed")

        sides = {"bare": OpenLoopSide("bare", bare_server, monitor, lambda now: bare_request(rng, bare_person, now)),
                 "app": OpenLoopSide("app", app_server, monitor, lambda now: phone_request(rng, people, now))}
        for side in sides.values():
            side.run(WARMUP_RATE, WARMUP_SECONDS, rng, measure=False)
        for n, rate in enumerate(RATES):
            for side in (list(sides.values()) if n % 2 == 0 else list(sides.values())[::-1]):
                if not side.over:
                    side.run(rate, STEP_SECONDS, rng)
            if all(side.over for side in sides.values()):
                break
        stored = {table: monitor.execute(f"SELECT count(*) FROM {table} WHERE id = ANY(%s)",
                                         [[uuid.UUID(i) for i in side_ids]]).fetchone()[0]
                  for table, side_ids in (("checkins", sides["app"].acknowledged["POST /v1/checkins"]
                                           + sides["bare"].acknowledged[BARE_KIND]),
                                          ("doses", sides["app"].acknowledged["POST /v1/doses"]))}
        app_rows = monitor.execute("SELECT count(*) FROM checkins WHERE user_id = ANY(%s)", [users]).fetchone()[0]
    acknowledged = {"checkins": len(sides["app"].acknowledged["POST /v1/checkins"])
                    + len(sides["bare"].acknowledged[BARE_KIND]),
                    "doses": len(sides["app"].acknowledged["POST /v1/doses"])}
    if stored != acknowledged:
        raise RuntimeError(f"acknowledged creates {acknowledged}, of which stored {stored}")

    result = {name: side.summary() for name, side in sides.items()}
    result.update({
        "people": PEOPLE, "history_per_person": {"checkins": HISTORY_CHECKINS, "doses": HISTORY_DOSES},
        "checkins_of_the_people_at_the_end": app_rows,
        "mix": dict(MIX), "bare_request": "POST /checkins (a Core insert of the same check-in body)",
        "arrivals": "Poisson; latency from each request's scheduled instant to the end of its answer",
        "step_seconds": STEP_SECONDS, "give_up_s": GIVE_UP_S,
        "server": "gunicorn -c python:backend.gunicorn_conf (the Dockerfile's), CARELOOP_ENV=production",
        "auth": "RS256 ID tokens checked by firebase-admin against loopback certificates (max-age cached)",
        "acknowledged_creates_stored": stored,
    })

    rows = []
    for rate in RATES:
        for name in ("bare", "app"):
            step = next((s for s in result[name]["steps"] if s["offered_per_s"] == rate), None)
            if step:
                rows.append([f"{name} {rate}", f"{step['achieved_per_s']:.0f}", ms(step["p50_ms"]), ms(step["p95_ms"]),
                             ms(step["p99_ms"]), step["errors"], ms(step["client_lag_p99_ms"]),
                             f"{step['cpu_percent']['client']:.0f}", f"{step['cpu_percent']['gunicorn']:.0f}",
                             f"{step['cpu_percent']['postgres']:.0f}"])
    print_table(rows, ["side, offered req/s", "achieved", "p50 ms", "p95 ms", "p99 ms", "errors", "client lag p99",
                       "CPU %: client", "gunicorn", "postgres"])
    at_aim = next((s for s in result["app"]["steps"] if s["offered_per_s"] == AIM_RATE), None)
    if at_aim:
        print(f"\n  the app at {AIM_RATE} req/s, by request:")
        print_table([[kind, r["count"], ms(r["p50_ms"]), ms(r["p95_ms"]), ms(r["p99_ms"])]
                     for kind, r in at_aim["by_kind"].items()], ["request", "count", "p50 ms", "p95 ms", "p99 ms"])
    late = [f"{name} {step['offered_per_s']}" for name in ("bare", "app") for step in result[name]["steps"]
            if step["client_lag_p99_ms"] > CLIENT_LAG_NOTE_MS]
    if late:
        print(f"  the client sent 1 % of requests more than {CLIENT_LAG_NOTE_MS} ms late at {', '.join(late)}: "
              "where the server was not saturated, it waited for a CPU itself, and those steps measure the "
              "machine's load as much as the server")
    print(f"  p99 crosses {AIM_P99_MS} ms: app {crossing_text(result['app']['crossing'])} req/s, "
          f"bare {crossing_text(result['bare']['crossing'])} req/s\n")
    return result


class OpenLoopSide:
    """One server under the open loop: its steps, and whether it is done (two steps in a row
    over the aim)."""

    def __init__(self, name, server, monitor, make_request):
        self.name, self.server, self.monitor, self.make_request = name, server, monitor, make_request
        self.steps = []
        self.over = False
        self.acknowledged = collections.defaultdict(list)   # kind → client ids answered 200/201

    def run(self, rate, seconds, rng, *, measure=True):
        now = dt.datetime.now(dt.timezone.utc)
        schedule, at = [], rng.expovariate(rate)
        while at < seconds:
            schedule.append((at, self.make_request(now)))
            at += rng.expovariate(rate)
        before = self.cpu_snapshot()
        outcomes, elapsed, reconnects = open_loop(self.server.port, schedule, connections_for(rate))
        after = self.cpu_snapshot()
        for outcome in outcomes:
            if outcome.record_id and outcome.status in (200, 201):
                self.acknowledged[outcome.kind].append(outcome.record_id)
        if not measure:
            return
        step = summarize(outcomes, rate, max(seconds, elapsed))
        step["seconds"] = round(elapsed, 2)
        step["connections"] = connections_for(rate)
        step["reconnects"] = reconnects
        step["cpu_percent"] = {kind: round(100 * (after[kind] - before[kind]) / elapsed, 1) for kind in after}
        self.steps.append(step)
        self.over = (rate >= AIM_RATE and len(self.steps) >= 2 and all(missed(step) for step in self.steps[-2:]))
        print(f"  {self.name} at {rate} req/s: p99 {ms(step['p99_ms'])} ms, {step['errors']} errors", flush=True)

    def cpu_snapshot(self):
        backends = [pid for pid, in self.monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [f"bench-latency-{self.name}"])]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"client": usage.ru_utime + usage.ru_stime,
                "gunicorn": sum(cpu_seconds(with_children(self.server.pid)).values()),
                "postgres": sum(cpu_seconds(backends).values())}

    def summary(self):
        return {"steps": self.steps, "crossing": crossing(self.steps),
                "p99_ms_at_aim_rate": next((s["p99_ms"] for s in self.steps if s["offered_per_s"] == AIM_RATE), None)}


def connections_for(rate):
    """Enough keep-alive connections that a request rarely waits for one below saturation (about
    0.2 s worth of arrivals), and few enough that each is used more often than gunicorn's 2-s
    keep-alive closes it."""
    return min(200, max(16, rate // 5))


def open_loop(port, schedule, connections):
    """Send each (offset s, Request) of `schedule` at its instant after the start, over
    `connections` keep-alive connections; returns (outcomes, seconds from the start to the last
    answer, reconnects)."""
    pending = queue.SimpleQueue()
    outcomes = []
    opened = [Connection(port) for _ in range(connections)]

    def sender(connection):
        while (item := pending.get()) is not None:
            due, request = item
            began = time.perf_counter()
            if began - due > GIVE_UP_S:
                outcomes.append(Outcome(request.kind, math.inf, began - due, None, None))
                continue
            status = connection.answer(request)
            outcomes.append(Outcome(request.kind, time.perf_counter() - due, began - due, status, request.record_id))

    threads = [threading.Thread(target=sender, args=(connection,), daemon=True) for connection in opened]
    for thread in threads:
        thread.start()
    start = time.perf_counter() + 0.05
    for offset, request in schedule:
        due = start + offset
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        pending.put((due, request))
    for _ in threads:
        pending.put(None)
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    for connection in opened:
        connection.close()
    return outcomes, elapsed, sum(connection.reconnects for connection in opened)


def summarize(outcomes, rate, seconds):
    ok = [o for o in outcomes if o.status is not None and o.status < 400]
    failed = [o for o in outcomes if o.status is None or o.status >= 400]
    latencies = sorted(o.latency for o in outcomes)
    by_kind = {}
    for kind in sorted({o.kind for o in outcomes}):
        kind_latencies = sorted(o.latency for o in outcomes if o.kind == kind)
        by_kind[kind] = {"count": len(kind_latencies), **percentiles(kind_latencies)}
    return {"offered_per_s": rate, "sent": len(outcomes), "achieved_per_s": round(len(ok) / seconds, 1),
            **percentiles(latencies), "errors": len(failed),
            "errors_by_status": dict(collections.Counter(str(o.status or "no answer") for o in failed)),
            "client_lag_p99_ms": round(percentile(sorted(o.lag for o in outcomes), 0.99) * 1000, 2),
            "by_kind": by_kind}


def percentile(ordered, q):
    """Nearest rank: the smallest value at or above a fraction q of them (an endless one stays endless)."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def percentiles(ordered):
    return {f"p{round(q * 100)}_ms": round(percentile(ordered, q) * 1000, 2) for q in (0.5, 0.95, 0.99)}


def missed(step):
    return step["p99_ms"] > AIM_P99_MS or step["errors"] > 0


def crossing(steps):
    """The rate where p99 passes the aim for good: linear between the last step under it and the
    step after (an endless p99 counted as the give-up time). A single step over followed by one
    under, as a burst of work elsewhere on the machine makes, is not the crossing."""
    under = [n for n, step in enumerate(steps) if not missed(step)]
    if not under:
        return {"below": None, "above": steps[0]["offered_per_s"] if steps else None, "interpolated": None}
    if under[-1] == len(steps) - 1:
        return {"below": steps[-1]["offered_per_s"], "above": None, "interpolated": None}
    low, high = steps[under[-1]], steps[under[-1] + 1]
    p_low, p_high = low["p99_ms"], min(high["p99_ms"], GIVE_UP_S * 1000)
    share = (AIM_P99_MS - p_low) / (p_high - p_low) if p_high > p_low else 0
    rate = low["offered_per_s"] + share * (high["offered_per_s"] - low["offered_per_s"])
    return {"below": low["offered_per_s"], "above": high["offered_per_s"], "interpolated": round(rate)}


def crossing_text(found):
    if found["above"] is None:
        return f"> {found['below']}"
    if found["below"] is None:
        return f"< {found['above']}"
    return f"{found['interpolated']} ({found['below']}–{found['above']})"


# -- 2. side by side -----------------------------------------------------------------------------------

def bench_side_by_side(url, people):
    from backend import gunicorn_conf

    workers, threads = gunicorn_conf.workers, gunicorn_conf.threads
    half = max(1, workers // 2)
    rng = random.Random(2)
    configurations = {  # name: workers of each master
        "one": [workers],
        "two_halves": [half, half],
        "two_full": [workers, workers],
    }
    with contextlib.ExitStack() as stack:
        monitor = stack.enter_context(psycopg.connect(url, autocommit=True))
        runs = {}
        for name, masters in configurations.items():
            env = production_env(f"{url}?application_name=bench-latency-{name}")
            servers = [stack.enter_context(gunicorn("backend:create_app()", {**env, "GUNICORN_WORKERS": str(count)},
                                                    ready_path="/healthz"))
                       for count in masters]
            runs[name] = ClosedLoopRun(name, servers, masters, threads, monitor)
        now = dt.datetime.now(dt.timezone.utc)
        for run in runs.values():
            run.drive([checkin_request(rng, people, now) for _ in range(SIDE_BY_SIDE_WARMUP)], measure=False)
        names = list(runs)
        for n in range(SIDE_BY_SIDE_ROUNDS):
            for name in names[n % len(names):] + names[:n % len(names)]:
                now = dt.datetime.now(dt.timezone.utc)
                runs[name].drive([checkin_request(rng, people, now)
                                  for _ in range(SIDE_BY_SIDE_REQUESTS // SIDE_BY_SIDE_ROUNDS)])
        sent_by = {record_id: person.user_id for run in runs.values() for record_id, person in run.acknowledged}
        stored = dict(monitor.execute("SELECT id::text, user_id FROM checkins WHERE id = ANY(%s)",
                                      [[uuid.UUID(i) for i in sent_by]]).fetchall())
    wrong_owner = sum(1 for record_id, user_id in sent_by.items() if stored.get(record_id) != user_id)
    if len(stored) != len(sent_by) or wrong_owner:
        raise RuntimeError(f"{len(sent_by)} creates acknowledged, {len(stored)} stored, {wrong_owner} under "
                           "another account or missing")

    result = {name: run.summary() for name, run in runs.items()}
    result["ratios"] = {
        "two_halves_over_one": round(result["two_halves"]["requests_per_s"] / result["one"]["requests_per_s"], 3),
        "two_full_over_one": round(result["two_full"]["requests_per_s"] / result["one"]["requests_per_s"], 3),
    }
    result.update({"rounds": SIDE_BY_SIDE_ROUNDS, "people": PEOPLE,
                   "acknowledged_creates": len(sent_by), "stored_under_their_sender": len(sent_by) - wrong_owner})
    print_table([[name, " + ".join(str(count) for count in run.masters), run.connections, result[name]["requests"],
                  f"{result[name]['requests_per_s']:.0f}", ms(result[name]["p50_ms"]), ms(result[name]["p95_ms"]),
                  f"{result[name]['cpu_ms_per_request']:.2f}"] for name, run in runs.items()],
                ["create check-in, closed loop", "workers", "connections", "requests", "req/s", "p50 ms", "p95 ms",
                 "CPU ms/req (gunicorn + postgres)"])
    print(f"  two masters / one: {result['ratios']['two_halves_over_one']:.2f} with half the workers each, "
          f"{result['ratios']['two_full_over_one']:.2f} with as many each; no request failed, and each of the "
          f"{len(sent_by):,} creates acknowledged is stored once under its sender\n")
    return result


class ClosedLoopRun:
    """Masters serving one configuration, with the time, latencies and CPU of its measured rounds."""

    def __init__(self, name, servers, masters, threads, monitor):
        self.name, self.servers, self.masters, self.monitor = name, servers, masters, monitor
        self.connections = sum(masters) * threads
        self.requests, self.seconds, self.latencies = 0, 0.0, []
        self.cpu = 0.0
        self.acknowledged = []      # (client id, person)

    def drive(self, requests, *, measure=True):
        before = self.cpu_snapshot()
        seconds, outcomes = closed_loop([server.port for server in self.servers], requests, self.connections)
        after = self.cpu_snapshot()
        self.acknowledged += [(request.record_id, request.person) for request, status, _ in outcomes
                              if status in (200, 201)]
        failed = [status for _, status, _ in outcomes if status not in (200, 201)]
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(requests)} creates failed on {self.name}: {failed[:5]}")
        if measure:
            self.cpu += after - before
            self.requests += len(requests)
            self.seconds += seconds
            self.latencies += [latency for _, _, latency in outcomes]

    def cpu_snapshot(self):
        backends = [pid for pid, in self.monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [f"bench-latency-{self.name}"])]
        pids = [pid for server in self.servers for pid in with_children(server.pid)] + backends
        return sum(cpu_seconds(pids).values())

    def summary(self):
        ordered = sorted(self.latencies)
        return {"masters": len(self.masters), "workers_per_master": self.masters[0], "connections": self.connections,
                "requests": self.requests, "seconds": round(self.seconds, 3),
                "requests_per_s": round(self.requests / self.seconds, 1),
                "p50_ms": round(percentile(ordered, 0.5) * 1000, 2), "p95_ms": round(percentile(ordered, 0.95) * 1000, 2),
                "cpu_ms_per_request": round(self.cpu * 1000 / self.requests, 3)}


def closed_loop(ports, requests, connections):
    """Send every request over `connections` keep-alive connections spread over `ports`, each sent as
    soon as its connection is free; returns (seconds, [(request, status, latency)])."""
    pending = collections.deque(requests)
    outcomes = []
    opened = [Connection(port) for port in itertools.islice(itertools.cycle(ports), connections)]
    start = threading.Barrier(connections + 1)

    def client(connection):
        start.wait()
        while True:
            try:
                request = pending.popleft()
            except IndexError:
                break
            began = time.perf_counter()
            status = connection.answer(request)
            outcomes.append((request, status, time.perf_counter() - began))
        connection.close()

    threads = [threading.Thread(target=client, args=(connection,), daemon=True) for connection in opened]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, outcomes


# -- figures ---------------------------------------------------------------------------------------

def finite(value):
    """`value` with every endless latency (more than 1 % of a step given up) as null, which JSON has."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return None if isinstance(value, float) and math.isinf(value) else value


def ms(value):
    if value is None:
        return "–"
    if math.isinf(value):
        return f"> {GIVE_UP_S * 1000:.0f}"
    return f"{value:.1f}"


def ratio(measured, baseline):
    if measured is None or baseline is None or not baseline or math.isinf(measured) or math.isinf(baseline):
        return "–"
    return f"{measured / baseline:.2f}"
