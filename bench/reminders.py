"""Reminder benchmarks: the dispatch pass as schedules grow, and pushing through firebase-admin.

1. A dispatch pass stays flat. One `jobs.send_reminders()` pass (materialize_due, dispatch_due
   in committed batches, then the retry-pushes job) with 1,000 schedules coming due, in a database
   of 10,000 schedules and in one of 1,000,000 (the rest due later). Both also hold some
   history: an earlier answered occurrence and its sent delivery per schedule. The push
   transport is a no-op that accepts every message, so only our own work (Python and SQL) is
   measured. Each pass gets a fresh due set; the passes alternate between the databases and
   the medians are compared. Aim: large/small ≤ 1.5×, because every claim reads a partial
   index of what is due, not the table.
2. Push throughput, as production pushes. N schedules (100,000 by default) come due at the same
   instant, and the send-reminders job does everything from there: materialize_due creates their
   occurrences, dispatch_due pushes them through the real firebase-admin SDK
   (CARELOOP_PUSH=firebase, CARELOOP_FCM_ENDPOINT at a fake FCM server in its own process) and
   records each delivery. The job runs as `careloop jobs` runs it: registered by jobs.add_jobs
   (every 10 s, one instance at a time, a tick that finds it still running skipped) on an
   APScheduler scheduler whose ticks fall 5 s after the due instant (half the interval, the
   average wait in production); the app's default dispatch batch unless --dispatch-batch says
   otherwise. Our rate is N over the time from the due instant to the last recorded outcome.
   Against: a bare `messaging.send_each` loop over the same messages (built up front) in batches
   of 500, through an SDK app set up the same way, half before and half after ours, so drift on
   the machine hits both alike. Twice: with the fake answering at once, and with FCM's round trip
   (30 ms by default, every request waiting on its own connection, so concurrent requests wait
   together as they do at FCM). Aim: ours ≥ 80 % of bare.
3. Lag at that load: when each push went out, minus when it was due.
4. The same flood pushed by one, then two, real `careloop jobs` processes (production settings,
   every job at its cadence), with FCM's round trip: the lag from due to recorded outcome.

    python -m bench reminders                          # the full run
    python -m bench.reminders --messages 20000         # parts 2 to 4 scaled down
    python -m bench.reminders --dispatch-batch 500     # our side with CARELOOP_DISPATCH_BATCH=500
    python -m bench.reminders --fcm-latency-ms 0,50    # part 2 with these round trips
"""

import argparse
import contextlib
import datetime as dt
import logging
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path

import psycopg

from bench.support import (ROOT, PROJECT_ID, StatementClock, app_config, cpu_seconds, free_port, fresh_database,
                           machine_load, print_table, production_env, results_of, scale_note, scaled, write_results)

# 1. Flat dispatch pass.
DUE = scaled(1000, 50)
SMALL, LARGE = scaled(10_000, 500), scaled(1_000_000, 20_000)
PASSES = scaled(7, 2)         # timed passes per database, after one warm-up pass each
# 2. Push throughput.
MESSAGES = scaled(100_000, 1000)
BARE_BATCH = 500              # send_each refuses more
FCM_LATENCIES_MS = (0, 30)    # the fake's answer at once, and FCM's round trip from a server
JOBS_FCM_LATENCY_MS = 30      # part 4
# The schedules are loaded well ahead of their due time (100,000 rows and a VACUUM take tens of
# seconds on a busy machine); they come due on the minute after this much time.
DUE_DELAY = dt.timedelta(seconds=scaled(60, 15))
# The scheduler's ticks fall this long after the due instant: half its interval, the average wait.
TICK_PHASE = 5.0
WARM_UP = 500                 # messages each side sends before it is measured

WEEKDAYS = '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]'
CLAIM_STEPS = {"reminder_schedules": "materialize_due", "reminder_occurrences": "dispatch_due",
               "push_deliveries": "lease_retries"}


