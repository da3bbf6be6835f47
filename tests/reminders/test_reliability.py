"""Reliability of the reminder jobs: real jobs processes, real PostgreSQL row locks, the real
firebase-admin SDK against the fake FCM server.

These tests always run on PostgreSQL (a fresh database per test, dropped afterwards), whatever
TEST_DATABASE_URL says: SQLite has no row locks to prove anything with. The jobs processes are
`careloop jobs` subprocesses; waiting for them polls with a deadline and asserts no timings.
"""

import collections
import contextlib
import datetime as dt
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

import jobs
from backend import close_app, create_app
from backend.accounts.models import User
from backend.config import DEV_AUTH_EMULATOR_HOST, DEV_PROJECT_ID, normalise_database_url
from backend.devtokens import emulator_id_token
from backend.extensions import db
from backend.push.models import Device, PushDelivery
from backend.reminders.models import PENDING, SENT, ReminderOccurrence, ReminderSchedule
from backend.sqltypes import utcnow
from tests.fakes.fcm_server import FakeFCMServer
from tests.fakes.tcp_proxy import TCPProxy
from tests.support import utc

ROOT = Path(__file__).resolve().parents[2]
CARELOOP = Path(sys.executable).with_name("careloop")
WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


# -- a fresh PostgreSQL database per test ---------------------------------------------------------

