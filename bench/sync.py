"""Sync benchmarks: WatermelonDB pushes and pulls through the app, against the database alone.

One fresh PostgreSQL database holds a heavy user's year (3,000 check-ins, 2,500 doses), nine other
people with a year like it, a user with 10 years (30,000 check-ins, 25,000 doses) and one with 10
days, all at the same density; every table is loaded in time order across everyone, so no one's
rows sit together on disk. Each person's rows carry one change number, as if written by one push.
Requests go through the app's test client, signed in with RS256 ID tokens that firebase-admin
checks against certificates served on loopback (bench/signed_tokens.py), as production does.

1. Push. 5,000 new records (2,500 check-ins, 2,500 doses) as a phone sends them, `POST
   /v1/sync?last_pulled_at=N` (JSON parsing, every record checked against its REST schema, the
   look-up of stored ids, the inserts and their outbox events, the commit), against inserting the
   same rows with SQLAlchemy Core executemany and a commit. Alternating, medians. Aim: ≤ 3×.
   Beside it, the time the push's own statements took (driver and database).
2. First pull of the heavy year. `GET /v1/sync?last_pulled_at=null`, the streamed body read to
   the end, against a Core select of the same person's check-ins and doses, fetched whole.
   Alternating, medians. Aim: ≤ 3×.
3. A pull with nothing new. Ten years against ten days, each from their current timestamp: the
   pull reads (user_id, sync_seq) indexes, so history should not matter. Aim: ≤ 1.5×.
4. Memory of a first pull. Peak Python memory (tracemalloc) while the streamed first pull of ten
   years is read, against that of the year: the server writes a batch at a time. Aim: ≤ 1.5×.

    python -m bench sync
"""

import datetime as dt
import gc
import json
import random
import statistics
import time
import tracemalloc
import uuid

import psycopg

from bench.support import (StatementClock, app_config, bearer_headers, check_signatures_refused, fresh_database,
                           machine_load, print_table, results_of, scale_note, scaled, write_results)

PUSH_CHECKINS = PUSH_DOSES = scaled(2500, 50)
PUSH_ROUNDS = scaled(7, 2)       # timed pushes and Core inserts each, after one warm-up of each
YEAR = {"days": 365, "checkins": scaled(3000, 100), "doses": scaled(2500, 80)}
DECADE = {"days": 3650, "checkins": scaled(30_000, 1000), "doses": scaled(25_000, 800)}
RECENT = {"days": 10, "checkins": scaled(82, 3), "doses": scaled(68, 2)}  # the decade's density
OTHER_USERS = scaled(9, 2)       # a year each, like the heavy user's
PULL_ROUNDS = scaled(15, 3)
EMPTY_PULL_ROUNDS = scaled(200, 10)
MEMORY_ROUNDS = scaled(3, 1)
LOADED_CHANGE = 2                # every loaded row's change number, and each loaded person's counter
INSERT_CHUNK = 5000
MIB = 1024 * 1024

SIDE_EFFECTS = ("constipation", "dry_mouth", "drowsiness", "nausea", "dark_urine")
WITHDRAWAL = ("yawning", "craving", "irritability", "sweating")
SUBSTANCES = (("kratom", "leaf_powder", "g", (1.5, 4.0)), ("kratom", "capsule", "g", (1.0, 2.0)),
              ("adhd_stimulant", "tablet", "mg", (5, 20)), ("alcohol", "drink", "drink", (1, 3)))
SUBSTANCE_WEIGHTS = (60, 10, 20, 10)