def main(messages=MESSAGES, dispatch_batch=None, latencies_ms=FCM_LATENCIES_MS, jobs_latency_ms=JOBS_FCM_LATENCY_MS):
    started, load_before = time.perf_counter(), machine_load()
    flat = bench_flat_pass()
    pushes = {f"{latency:g}ms": bench_push(messages, dispatch_batch, latency) for latency in latencies_ms}
    processes = {str(n): bench_jobs_processes(messages, n, jobs_latency_ms) for n in (1, 2)}
    results = results_of("reminders", started, load_before, {
        "dispatch_pass": flat,
        "push": pushes,
        "jobs_processes": processes,
    })
    path = write_results("reminders", results)

    small, large = flat["small"], flat["large"]
    few, many = (f"{n / 1000:g}k" if n < 1_000_000 else f"{n / 1_000_000:g}M" for n in (SMALL, LARGE))
    rows = [
        [f"dispatch pass, {DUE:,} due, median s ({many}/{few} schedules)", f"{few} {small['median_s']:.3f}",
         f"{many} {large['median_s']:.3f}", f"{flat['ratio_large_over_small']:.2f}", "≤ 1.5"],
        ["  its SQL, ms/pass", f"{few} {small['median_sql_ms']:.0f}", f"{many} {large['median_sql_ms']:.0f}",
         f"{flat['sql_ratio_large_over_small']:.2f}", ""],
    ]
    for push in pushes.values():
        rows += [
            [f"{push['messages']:,} due → pushed by the job at its cadence, FCM {push['fcm_latency_ms']:g} ms, "
             "msg/s (ours/bare)", f"bare {push['bare']['messages_per_s']:.0f}",
             f"ours {push['ours']['messages_per_s']:.0f}", f"{push['ratio_ours_over_bare']:.2f}", "≥ 0.80"],
            ["  our process CPU, ms/msg (bare/ours)", f"bare {push['bare']['cpu_ms_per_message']:.2f}",
             f"ours {push['ours']['cpu_ms_per_message']:.2f}", f"{push['cpu_ratio_bare_over_ours']:.2f}", ""],
        ]
    print("\nreminders")
    print_table(rows, ["benchmark", "baseline", "measured", "ratio", "aim"])
    print()
    print_table([[f"FCM {push['fcm_latency_ms']:g} ms: {name}", f"{push['lag_s'][name]['p50']:.1f}",
                  f"{push['lag_s'][name]['p95']:.1f}", f"{push['lag_s'][name]['max']:.1f}"]
                 for push in pushes.values() for name in ("occurrence_row", "delivery_row", "fcm_answered")],
                [f"lag after due, s ({messages:,} due at once, one scheduler)", "p50", "p95", "max"])
    print("  occurrence_row: reminder_occurrences.created_at (materialize_due's batch) − due_at;")
    print("  delivery_row: push_deliveries.created_at − due_at, stamped when its dispatch batch began;")
    print("  fcm_answered: when send_each returned that message's batch − due_at.")
    print()
    print_table([[f"{n} × careloop jobs", f"{r['messages_per_s']:.0f}", f"{r['sent_lag_s']['p50']:.1f}",
                  f"{r['sent_lag_s']['p95']:.1f}", f"{r['sent_lag_s']['max']:.1f}"] for n, r in processes.items()],
                [f"{messages:,} due at once, real processes, FCM answering in {jobs_latency_ms:g} ms", "msg/s",
                 "lag p50 s", "p95 s", "max s"])
    print("  lag: push_deliveries.updated_at (FCM answered, outcome recorded) − due_at.")
    print(f"  claim queries use partial indexes: {flat['uses_partial_indexes']}; "
          f"machine load per core {load_before} → {results['machine_load_per_core']['end']}")
    print(f"  {path.relative_to(ROOT)}, {results['duration_s']:.0f} s")
    if scale_note():
        print(scale_note())
    return results


# -- 1. the dispatch pass stays flat -------------------------------------------------------------

def bench_flat_pass():
    with fresh_database("reminders_small") as small_url, fresh_database("reminders_large") as large_url:
        crowds = {"small": Crowd(small_url, SMALL), "large": Crowd(large_url, LARGE)}
        for crowd in crowds.values():
            crowd.load()
        for crowd in crowds.values():
            crowd.warm_up()  # and EXPLAIN the claim queries
        for n in range(PASSES):
            for name in (("small", "large") if n % 2 == 0 else ("large", "small")):
                crowds[name].timed_pass()
        for crowd in crowds.values():
            crowd.close()

    large = crowds["large"]
    print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the claim queries, {LARGE:,} schedules, {DUE:,} due:")
    for step, plan in large.plans.items():
        print(f"  {step}:")
        for line in plan:
            print("    " + line)
    print()
    result = {"due": DUE, "passes": PASSES, "transport": "no-op (accepts every message, writes nothing)",
              "history": "one earlier answered occurrence and its sent delivery per schedule"}
    result.update({name: crowd.summary() for name, crowd in crowds.items()})
    result["ratio_large_over_small"] = round(result["large"]["median_s"] / result["small"]["median_s"], 3)
    result["sql_ratio_large_over_small"] = round(
        result["large"]["median_sql_ms"] / result["small"]["median_sql_ms"], 3)
    indexes = {"materialize_due": "ix_reminder_schedules_due", "dispatch_due": "ix_reminder_occurrences_pending",
               "lease_retries": "ix_push_deliveries_retry"}
    result["uses_partial_indexes"] = all(
        any(index in line for line in crowd.plans.get(step, ())) for crowd in crowds.values()
        for step, index in indexes.items())
    result["plans"] = {name: crowd.plans for name, crowd in crowds.items()}
    print_table([[f"{crowd.schedules:,} schedules", f"{crowd.load_seconds:.0f}", len(crowd.times),
                  f"{statistics.median(crowd.times):.3f}", f"{min(crowd.times):.3f}", f"{max(crowd.times):.3f}",
                  f"{statistics.median(crowd.sql_times) * 1000:.0f}", f"{statistics.median(crowd.statements):.0f}"]
                 for crowd in crowds.values()],
                [f"dispatch pass, {DUE:,} due", "load s", "passes", "median s", "min s", "max s",
                 "SQL ms", "statements"])
    return result