def server_url():
    """The PostgreSQL server of TEST_DATABASE_URL when it names one, else the local default."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = "postgresql://postgres@127.0.0.1:5432/postgres"
    return sa.make_url(normalise_database_url(url)).set(database="postgres")


class Database:
    def __init__(self, url, admin):
        self.url, self.admin = url, admin
        self.apps = []

    @property
    def url_string(self):
        return self.url.render_as_string(hide_password=False)

    def app(self, **config):
        """A Careloop app on this database (local push transport unless told otherwise)."""
        app = create_app({
            "TESTING": True, "CARELOOP_ENV": "development", "DATABASE_URL": self.url_string,
            "FIREBASE_PROJECT_ID": DEV_PROJECT_ID, "FIREBASE_AUTH_EMULATOR_HOST": DEV_AUTH_EMULATOR_HOST,
            "CARELOOP_PUSH": "local", **config})
        self.apps.append(app)
        return app

    def waiting_for_locks(self):
        """How many sessions on this database are blocked on a lock right now."""
        with self.admin.connect() as connection:
            return connection.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :name AND wait_event_type = 'Lock'"),
                {"name": self.url.database})

    def close(self):
        for app in self.apps:
            close_app(app)


@pytest.fixture
def pg():
    from flask_migrate import upgrade

    admin = sa.create_engine(server_url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"careloop_rel_{uuid.uuid4().hex[:12]}"
    # Row locks are the point of these tests: they need PostgreSQL (CI machines always run one), and
    # fail loudly rather than skip when it is missing.
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    database = Database(server_url().set(database=name), admin)
    try:
        with database.app().app_context():
            upgrade()
        yield database
    finally:
        database.close()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


# -- a due set, created directly in the database --------------------------------------------------

def seed_due_set(app, users, *, prefix):
    """Users with 1–3 active devices (every fourth also has an inactive one), each with three
    pending occurrences due a minute ago; returns the (occurrence id, token) pairs owed a push."""
    now = utcnow()
    owed = set()
    with app.app_context():
        for n in range(users):
            user = User(firebase_uid=f"{prefix}-{n}", timezone="UTC")
            db.session.add(user)
            db.session.flush()
            tokens = [f"{prefix}-{n}-device-{d}" for d in range(n % 3 + 1)]
            for token in tokens:
                db.session.add(Device(user_id=user.id, token=token, platform="android"))
            if n % 4 == 0:
                db.session.add(Device(user_id=user.id, token=f"{prefix}-{n}-retired", platform="ios",
                                      active=False, deactivated_reason="unregistered"))
            times = ["08:00", "12:00", "18:00"]
            schedule = ReminderSchedule(id=uuid.uuid4(), user_id=user.id, kind="dose", times=times, days=WEEK,
                                        active=True, next_fire_at=now + dt.timedelta(days=1))
            db.session.add(schedule)
            for local_time in times:
                occurrence = ReminderOccurrence(
                    id=uuid.uuid4(), schedule_id=schedule.id, user_id=user.id, kind="dose",
                    local_date=now.date(), local_time=local_time, due_at=now - dt.timedelta(minutes=1),
                    send_after=now - dt.timedelta(minutes=1), status=PENDING)
                db.session.add(occurrence)
                owed.update((str(occurrence.id), token) for token in tokens)
        db.session.commit()
    return owed


def pushed(*fakes):
    """How many times each (occurrence id, token) reached the fakes."""
    return collections.Counter((m["data"]["occurrence_id"], m["token"]) for fcm in fakes for m in fcm.messages)


def assert_recorded_once(app, owed):
    """The database agrees: one sent delivery with an FCM message id per (occurrence, active device),
    and every occurrence sent."""
    with app.app_context():
        rows = db.session.execute(sa.select(PushDelivery.subject_id, Device.token, PushDelivery.status,
                                            PushDelivery.message_id)
                                  .join(Device, Device.id == PushDelivery.device_id)).all()
        statuses = db.session.scalars(sa.select(ReminderOccurrence.status)).all()
    deliveries = collections.Counter((str(occurrence_id), token) for occurrence_id, token, _, _ in rows)
    assert set(deliveries) == owed and set(deliveries.values()) == {1}
    assert {(status, message_id.startswith(f"projects/{DEV_PROJECT_ID}/messages/")) for *_, status, message_id
            in rows} == {("sent", True)}
    assert collections.Counter(statuses) == {SENT: len({occurrence for occurrence, _ in owed})}


# -- jobs processes -------------------------------------------------------------------------------

@pytest.fixture
def jobs_process():
    """Start `careloop jobs …` against a database and a fake FCM; whatever still runs is killed after."""
    started = []

    def start(database_url, fcm, log_path, *args, batch=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CARELOOP_", "FIREBASE_", "GOOGLE_"))
               and k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
        env.update(DATABASE_URL=database_url, CARELOOP_ENV="development", CARELOOP_PUSH="firebase",
                   CARELOOP_FCM_ENDPOINT=fcm.url, FIREBASE_PROJECT_ID=DEV_PROJECT_ID,
                   FIREBASE_AUTH_EMULATOR_HOST=DEV_AUTH_EMULATOR_HOST, PYTHONUNBUFFERED="1")
        if batch:
            env["CARELOOP_DISPATCH_BATCH"] = str(batch)
        with open(log_path, "ab") as log:
            process = subprocess.Popen([str(CARELOOP), "jobs", *args], cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def wait_until(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting until {what}")
        time.sleep(0.01)


@contextlib.contextmanager
def held_at_the_start_line(app):
    """Every jobs process that tries to claim occurrences waits until this block ends (a lock on the
    table), so processes that start at different speeds still begin dispatching together."""
    with app.app_context(), db.engine.begin() as connection:
        connection.exec_driver_sql("LOCK TABLE reminder_occurrences IN EXCLUSIVE MODE")
        yield


@pytest.fixture
def report(capsys, record_property):
    """Show a figure on the terminal even under output capture, and keep it in the JUnit XML."""
    def show(name, value):
        record_property(name, value)
        with capsys.disabled():
            print(f"\n    {name}: {value}", end="")
    return show


def test_two_jobs_processes_push_every_occurrence_once_per_active_device(pg, jobs_process, tmp_path, report):
    app = pg.app()
    owed = seed_due_set(app, 100, prefix="two")
    batch = 10
    with FakeFCMServer() as fcm_a, FakeFCMServer() as fcm_b:
        # Slow enough that a batch is still in flight when the other process claims the next one.
        fcm_a.delay(0.05)
        fcm_b.delay(0.05)
        logs = [tmp_path / "jobs-a.log", tmp_path / "jobs-b.log"]
        with held_at_the_start_line(app):
            processes = [jobs_process(pg.url_string, fcm, log, "--once", batch=batch)
                         for fcm, log in zip((fcm_a, fcm_b), logs)]
            wait_until(lambda: pg.waiting_for_locks() == 2, "both jobs processes wait to claim occurrences")
        for process in processes:
            assert process.wait(timeout=90) == 0
        counts = pushed(fcm_a, fcm_b)
        split = (len(fcm_a.messages), len(fcm_b.messages))

    outputs = [log.read_text() for log in logs]
    handled = [int(re.search(r"^send-reminders: (\d+)$", out, re.M).group(1)) for out in outputs]
    report("pushes sent by each of the two jobs processes", f"{split[0]} + {split[1]} of {len(owed)}")
    report("occurrences dispatched by each", f"{handled[0]} + {handled[1]} of 300")
    assert set(counts) == owed
    assert set(counts.values()) == {1}
    assert all(split), "both processes did part of the work"
    assert sum(handled) == 300
    assert_recorded_once(app, owed)


def test_a_jobs_process_killed_mid_batch_loses_nothing_and_resends_only_what_was_in_flight(
        pg, jobs_process, tmp_path, report):
    app = pg.app()
    owed = seed_due_set(app, 100, prefix="kill")
    batch = 20
    log = tmp_path / "jobs.log"
    with FakeFCMServer() as fcm:
        fcm.delay(0.2)
        victim = jobs_process(pg.url_string, fcm, log, "--once", batch=batch)
        wait_until(lambda: len(fcm.received) >= len(owed) // 3, "a third of the pushes reached the fake")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        seen_before_kill = len(fcm.received)
        assert seen_before_kill < len(owed), "killed too late: everything was already sent"

        fcm.delay(0.01)
        restarts = 0
        deadline = time.monotonic() + 60
        while not owed <= set(pushed(fcm)):
            assert time.monotonic() < deadline, "the restarted jobs never sent everything that was due"
            restarts += 1
            assert jobs_process(pg.url_string, fcm, log, "--once", batch=batch).wait(timeout=60) == 0
        counts = pushed(fcm)

    sent_twice = sorted(target for target, count in counts.items() if count == 2)
    report("pushes received before the SIGKILL", f"{seen_before_kill} of {len(owed)}")
    report("pushes sent twice after the SIGKILL and restart", f"{len(sent_twice)} "
           f"(of {len({o for o, _ in sent_twice})} occurrences; {restarts} restart(s))")
    assert set(counts) == owed
    assert max(counts.values()) <= 2
    # Only the batch in flight when the process died is sent again: its claim was never committed.
    assert len({occurrence for occurrence, _ in sent_twice}) <= batch
    assert_recorded_once(app, owed)


def test_jobs_back_off_while_the_database_is_away_and_carry_on_when_it_returns(pg, jobs_process, tmp_path,
                                                                               report):
    app = pg.app()
    before = seed_due_set(app, 2, prefix="before")
    log = tmp_path / "jobs.log"
    target = (pg.url.host or "127.0.0.1", pg.url.port or 5432)
    with FakeFCMServer() as fcm, TCPProxy(target) as proxy:
        via_proxy = pg.url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        process = jobs_process(via_proxy, fcm, log)          # the blocking scheduler, every 10 s
        wait_until(lambda: before <= set(pushed(fcm)), "the jobs process works through the proxy")
        # Cut between runs: a cut before the commit would (rightly) send that batch again.
        wait_until(lambda: "job send-reminders handled" in log.read_text(), "the first run is committed")

        proxy.cut()
        cut_at = time.monotonic()
        during = seed_due_set(app, 2, prefix="during")       # due while the database is away
        wait_until(lambda: "job send-reminders: database unavailable" in log.read_text(),
                   "the reminder job logs the outage", timeout=30)
        # The outage lasts several seconds, however soon the first run after the cut came.
        time.sleep(max(0.0, cut_at + 5 - time.monotonic()))
        assert not during & set(pushed(fcm))
        proxy.restore()
        outage = time.monotonic() - cut_at

        wait_until(lambda: during <= set(pushed(fcm)), "what came due during the outage is sent")
        wait_until(lambda: "job send-reminders: database back after" in log.read_text(),
                   "the reminder job logs the recovery", timeout=15)
        assert process.poll() is None, "the jobs process is still running"
        process.terminate()
        process.wait(timeout=30)
        counts = pushed(fcm)

    output = log.read_text()
    warnings = re.findall(r"WARNING careloop\.jobs: job (\S+): database unavailable \((\w+)\); retrying in (\d+)s",
                          output)
    delays = collections.defaultdict(list)
    for job, error, delay in warnings:
        assert error == "OperationalError"
        delays[job].append(int(delay))
    report("database outage", f"{outage:.1f} s; backoff logged per job: {dict(delays)}")
    assert delays["send-reminders"]
    for job in jobs.JOBS:
        # Backing off, not spinning: each failed run waits twice as long as the one before, so
        # only a few fit in the outage, however often the job normally runs.
        expected = [min(jobs.JobRunner.MAX_BACKOFF, job.every_seconds * 2 ** n) for n in range(len(delays[job.name]))]
        assert delays[job.name] == expected
        assert len(delays[job.name]) <= 2 + math.log2(1 + outage / job.every_seconds)
    assert "Traceback" not in output and " ERROR " not in output
    assert set(counts) == before | during and set(counts.values()) == {1}


# -- through the API, in-process, with the real SDK and frozen time ------------------------------

@pytest.fixture
def fcm():
    with FakeFCMServer() as server:
        yield server


def test_reminder_reaches_fcm_through_the_sdk_with_dead_and_throttled_tokens_handled(pg, fcm, time_machine):
    app = pg.app(CARELOOP_PUSH="firebase", CARELOOP_FCM_ENDPOINT=fcm.url)
    client = app.test_client()
    time_machine.move_to(utc(2026, 11, 20, 12), tick=False)
    headers = {"Authorization": f"Bearer {emulator_id_token('sdk-patient', DEV_PROJECT_ID)}"}
    assert client.patch("/v1/me", json={"timezone": "Europe/Berlin"}, headers=headers).status_code == 200
    for token in ("phone", "old-tablet", "busy-watch"):
        response = client.post("/v1/devices", json={"token": token, "platform": "android"}, headers=headers)
        assert response.status_code == 201, response.json
    response = client.post("/v1/reminders", headers=headers, json={
        "id": str(uuid.uuid4()), "kind": "checkin", "times": ["09:30"], "label": "Kratom and pain check"})
    assert response.status_code == 201, response.json
    reminder_id = response.json["id"]
    fcm.fail("UNREGISTERED", token="old-tablet")
    fcm.fail("QUOTA_EXCEEDED", token="busy-watch", retry_after="600", times=1)

    def run_jobs(when):
        time_machine.move_to(when, tick=False)
        with app.app_context():
            jobs.send_reminders()
            jobs.retry_pushes()

    due = utc(2026, 11, 21, 8, 30)                                   # 09:30 in Berlin
    run_jobs(due)
    by_token = {m["token"]: m for m in fcm.messages}
    assert sorted(by_token) == ["busy-watch", "old-tablet", "phone"]
    [occurrence] = client.get("/v1/reminders/occurrences", headers=headers).json["items"]
    message = by_token["phone"]
    assert message["notification"] == {"title": "Careloop", "body": "Time for your check-in"}
    assert "Kratom" not in json.dumps(message)
    assert message["data"] == {"type": "reminder", "occurrence_id": occurrence["id"], "kind": "checkin",
                               "stage": "reminder"}
    assert message["android"] == {"collapse_key": f"reminder-{reminder_id}", "ttl": "3600s", "priority": "high"}
    assert message["apns"]["headers"] == {"apns-priority": "10", "apns-collapse-id": f"reminder-{reminder_id}",
                                          "apns-expiration": str(int(due.timestamp()) + 3600)}
    assert message["webpush"]["headers"] == {"TTL": "3600", "Urgency": "high"}
    # Neither the 404 nor the 429 made the SDK retry or sleep on its own.
    assert fcm.request_count == 3

    with app.app_context():
        devices = {d.token: d for d in db.session.scalars(sa.select(Device))}
        assert (devices["old-tablet"].active, devices["old-tablet"].deactivated_reason) == (False, "unregistered")
        deliveries = {d.device_id: d for d in db.session.scalars(sa.select(PushDelivery))}
        throttled = deliveries[devices["busy-watch"].id]
        assert (throttled.status, throttled.attempts, throttled.error) == ("retry", 1, "throttled")
        assert deliveries[devices["old-tablet"].id].status == "failed"
        retry_at = throttled.next_attempt_at
    assert retry_at >= due + dt.timedelta(seconds=600)

    run_jobs(due + dt.timedelta(seconds=300))
    assert fcm.requests_for("busy-watch") == 1                       # not before Retry-After
    run_jobs(retry_at + dt.timedelta(seconds=1))
    run_jobs(retry_at + dt.timedelta(seconds=30))
    assert fcm.requests_for("busy-watch") == 2
    retried = fcm.messages[-1]
    assert retried["token"] == "busy-watch" and retried["data"]["occurrence_id"] == occurrence["id"]
    # It expires when the first attempt would have: the TTL is what is left of the push's hour.
    remaining = due + dt.timedelta(hours=1) - (retry_at + dt.timedelta(seconds=1))
    assert retried["android"]["ttl"] == f"{int(remaining.total_seconds())}s"
    with app.app_context():
        retried_delivery = db.session.get(PushDelivery, throttled.id)
        assert (retried_delivery.status, retried_delivery.attempts) == ("sent", 2)

    run_jobs(utc(2026, 11, 22, 8, 30))                                # the next day: the dead token is left out
    assert fcm.requests_for("old-tablet") == 1
    assert fcm.requests_for("phone") == 2 and fcm.request_count == 6


@pytest.mark.parametrize("mode", [("--once",), ()], ids=["once", "scheduled"])
def test_a_jobs_process_stopped_with_sigterm_mid_batch_finishes_it_and_nothing_is_sent_twice(
        pg, jobs_process, tmp_path, report, mode):
    """A deploy sends SIGTERM: the process stops claiming, the batch in flight is sent and recorded,
    one line is logged and it exits 0; the next process sends the rest, and nothing twice."""
    app = pg.app()
    owed = seed_due_set(app, 100, prefix=f"term-{len(mode)}")
    batch = 20
    log = tmp_path / "jobs.log"
    with FakeFCMServer() as fcm:
        fcm.delay(0.2)
        stopped = jobs_process(pg.url_string, fcm, log, *mode, batch=batch)
        wait_until(lambda: len(fcm.received) >= len(owed) // 3, "a third of the pushes reached the fake")
        signalled = time.monotonic()
        stopped.send_signal(signal.SIGTERM)
        assert stopped.wait(timeout=30) == 0
        took = time.monotonic() - signalled
        sent_before = len(fcm.received)
        assert sent_before < len(owed), "stopped too late: everything was already sent"

        fcm.delay(0.01)
        assert jobs_process(pg.url_string, fcm, log, "--once", batch=batch).wait(timeout=60) == 0
        counts = pushed(fcm)

    report(f"SIGTERM ({'--once' if mode else 'scheduled'}): pushes before / exit after / sent twice",
           f"{sent_before} of {len(owed)} / {took:.1f} s / {sum(1 for c in counts.values() if c > 1)}")
    assert set(counts) == owed
    assert set(counts.values()) == {1}
    stop_lines = [line for line in log.read_text().splitlines() if "stopped on a signal" in line]
    assert len(stop_lines) == 1 and "finished and were recorded" in stop_lines[0]
    assert_recorded_once(app, owed)