def main():
    started, load_before = time.perf_counter(), machine_load()
    with fresh_database("sync") as url:
        bench = SyncBench(url)
        load_seconds = bench.load()
        pulled = bench.check_first_pulls()
        first_pull = bench.measure_first_pull()
        empty_pull = bench.measure_empty_pull()
        memory = bench.measure_memory()
        push = bench.measure_push()
        bench.close()
    results = results_of("sync", started, load_before, {
        "data": {"year": YEAR, "decade": DECADE, "recent": RECENT, "other_users": OTHER_USERS,
                 "rows": bench.loaded_rows, "load_s": round(load_seconds, 1), "first_pulls": pulled},
        "push": push,
        "first_pull": first_pull,
        "empty_pull": empty_pull,
        "memory": memory,
    })
    path = write_results("sync", results)

    print("\nsync")
    print_table([
        [f"push {push['records']:,} records, ms (app/Core insert)", f"Core {push['core_median_ms']:.0f}",
         f"app {push['app_median_ms']:.0f}", f"{push['ratio_app_over_core']:.2f}", "≤ 3"],
        ["  of the push: its SQL statements, ms (app's/Core insert)", "", f"SQL {push['app_sql_median_ms']:.0f}",
         f"{push['ratio_app_sql_over_core']:.2f}", ""],
        [f"first pull of a year, {first_pull['records']:,} records, ms (app/Core select)",
         f"Core {first_pull['core_median_ms']:.1f}", f"app {first_pull['app_median_ms']:.1f}",
         f"{first_pull['ratio_app_over_core']:.2f}", "≤ 3"],
        ["pull with nothing new, ms (10 years/10 days)", f"10 days {empty_pull['recent_median_ms']:.2f}",
         f"10 years {empty_pull['decade_median_ms']:.2f}", f"{empty_pull['ratio_decade_over_recent']:.2f}", "≤ 1.5"],
        ["first pull, peak Python memory, MiB (10 years/1 year)", f"1 year {memory['year_peak_mib']:.2f}",
         f"10 years {memory['decade_peak_mib']:.2f}", f"{memory['ratio_decade_over_year']:.2f}", "≤ 1.5"],
        ["  response size, MiB", f"1 year {memory['year_bytes'] / MIB:.1f}",
         f"10 years {memory['decade_bytes'] / MIB:.1f}", f"{memory['decade_bytes'] / memory['year_bytes']:.2f}", ""],
    ], ["benchmark", "baseline", "measured", "ratio", "aim"])
    print(f"  a push: {push['body_bytes'] / MIB:.1f} MiB, {push['app_statements']:.0f} statements; "
          f"{bench.loaded_rows:,} rows loaded in {load_seconds:.0f} s; "
          f"machine load per core {load_before} → {results['machine_load_per_core']['end']}")
    print(f"  {path.relative_to(path.parents[2])}, {results['duration_s']:.0f} s")
    if scale_note():
        print(scale_note())
    return results


class Person:
    """Someone the benchmark signs in as: a uid, request headers, their user id once created."""

    def __init__(self, uid, shape=None):
        self.uid, self.shape = uid, shape
        self.user_id = None
        self.timestamp = None  # of their first pull

    @property
    def headers(self):
        return bearer_headers(self.uid)  # a fresh token before the last one runs out, as phones do