class NoopTransport:
    """Accepts every message and does nothing: the pass measures our own work only."""

    def __init__(self):
        self.sent = 0

    def send(self, messages):
        from backend.push.base import PushResult

        self.sent += len(messages)
        return [PushResult(ok=True, message_id=f"noop/{n}") for n in range(len(messages))]


class Crowd:
    """A database of `schedules` reminder schedules, two per user, one device per user.

    Schedule n has the id md5('schedule-n'); pass r makes schedules r, r + stride, r + 2·stride …
    due, so each pass gets 1,000 schedules it never saw, spread over the whole table.
    """

    def __init__(self, url, schedules):
        from backend import create_app
        from backend.extensions import db

        self.url, self.schedules = url, schedules
        self.stride = schedules // DUE
        self.round = 0
        self.times, self.sql_times, self.statements, self.plans = [], [], [], {}
        self.transport = NoopTransport()
        self.app = create_app(app_config(url, PUSH_TRANSPORT=self.transport))
        with self.app.app_context():
            self.engine = db.engine
        self.sql = StatementClock(self.engine)

    def load(self):
        began = time.perf_counter()
        with psycopg.connect(self.url, autocommit=True) as connection:
            load_people(connection, self.schedules // 2)
            load_schedules(connection, self.schedules)
            load_history(connection, self.schedules)
            connection.execute("VACUUM (ANALYZE)")
        self.load_seconds = time.perf_counter() - began

    def make_due(self):
        """Make this round's schedules due at the start of the current minute; returns that instant."""
        if self.round >= self.stride:
            raise RuntimeError(f"only {self.stride} fresh due sets in {self.schedules:,} schedules")
        due = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(
                "UPDATE reminder_schedules SET next_fire_at = %(due)s, times = %(times)s::json "
                "WHERE id IN (SELECT md5('schedule-' || (%(round)s + k * %(stride)s))::uuid "
                "             FROM generate_series(0, %(count)s - 1) AS k)",
                {"due": due, "times": f'["{due:%H:%M}"]', "round": self.round, "stride": self.stride,
                 "count": DUE})
            # The same state before every pass: no dead rows left by the last one, whatever
            # autovacuum got round to.
            connection.execute("VACUUM reminder_schedules, reminder_occurrences, push_deliveries")
        self.round += 1
        return due

    def run_pass(self):
        import jobs
        from backend.extensions import db

        with self.app.app_context():
            try:
                handled = jobs.send_reminders() + jobs.retry_pushes()
            finally:
                db.session.remove()
        if handled != 2 * DUE:  # each due schedule materialized once, each occurrence dispatched once
            raise RuntimeError(f"a pass handled {handled} items, expected {2 * DUE}")

    def warm_up(self):
        self.make_due()
        plans = ClaimPlans(self.engine)
        try:
            self.run_pass()
        finally:
            plans.remove()
        self.plans = plans.plans

    def timed_pass(self):
        self.make_due()
        sent, sql_seconds, statements = self.transport.sent, self.sql.seconds, self.sql.count
        began = time.perf_counter()
        self.run_pass()
        self.times.append(time.perf_counter() - began)
        self.sql_times.append(self.sql.seconds - sql_seconds)
        self.statements.append(self.sql.count - statements)
        if self.transport.sent - sent != DUE:
            raise RuntimeError(f"a pass pushed {self.transport.sent - sent} messages, expected {DUE}")

    def summary(self):
        return {"schedules": self.schedules, "load_s": round(self.load_seconds, 1),
                "median_s": round(statistics.median(self.times), 4),
                "median_sql_ms": round(statistics.median(self.sql_times) * 1000, 2),
                "statements_per_pass": statistics.median(self.statements),
                "passes_s": [round(t, 4) for t in self.times]}

    def close(self):
        self.sql.remove()
        self.engine.dispose()




class ClaimPlans:
    """EXPLAIN (ANALYZE, BUFFERS) each kind of claim query once, right before the job runs it.

    The plan runs in the job's own transaction: the rows it locks are the rows the claim then
    locks again, which a transaction may do.
    """

    def __init__(self, engine):
        import sqlalchemy as sa

        self.engine, self.plans = engine, {}
        sa.event.listen(engine, "before_cursor_execute", self.before)

    def before(self, conn, cursor, statement, parameters, context, executemany):
        if "SKIP LOCKED" not in statement:
            return
        step = CLAIM_STEPS.get(re.search(r"\bFROM (\w+)", statement).group(1), "other")
        if step not in self.plans:
            with cursor.connection.cursor() as explain:
                explain.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
                self.plans[step] = [row[0] for row in explain.fetchall()]

    def remove(self):
        import sqlalchemy as sa

        sa.event.remove(self.engine, "before_cursor_execute", self.before)


def load_people(connection, users):
    """`users` users in UTC with discreet texts, each with one active Android device."""
    connection.execute(
        "INSERT INTO users (id, firebase_uid, timezone, notification_privacy, created_at, updated_at) "
        "SELECT md5('user-' || u)::uuid, 'bench-user-' || u, 'UTC', 'discreet', now(), now() "
        "FROM generate_series(0, %s - 1) AS u", [users])
    # FCM registration tokens are about 160 characters.
    connection.execute(
        "INSERT INTO devices (id, user_id, token, platform, active, last_seen_at, created_at) "
        "SELECT md5('device-' || u)::uuid, md5('user-' || u)::uuid, "
        "       'bench-' || u || ':' || repeat(md5(u::text), 4), 'android', true, now(), now() "
        "FROM generate_series(0, %s - 1) AS u", [users])


def load_schedules(connection, schedules):
    """Daily schedules of every kind, schedule n belonging to user n / 2, next due in 2 to 26 hours."""
    connection.execute(
        "INSERT INTO reminder_schedules (id, user_id, kind, times, days, timezone, active, label, "
        "                                follow_up_minutes, next_fire_at, created_at, updated_at) "
        "SELECT md5('schedule-' || n)::uuid, md5('user-' || n / 2)::uuid, "
        "       (ARRAY['checkin', 'dose', 'custom'])[n %% 3 + 1], "
        "       json_build_array(to_char(at AT TIME ZONE 'UTC', 'HH24:MI')), %(days)s::json, NULL, true, NULL, "
        "       CASE WHEN n %% 3 = 0 THEN 30 END, at, now(), now() "
        "FROM (SELECT n, date_trunc('minute', now() + interval '2 hours' + random() * interval '1 day') AS at "
        "      FROM generate_series(0, %(schedules)s - 1) AS n) AS t",
        {"schedules": schedules, "days": WEEKDAYS})


def load_history(connection, schedules):
    """An earlier occurrence of every schedule (two days before its next), answered, and its sent delivery."""
    connection.execute(
        "INSERT INTO reminder_occurrences (id, schedule_id, user_id, kind, local_date, local_time, due_at, "
        "                                  send_after, status, sent_at, answered_at, answered_by, "
        "                                  snooze_count, created_at) "
        "SELECT md5('occurrence-' || id)::uuid, id, user_id, kind, "
        "       (at AT TIME ZONE 'UTC')::date, to_char(at AT TIME ZONE 'UTC', 'HH24:MI'), at, at, "
        "       'answered', at, at + interval '5 minutes', 'ack', 0, at "
        "FROM (SELECT id, user_id, kind, next_fire_at - interval '2 days' AS at FROM reminder_schedules) AS s")
    connection.execute(
        "INSERT INTO push_deliveries (id, subject_id, about_user_id, device_id, purpose, round, status, attempts, "
        "                             message_id, expires_at, created_at, updated_at) "
        "SELECT md5('delivery-' || o.id)::uuid, o.id, o.user_id, d.id, 'reminder', 0, 'sent', 1, "
        "       'projects/careloop-local/messages/0:' || md5(o.id::text), "
        "       o.due_at + interval '1 hour', o.due_at, o.due_at "
        "FROM reminder_occurrences AS o JOIN devices AS d ON d.user_id = o.user_id")
    counts = connection.execute(
        "SELECT (SELECT count(*) FROM reminder_schedules), (SELECT count(*) FROM push_deliveries)").fetchone()
    if counts != (schedules, schedules):
        raise RuntimeError(f"loaded {counts}, expected {schedules} schedules and deliveries")




# -- 2. push throughput through firebase-admin, and 3. lag ---------------------------------------

def bench_push(messages, dispatch_batch=None, latency_ms=0):
    import inspect

    import firebase_admin

    from backend import close_app, create_app
    from backend.push.firebase import FirebaseTransport, StaticTokenCredential
    from backend.push.transports import transport
    from backend.reminders import dispatch

    extra = {"CARELOOP_PUSH": "firebase", "GOOGLE_APPLICATION_CREDENTIALS": None, "CARELOOP_JOBS_HEARTBEAT": None}
    if dispatch_batch:
        extra["CARELOOP_DISPATCH_BATCH"] = dispatch_batch
    with fresh_database("reminders_push") as url, fake_fcm(latency_ms) as fcm:
        app = create_app(app_config(url + "?application_name=bench-push", CARELOOP_FCM_ENDPOINT=fcm.url, **extra))
        dispatch_batch = app.config.get("CARELOOP_DISPATCH_BATCH") or inspect.signature(
            dispatch.dispatch_due).parameters["batch_size"].default
        with psycopg.connect(url, autocommit=True) as connection:
            load_people(connection, messages)
            load_flood_schedules(connection, messages)
            # History too: statistics of empty tables would give the planner a wrong idea of them.
            load_history(connection, messages)
            connection.execute("VACUUM (ANALYZE)")
            bare_messages = fcm_messages_for_every_schedule(connection)

        # The bare side: an SDK app configured the way ours is (static token, endpoint, HTTP policy).
        bare_app = firebase_admin.initialize_app(
            StaticTokenCredential(), options={"projectId": PROJECT_ID}, name=f"bench-bare-{uuid.uuid4().hex}")
        bare = Bare(bare_app, FirebaseTransport(bare_app, endpoint=fcm.url), fcm)
        ours = Ours(app, fcm)
        with app.app_context():
            clock = SendClock(transport())
            app.config["PUSH_TRANSPORT"] = clock
            # Warm both: a first batch opens its pooled connections to the fake.
            clock.inner.send([m.push for m in bare_messages[:WARM_UP]])
        bare.send(bare_messages[:WARM_UP], measure=False)

        half = messages // 2
        bare.send(bare_messages[:half])
        due_at = make_schedules_due(url, messages)
        ours.run(url, due_at, messages)
        bare.send(bare_messages[half:])

        with psycopg.connect(url) as connection:
            # This run's deliveries (not the history), each answered by the fake (its message ids).
            deliveries = connection.execute(
                "SELECT extract(epoch FROM o.created_at - o.due_at)::float8, "
                "       extract(epoch FROM d.created_at - o.due_at)::float8, d.updated_at = d.created_at "
                "FROM push_deliveries AS d JOIN reminder_occurrences AS o ON o.id = d.subject_id "
                "WHERE o.due_at = %s AND d.status = 'sent' AND d.message_id LIKE '%%fakefcm'", [due_at]).fetchall()
            sent = connection.execute("SELECT count(*) FROM reminder_occurrences WHERE due_at = %s AND status = 'sent'",
                                      [due_at]).fetchone()[0]
        counts = (sent, len(deliveries))
        if counts != (messages, messages):
            raise RuntimeError(f"(sent occurrences, sent deliveries) = {counts}, expected {messages} each")
        clock.inner.close()
        close_app(app)
        bare.transport.close()
        firebase_admin.delete_app(bare_app)
    expected_requests = 2 * min(WARM_UP, messages) + 2 * messages
    if fcm.requests != expected_requests:
        raise RuntimeError(f"the fake FCM answered {fcm.requests} requests, expected {expected_requests}")

    answered_lags = [seconds for seconds, count in clock.batches(due_at) for _ in range(count)]
    if not all(same for *_, same in deliveries):
        raise RuntimeError("a delivery's updated_at differs from its created_at: the lag needs both")
    result = {
        "messages": messages, "bare_batch": BARE_BATCH, "fcm_latency_ms": latency_ms,
        "dispatch_batch": dispatch_batch,
        "our_side": f"jobs.add_jobs' send-reminders alone on a BackgroundScheduler, ticks {TICK_PHASE:g} s after due: "
                    f"materialize_due then dispatch_due batches of {dispatch_batch}, up to {ours.max_batches} "
                    "of each per run",
        "fake_fcm": f"tests.fakes.fcm_server in its own process, answering after {latency_ms:g} ms",
        "bare": bare.summary(), "ours": ours.summary(),
        "lag_s": {"occurrence_row": percentiles([lag for lag, _, _ in deliveries]),
                  "delivery_row": percentiles([lag for _, lag, _ in deliveries]),
                  "fcm_answered": percentiles(answered_lags)},
        "fake_fcm_requests": fcm.requests,
    }
    result["ratio_ours_over_bare"] = round(result["ours"]["messages_per_s"] / result["bare"]["messages_per_s"], 3)
    result["cpu_ratio_bare_over_ours"] = round(
        result["bare"]["cpu_ms_per_message"] / result["ours"]["cpu_ms_per_message"], 3)
    print()
    print_table([[name, f"{r['messages']:,}", f"{r['seconds']:.1f}", f"{r['messages_per_s']:.0f}",
                  f"{r['cpu_ms_per_message']:.2f}", f"{r.get('postgres_cpu_ms_per_message', 0):.2f}",
                  f"{r['fake_cpu_ms_per_message']:.2f}"]
                 for name, r in (("bare send_each loop", result["bare"]),
                                 (f"ours: send-reminders, {result['ours']['job_runs']} runs", result["ours"]))],
                [f"push through firebase-admin, FCM {latency_ms:g} ms", "messages", "s", "msg/s", "CPU ms/msg: us",
                 "postgres", "fake FCM"])
    return result


def load_flood_schedules(connection, count):
    """`count` daily schedules of every kind, schedule n belonging to user n, next due tomorrow."""
    connection.execute(
        "INSERT INTO reminder_schedules (id, user_id, kind, times, days, active, follow_up_minutes, "
        "                                next_fire_at, created_at, updated_at) "
        "SELECT md5('schedule-' || n)::uuid, md5('user-' || n)::uuid, "
        "       (ARRAY['checkin', 'dose', 'custom'])[n %% 3 + 1], '[\"09:00\"]', %(days)s::json, true, "
        "       CASE WHEN n %% 3 = 0 THEN 30 END, now() + interval '1 day', now(), now() "
        "FROM generate_series(0, %(count)s - 1) AS n", {"count": count, "days": WEEKDAYS})


def make_schedules_due(url, count):
    """Every schedule (their people are in UTC) fires next at the same minute, DUE_DELAY or a little
    more ahead, at a time of day its `times` names; returns that instant. Creating the occurrences
    is the job's work (materialize_due)."""
    due_at = (dt.datetime.now(dt.timezone.utc) + DUE_DELAY + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    with psycopg.connect(url, autocommit=True) as connection:
        updated = connection.execute(
            "UPDATE reminder_schedules SET next_fire_at = %(due)s, times = %(times)s::json",
            {"due": due_at, "times": f'["{due_at:%H:%M}"]'}).rowcount
        connection.execute("VACUUM (ANALYZE) reminder_schedules")
    if updated != count:
        raise RuntimeError(f"{updated} schedules made due, expected {count}")
    if dt.datetime.now(dt.timezone.utc) >= due_at - dt.timedelta(seconds=30):
        raise RuntimeError(f"making the schedules due took longer than DUE_DELAY ({DUE_DELAY}); raise it")
    return due_at


class Ours:
    """The send-reminders job as `careloop jobs` schedules it (jobs.add_jobs), alone on a
    BackgroundScheduler, from the due instant until every occurrence's outcome is recorded."""

    def __init__(self, app, fcm):
        import jobs

        self.app, self.fcm = app, fcm
        self.max_batches = jobs.MAX_BATCHES_PER_RUN

    def run(self, url, due_at, count):
        import jobs
        from apscheduler.events import EVENT_JOB_EXECUTED
        from apscheduler.schedulers.background import BackgroundScheduler

        # A run that overlaps the next tick makes APScheduler skip that tick with a warning: expected here.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        seconds_to_due = (due_at - dt.datetime.now(dt.timezone.utc)).total_seconds()
        interval = next(job.every_seconds for job in jobs.JOBS if job.name == "send-reminders")
        # Start the scheduler (its first tick is at once) so that a later tick falls TICK_PHASE after due.
        time.sleep((seconds_to_due + TICK_PHASE) % interval)
        scheduler = jobs.add_jobs(BackgroundScheduler(timezone="UTC", daemon=True), self.app)
        for job in scheduler.get_jobs():
            if job.id != "send-reminders":
                job.remove()
        self.runs, self.failures = [], 0

        def executed(event):
            self.runs.append(event.retval)
            self.failures += event.retval is None

        scheduler.add_listener(executed, EVENT_JOB_EXECUTED)
        scheduler.start()
        try:
            time.sleep(max(0.0, (due_at - dt.datetime.now(dt.timezone.utc)).total_seconds()))
            cpu, fake_cpu, pg_cpu = time.process_time(), fake_cpu_seconds(self.fcm), self.postgres_cpu_seconds()
            runs_before = len(self.runs)
            with psycopg.connect(url, autocommit=True) as connection:
                deadline = time.monotonic() + 3600
                while True:
                    # Polled once a second: its few milliseconds of CPU are counted on our side too.
                    done, last = connection.execute(
                        "SELECT count(*), max(d.updated_at) FROM push_deliveries AS d "
                        "JOIN reminder_occurrences AS o ON o.id = d.subject_id "
                        "WHERE o.due_at = %s AND d.status = 'sent'", [due_at]).fetchone()
                    if done >= count:
                        break
                    if self.failures or time.monotonic() > deadline:
                        raise RuntimeError("the send-reminders job failed or stalled; see the log above")
                    time.sleep(1)
        finally:
            scheduler.shutdown(wait=True)
        self.seconds = (last - due_at).total_seconds()
        self.cpu = time.process_time() - cpu
        self.fake_cpu = fake_cpu_seconds(self.fcm) - fake_cpu
        self.pg_cpu = self.postgres_cpu_seconds() - pg_cpu
        self.job_runs = len(self.runs) - runs_before
        self.messages = self.app.config["PUSH_TRANSPORT"].messages

    def postgres_cpu_seconds(self):
        """CPU used so far by this app's PostgreSQL backends (they stay open in the pool)."""
        from backend.extensions import db

        with self.app.app_context():
            pids = [pid for pid, in db.session.execute(db.text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench-push'"))]
            db.session.remove()
        return sum(cpu_seconds(pids).values())

    def summary(self):
        return {"messages": self.messages, "seconds": round(self.seconds, 2), "job_runs": self.job_runs,
                "messages_per_s": round(self.messages / self.seconds, 1),
                "cpu_ms_per_message": round(self.cpu * 1000 / self.messages, 3),
                "postgres_cpu_ms_per_message": round(self.pg_cpu * 1000 / self.messages, 3),
                "fake_cpu_ms_per_message": round(self.fake_cpu * 1000 / self.messages, 3)}


# -- 4. lag with one and with two real `careloop jobs` processes ------------------------------------

def bench_jobs_processes(messages, processes, latency_ms):
    """`messages` schedules due at one instant, materialized and pushed by `processes` real
    `careloop jobs` processes (production settings, every job at its own cadence) through
    firebase-admin to the fake FCM answering after `latency_ms`; the lag of each push is when its
    outcome was recorded minus when it was due."""
    with fresh_database(f"reminders_jobs{processes}") as url, fake_fcm(latency_ms) as fcm, \
            tempfile.TemporaryDirectory(prefix="careloop-bench-jobs-") as workdir:
        with psycopg.connect(url, autocommit=True) as connection:
            load_people(connection, messages)
            load_flood_schedules(connection, messages)
            load_history(connection, messages)
            connection.execute("VACUUM (ANALYZE)")
        due_at = make_schedules_due(url, messages)
        env = production_env(url, CARELOOP_PUSH="firebase", CARELOOP_FCM_ENDPOINT=fcm.url,
                             CARELOOP_JOBS_HEARTBEAT=str(Path(workdir) / "heartbeat"))
        careloop = Path(sys.executable).with_name("careloop")
        # Their schedulers tick at start and every 10 s: started 5 s before due, a tick falls 5 s after.
        time.sleep(max(0.0, (due_at - dt.datetime.now(dt.timezone.utc)).total_seconds() - TICK_PHASE))
        logs = [tempfile.TemporaryFile(mode="w+") for _ in range(processes)]
        workers = [subprocess.Popen([str(careloop), "jobs"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
                   for log in logs]
        try:
            with psycopg.connect(url, autocommit=True) as connection:
                deadline = time.monotonic() + 3600
                while connection.execute(
                        "SELECT count(*) FROM push_deliveries AS d JOIN reminder_occurrences AS o "
                        "ON o.id = d.subject_id WHERE o.due_at = %s AND d.status = 'sent'", [due_at]
                ).fetchone()[0] < messages:
                    if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                        logs[0].seek(0)
                        raise RuntimeError("the jobs processes did not push every occurrence; the first one's "
                                           f"log ends:\n{logs[0].read()[-3000:]}")
                    time.sleep(1)
                lags = [row[0] for row in connection.execute(
                    "SELECT extract(epoch FROM d.updated_at - o.due_at)::float8 FROM push_deliveries AS d "
                    "JOIN reminder_occurrences AS o ON o.id = d.subject_id "
                    "WHERE o.due_at = %s AND d.status = 'sent'", [due_at])]
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=60)
            for log in logs:
                log.close()
    if len(lags) != messages:
        raise RuntimeError(f"{len(lags)} pushes recorded as sent, expected {messages}")
    last = max(lags)
    return {"processes": processes, "messages": messages, "fcm_latency_ms": latency_ms,
            "messages_per_s": round(messages / last, 1), "sent_lag_s": percentiles(lags)}


class FakeFCM:
    url = None
    pid = None
    requests = None


@contextlib.contextmanager
def fake_fcm(latency_ms=0):
    """tests.fakes.fcm_server in its own process (its own GIL), answering after `latency_ms`; yields
    its url and pid, and after the block how many requests it answered. Stopped with SIGTERM, which
    it handles (a run in the background ignores SIGINT)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.fakes.fcm_server", "--port", str(port),
                                "--latency-ms", str(latency_ms)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    fake = FakeFCM()
    try:
        line = process.stdout.readline()
        match = re.search(r"at (http://\S+);", line)
        if not match:
            raise RuntimeError(f"the fake FCM server did not start: {line!r}")
        fake.url, fake.pid = match.group(1), process.pid
        yield fake
    finally:
        process.send_signal(signal.SIGTERM)  # it prints its request count on the way out
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        counted = re.search(r"(\d+) requests", output or "")
        fake.requests = int(counted.group(1)) if counted else None


def fcm_messages_for_every_schedule(connection):
    """The messages our dispatcher would send for each schedule's occurrence, ready for send_each."""
    from backend.push.firebase import _fcm_messages
    from backend.reminders.messages import reminder_message

    rows = connection.execute(
        "SELECT s.id, s.kind, s.label, u.notification_privacy, d.token FROM reminder_schedules AS s "
        "JOIN users AS u ON u.id = s.user_id JOIN devices AS d ON d.user_id = u.id ORDER BY s.id").fetchall()
    prepared = []
    for schedule_id, kind, label, privacy, token in rows:
        occurrence = types.SimpleNamespace(id=uuid.uuid4(), kind=kind, schedule_id=schedule_id,
                                           schedule=types.SimpleNamespace(label=label))
        user = types.SimpleNamespace(notification_privacy=privacy)
        prepared.append(reminder_message(occurrence, "reminder", user, token))
    # The same encoding as FirebaseTransport's (collapse key, TTL, priorities), built up front.
    fcm = _fcm_messages(prepared, now=time.time())
    return [types.SimpleNamespace(push=p, fcm=f) for p, f in zip(prepared, fcm, strict=True)]



class Bare:
    """`messaging.send_each` over prepared messages, 500 at a time, and nothing else."""

    def __init__(self, sdk_app, transport, fcm):
        self.sdk_app, self.transport, self.fcm = sdk_app, transport, fcm
        self.messages, self.seconds, self.cpu, self.fake_cpu = 0, 0.0, 0.0, 0.0

    def send(self, prepared, *, measure=True):
        from firebase_admin import messaging

        batches = [[p.fcm for p in prepared[start:start + BARE_BATCH]]
                   for start in range(0, len(prepared), BARE_BATCH)]
        cpu, fake_cpu, began = time.process_time(), fake_cpu_seconds(self.fcm), time.perf_counter()
        for batch in batches:
            response = messaging.send_each(batch, app=self.sdk_app)
            if response.failure_count:
                raise RuntimeError(f"bare send_each: {response.failure_count} of {len(batch)} failed")
        if measure:
            self.seconds += time.perf_counter() - began
            self.cpu += time.process_time() - cpu
            self.fake_cpu += fake_cpu_seconds(self.fcm) - fake_cpu
            self.messages += len(prepared)

    def summary(self):
        return {"messages": self.messages, "seconds": round(self.seconds, 2),
                "messages_per_s": round(self.messages / self.seconds, 1),
                "cpu_ms_per_message": round(self.cpu * 1000 / self.messages, 3),
                "fake_cpu_ms_per_message": round(self.fake_cpu * 1000 / self.messages, 3)}



class SendClock:
    """Wraps our transport to note when each batch's send_each returned (for the lag)."""

    def __init__(self, inner):
        self.inner, self.returned, self.messages = inner, [], 0

    def send(self, messages):
        results = self.inner.send(messages)
        self.returned.append((dt.datetime.now(dt.timezone.utc), len(messages)))
        self.messages += len(messages)
        return results

    def batches(self, due_at):
        return [((at - due_at).total_seconds(), count) for at, count in self.returned]


def fake_cpu_seconds(fcm):
    return sum(cpu_seconds([fcm.pid]).values())


def percentiles(values):
    values = sorted(values)
    return {"p50": round(statistics.median(values), 3),
            "p95": round(values[min(len(values) - 1, int(len(values) * 0.95))], 3),
            "max": round(values[-1], 3), "count": len(values)}



if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.reminders", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=MESSAGES,
                        help=f"schedules coming due at once in parts 2 to 4 (default {MESSAGES:,})")
    parser.add_argument("--dispatch-batch", type=int, metavar="N",
                        help="CARELOOP_DISPATCH_BATCH for our side of part 2 (default: the app's default)")
    parser.add_argument("--fcm-latency-ms", default=",".join(f"{n:g}" for n in FCM_LATENCIES_MS), metavar="MS,…",
                        help="the fake FCM's round trips part 2 runs with (default %(default)s)")
    parser.add_argument("--jobs-fcm-latency-ms", type=float, default=JOBS_FCM_LATENCY_MS, metavar="MS",
                        help="the fake FCM's round trip in part 4 (default %(default)s)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("backend.accounts.auth").setLevel(logging.ERROR)
    started = time.perf_counter()
    print(f"== reminders ({' '.join(sys.argv[1:]) or 'defaults'})", flush=True)
    main(arguments.messages, arguments.dispatch_batch,
         tuple(float(n) for n in arguments.fcm_latency_ms.split(",")), arguments.jobs_fcm_latency_ms)
    print(f"== reminders: {time.perf_counter() - started:.0f} s", flush=True)