class SyncBench:
    def __init__(self, url):
        from backend import create_app
        from backend.extensions import db

        self.url = url
        self.app = create_app(app_config(url))
        with self.app.app_context():
            self.engine = db.engine
        self.client = self.app.test_client()
        self.rng = random.Random(7)
        self.now = dt.datetime.now(dt.timezone.utc)
        self.year = Person("bench-sync-year", YEAR)
        self.decade = Person("bench-sync-decade", DECADE)
        self.recent = Person("bench-sync-recent", RECENT)
        self.others = [Person(f"bench-sync-other-{n}", YEAR) for n in range(OTHER_USERS)]
        self.pusher = Person("bench-sync-pusher")
        self.loaded_rows = 0

    def close(self):
        from backend import close_app

        close_app(self.app)

    # -- data -----------------------------------------------------------------------------------

    def load(self):
        """Everyone's rows, inserted in time order across people (Core executemany), then vacuumed."""
        import sqlalchemy as sa

        from backend.accounts.services import user_for_firebase_uid
        from backend.checkins.models import CheckIn
        from backend.doses.models import Dose
        from backend.extensions import db
        from backend.records import ChangeCounter

        began = time.perf_counter()
        loaded = [self.year, self.decade, self.recent, *self.others]
        with self.app.app_context():
            for person in loaded + [self.pusher]:
                person.user_id = user_for_firebase_uid(person.uid)[0].id
            db.session.execute(sa.insert(ChangeCounter), [{"user_id": person.user_id, "seq": LOADED_CHANGE}
                                                          for person in loaded])
            db.session.commit()
        checkins, doses = [], []
        for person in loaded:
            checkins += self.history(person, "checkins", checkin_values)
            doses += self.history(person, "doses", dose_values)
        with self.engine.begin() as connection:
            for model, rows, instant in ((CheckIn, checkins, "recorded_at"), (Dose, doses, "taken_at")):
                rows.sort(key=lambda row: row[instant])
                for start in range(0, len(rows), INSERT_CHUNK):
                    connection.execute(sa.insert(model.__table__), rows[start:start + INSERT_CHUNK])
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute("VACUUM (ANALYZE)")
        self.loaded_rows = len(checkins) + len(doses)
        return time.perf_counter() - began

    def history(self, person, kind, values):
        """`person`'s check-ins or doses, spread evenly over their days up to now."""
        days, count = person.shape["days"], person.shape[kind]
        first = self.now - dt.timedelta(days=days)
        return [stored_row(person.user_id, LOADED_CHANGE, self.now,
                           values(self.rng, first + dt.timedelta(days=days) * (n + self.rng.random()) / count))
                for n in range(count)]

    def check_first_pulls(self):
        """Each measured person's first pull holds exactly their rows; it gives their timestamp."""
        check_signatures_refused(lambda path, headers: self.client.get(path, headers=headers).status_code)
        counts = {}
        for person in (self.year, self.decade, self.recent, self.pusher):
            response = self.client.get("/v1/sync", query_string=pull_query(None), headers=person.headers)
            if response.status_code != 200:
                raise RuntimeError(f"pull failed: {response.status_code} {response.get_data(as_text=True)[:300]}")
            pulled = response.json
            live = {table: len(pulled["changes"][table]["created"]) + len(pulled["changes"][table]["updated"])
                    for table in ("checkins", "doses")}
            expected = {table: person.shape[table] if person.shape else 0 for table in ("checkins", "doses")}
            if live != expected:
                raise RuntimeError(f"{person.uid}'s first pull brought {live}, expected {expected}")
            person.timestamp = pulled["timestamp"]
            counts[person.uid] = {**live, "timestamp": person.timestamp}
        return counts

    # -- 2. first pull of a year ----------------------------------------------------------------

    def measure_first_pull(self):
        import sqlalchemy as sa

        from backend.checkins.models import CheckIn
        from backend.doses.models import Dose

        tables = (CheckIn.__table__, Dose.__table__)
        user_id = self.year.user_id

        def core():
            with self.engine.connect() as connection:
                return sum(len(connection.execute(sa.select(table).where(table.c.user_id == user_id)).all())
                           for table in tables)

        records = core()
        app_times, core_times = [], []
        size = self.read_pull(self.year, None)  # warm-up
        for n in range(PULL_ROUNDS):
            for side in (("app", "core") if n % 2 == 0 else ("core", "app")):
                # From a collected heap: otherwise a full collection provoked by the last run's
                # garbage falls on whichever side runs next, and costs about as much as the Core side.
                gc.collect()
                if side == "app":
                    app_times.append(timed(self.read_pull, self.year, None))
                else:
                    core_times.append(timed(core))
        return {"records": records, "body_bytes": size, "rounds": PULL_ROUNDS,
                "app_median_ms": ms(app_times), "core_median_ms": ms(core_times),
                "ratio_app_over_core": round(statistics.median(app_times) / statistics.median(core_times), 2),
                "app_ms": [round(t * 1000, 2) for t in app_times],
                "core_ms": [round(t * 1000, 2) for t in core_times]}

    def read_pull(self, person, last_pulled_at):
        """A pull's streamed body read to the end, a chunk at a time; returns its size in bytes."""
        response = self.client.get("/v1/sync", query_string=pull_query(last_pulled_at), headers=person.headers,
                                   buffered=False)
        if response.status_code != 200:
            raise RuntimeError(f"pull failed: {response.status_code} {response.get_data(as_text=True)[:300]}")
        size = sum(len(chunk) for chunk in response.response)
        response.close()
        return size

    # -- 3. a pull with nothing new -------------------------------------------------------------

    def measure_empty_pull(self):
        times = {"recent": [], "decade": []}
        people = {"recent": self.recent, "decade": self.decade}
        for person in people.values():  # warm-up, and the answer really is empty
            pulled = self.client.get("/v1/sync", query_string=pull_query(person.timestamp),
                                     headers=person.headers).json
            if any(any(lists.values()) for lists in pulled["changes"].values()):
                raise RuntimeError(f"{person.uid}'s pull from their timestamp was not empty")
        for n in range(EMPTY_PULL_ROUNDS):
            for name in (("recent", "decade") if n % 2 == 0 else ("decade", "recent")):
                person = people[name]
                times[name].append(timed(self.read_pull, person, person.timestamp))
        return {"rounds": EMPTY_PULL_ROUNDS,
                "recent_median_ms": ms(times["recent"], 3), "decade_median_ms": ms(times["decade"], 3),
                "ratio_decade_over_recent": round(statistics.median(times["decade"])
                                                  / statistics.median(times["recent"]), 2)}

    # -- 4. memory of a first pull --------------------------------------------------------------

    def measure_memory(self):
        people = {"year": self.year, "decade": self.decade}
        sizes = {name: self.read_pull(person, None) for name, person in people.items()}  # warm-up, untraced
        peaks = {name: [] for name in people}
        tracemalloc.start()
        try:
            for n in range(MEMORY_ROUNDS):
                for name in (("year", "decade") if n % 2 == 0 else ("decade", "year")):
                    tracemalloc.reset_peak()
                    before = tracemalloc.get_traced_memory()[0]
                    self.read_pull(people[name], None)
                    peaks[name].append(tracemalloc.get_traced_memory()[1] - before)
        finally:
            tracemalloc.stop()
        year, decade = statistics.median(peaks["year"]), statistics.median(peaks["decade"])
        return {"rounds": MEMORY_ROUNDS, "year_bytes": sizes["year"], "decade_bytes": sizes["decade"],
                "year_peak_mib": round(year / MIB, 3), "decade_peak_mib": round(decade / MIB, 3),
                "ratio_decade_over_year": round(decade / year, 2),
                "year_peaks_mib": [round(p / MIB, 3) for p in peaks["year"]],
                "decade_peaks_mib": [round(p / MIB, 3) for p in peaks["decade"]]}

    # -- 1. push --------------------------------------------------------------------------------

    def measure_push(self):
        import sqlalchemy as sa

        from backend.checkins.models import CheckIn
        from backend.doses.models import Dose

        path = f"/v1/sync?last_pulled_at={self.pusher.timestamp}"
        headers = {**self.pusher.headers, "Content-Type": "application/json"}

        def app_push(body):
            response = self.client.post(path, data=body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"push failed: {response.status_code} {response.get_data(as_text=True)[:300]}")
            applied = response.json["applied"]
            if (applied["checkins"]["created"], applied["doses"]["created"]) != (PUSH_CHECKINS, PUSH_DOSES):
                raise RuntimeError(f"push applied {applied}")

        def core_insert(rows):
            with self.engine.connect() as connection:
                connection.execute(sa.insert(CheckIn.__table__), rows["checkins"])
                connection.execute(sa.insert(Dose.__table__), rows["doses"])
                connection.commit()

        clock = StatementClock(self.engine)  # the app's statements, driver and database, per push
        app_times, core_times, sql_times, statements = [], [], [], []
        for n in range(1 + PUSH_ROUNDS):  # the first of each is a warm-up
            body, rows = self.push_batch()
            for side in (("app", "core") if n % 2 == 0 else ("core", "app")):
                clock.reset()
                gc.collect()  # as for the first pull
                seconds = timed(app_push, body) if side == "app" else timed(core_insert, rows)
                if n and side == "app":
                    app_times.append(seconds)
                    sql_times.append(clock.seconds)
                    statements.append(clock.count)
                elif n:
                    core_times.append(seconds)
        clock.remove()
        return {"records": PUSH_CHECKINS + PUSH_DOSES, "body_bytes": len(body), "rounds": PUSH_ROUNDS,
                "app_median_ms": ms(app_times), "core_median_ms": ms(core_times),
                "ratio_app_over_core": round(statistics.median(app_times) / statistics.median(core_times), 2),
                "app_sql_median_ms": ms(sql_times), "app_statements": statistics.median(statements),
                "ratio_app_sql_over_core": round(statistics.median(sql_times) / statistics.median(core_times), 2),
                "app_ms": [round(t * 1000, 1) for t in app_times],
                "core_ms": [round(t * 1000, 1) for t in core_times]}

    def push_batch(self):
        """One push's worth of new records: the encoded body a phone sends, and the same records
        as stored rows under ids of their own (for the Core side)."""
        first = self.now - dt.timedelta(days=7)
        values = {"checkins": [checkin_values(self.rng, first + dt.timedelta(days=7) * n / PUSH_CHECKINS)
                               for n in range(PUSH_CHECKINS)],
                  "doses": [dose_values(self.rng, first + dt.timedelta(days=7) * n / PUSH_DOSES)
                            for n in range(PUSH_DOSES)]}
        wire = {"checkins": [wire_checkin(v) for v in values["checkins"]],
                "doses": [wire_dose(v) for v in values["doses"]]}
        body = {name: {"created": wire.get(name, []), "updated": [], "deleted": []}
                for name in ("checkins", "doses", "reminders", "prompts")}
        rows = {name: [stored_row(self.pusher.user_id, LOADED_CHANGE, self.now, v) for v in table_values]
                for name, table_values in values.items()}
        return json.dumps(body).encode(), rows


# -- records ---------------------------------------------------------------------------------------

def checkin_values(rng, recorded_at):
    return {
        "recorded_at": recorded_at, "pain": rng.randint(2, 9), "enjoyment_interference": rng.randint(1, 9),
        "activity_interference": rng.randint(1, 9), "focus": rng.randint(0, 4), "hyperactivity": rng.randint(0, 4),
        "impulsivity": rng.randint(0, 4), "restlessness": rng.randint(0, 4), "mood": rng.randint(1, 9),
        "sleep_hours": round(rng.uniform(4, 9), 1) if rng.random() < 0.3 else None,
        "sleep_quality": rng.randint(0, 4) if rng.random() < 0.3 else None,
        "phq2_interest": None, "phq2_mood": None, "gad2_nervous": None, "gad2_worry": None,
        "side_effects": rng.sample(SIDE_EFFECTS, rng.choice([0, 0, 1, 2])),
        "withdrawal_symptoms": rng.sample(WITHDRAWAL, rng.choice([0, 0, 0, 1, 2])),
        "note": "Slept badly, better after lunch." if rng.random() < 0.3 else None,
    }


def dose_values(rng, taken_at):
    kind, form, unit, (low, high) = rng.choices(SUBSTANCES, SUBSTANCE_WEIGHTS)[0]
    return {"taken_at": taken_at, "substance_kind": kind, "form": form,
            "product": "Green Malay" if kind == "kratom" else None, "amount": round(rng.uniform(low, high), 1),
            "unit": unit, "note": "With food" if rng.random() < 0.1 else None}


def stored_row(user_id, change, now, values):
    """A row as the app stores it: every column named, so executemany sends one batch."""
    return {"id": uuid.uuid4(), "user_id": user_id, "sync_seq": change, "created_at": now, "updated_at": now,
            "deleted_at": None, **values}


def millis(instant):
    return round(instant.timestamp() * 1000)


def wire_checkin(values):
    """A check-in as a WatermelonDB phone pushes it: every column, instants in ms, lists as JSON text."""
    return {"id": str(uuid.uuid4()), "_status": "created", "_changed": "", **values,
            "recorded_at": millis(values["recorded_at"]), "side_effects": json.dumps(values["side_effects"]),
            "withdrawal_symptoms": json.dumps(values["withdrawal_symptoms"]), "peg_score": None,
            "created_at": 0, "updated_at": 0}


def wire_dose(values):
    return {"id": str(uuid.uuid4()), "_status": "created", "_changed": "", **values,
            "taken_at": millis(values["taken_at"]), "created_at": 0, "updated_at": 0}


def pull_query(last_pulled_at):
    return {"last_pulled_at": "null" if last_pulled_at is None else last_pulled_at, "schema_version": 1}


def timed(function, *args):
    began = time.perf_counter()
    function(*args)
    return time.perf_counter() - began


def ms(seconds, digits=2):
    return round(statistics.median(seconds) * 1000, digits)
