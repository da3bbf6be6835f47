"""The outbox: an event exists exactly when its write was committed; one person's events are handled
in order, by one drain at a time; a failing handler is retried with backoff and blocks nobody."""

import contextlib
import datetime as dt
import logging
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from backend import events
from backend.accounts.models import User
from backend.config import DEV_PROJECT_ID
from backend.devtokens import emulator_id_token
from backend.doses.models import Dose
from backend.events.drain import MAX_ATTEMPTS, drain_events
from backend.wiring import EVENT_HANDLERS as HANDLERS
from backend.events.models import Event
from backend.extensions import db
from tests.postgres import own_postgres_app
from tests.support import NOW, assert_problem, dose_body

SECOND = dt.timedelta(seconds=1)


def outbox(app):
    """(user id, event name, payload) of every event, in the order written."""
    with app.app_context():
        return [(str(e.user_id), e.name, e.payload) for e in db.session.scalars(sa.select(Event).order_by(Event.id))]


def event_rows(app):
    with app.app_context():
        rows = db.session.scalars(sa.select(Event).order_by(Event.id)).all()
        db.session.expunge_all()
        return rows


# Writes and their events -------------------------------------------------------------------------

def test_each_write_that_matters_records_its_event(patient, caregiver, dose, checkin, client, app):
    person = patient()
    logged = dose(person, NOW)
    recorded = checkin(person, NOW, pain=3)
    client.patch(f"/v1/doses/{logged['id']}", json={"amount": 3}, headers=person.headers)
    client.patch(f"/v1/checkins/{recorded['id']}", json={"pain": 4}, headers=person.headers)
    _, share = caregiver(person)
    client.delete(f"/v1/shares/{share['id']}", headers=person.headers)
    assert outbox(app) == [
        (person.id, "DoseLogged", {"dose_id": logged["id"]}),
        (person.id, "CheckInRecorded", {"checkin_id": recorded["id"]}),
        (person.id, "DoseChanged", {"dose_id": logged["id"]}),
        (person.id, "CheckInChanged", {"checkin_id": recorded["id"]}),
    ]  # shares are read live when a push goes out: accepting or ending one needs no event


def test_a_retried_create_and_an_unchanged_patch_record_no_second_event(patient, client, app):
    person = patient()
    body = dose_body()
    for _ in range(3):
        # One success status per endpoint: a retry answers 201 with the stored dose, as the first try did.
        assert client.post("/v1/doses", json=body, headers=person.headers).status_code == 201
    client.patch(f"/v1/doses/{body['id']}", json={"amount": body["amount"]}, headers=person.headers)
    assert [name for _, name, _ in outbox(app)] == ["DoseLogged"]


@contextlib.contextmanager
def commits_fail(app):
    """Every COMMIT on the app's engine fails, and the database ends the transaction (as PostgreSQL
    does when a COMMIT fails, or any database when the connection breaks at that moment)."""
    with app.app_context():
        dialect = db.engine.dialect

    def refuse(dbapi_connection):
        dbapi_connection.rollback()
        raise dialect.dbapi.OperationalError("the database went away during COMMIT")
    dialect.do_commit = refuse
    try:
        yield
    finally:
        del dialect.do_commit            # the class's own method again


def commit_failure_status(app):
    """What a COMMIT that fails with "the database went away" answers: 503 "try again shortly" on
    PostgreSQL, where that means the server is out of reach; on SQLite an OperationalError that is
    not "busy" is a failed statement, a 500 (backend.errors)."""
    with app.app_context():
        return 503 if db.engine.dialect.name == "postgresql" else 500


def test_a_failing_commit_leaves_neither_the_write_nor_its_event(patient, client, app, dose):
    person = patient()
    body = dose_body(amount=2)
    with commits_fail(app):
        response = client.post("/v1/doses", json=body, headers=person.headers)
    assert_problem(response, commit_failure_status(app))
    with app.app_context():
        assert db.session.get(Dose, uuid.UUID(body["id"])) is None
    assert outbox(app) == []

    logged = dose(person, NOW, 2)
    with commits_fail(app):
        response = client.patch(f"/v1/doses/{logged['id']}", json={"amount": 9}, headers=person.headers)
    assert_problem(response, commit_failure_status(app))
    assert client.get(f"/v1/doses/{logged['id']}", headers=person.headers).json["amount"] == 2
    assert [name for _, name, _ in outbox(app)] == ["DoseLogged"]


# Draining ----------------------------------------------------------------------------------------

@pytest.fixture
def recorded_handling(monkeypatch):
    """Replace every handler by one that records (user id, event) in the order handled."""
    handled = []

    def record(event, now):
        handled.append((str(event.user_id), event))
    for event_type in list(HANDLERS):
        monkeypatch.setitem(HANDLERS, event_type, [record])
    return handled


def test_events_of_one_user_are_handled_in_the_order_written(patient, dose, checkin, client, monitor,
                                                             recorded_handling):
    first, second = patient(), patient()
    written = {first.id: [], second.id: []}
    for n in range(4):
        for person in (second, first):
            logged = dose(person, NOW - n * SECOND)
            written[person.id].append(events.DoseLogged(uuid.UUID(person.id), uuid.UUID(logged["id"])))
            recorded = checkin(person, NOW, pain=n)
            written[person.id].append(events.CheckInRecorded(uuid.UUID(person.id), uuid.UUID(recorded["id"])))
            client.patch(f"/v1/doses/{logged['id']}", json={"amount": 5}, headers=person.headers)
            written[person.id].append(events.DoseChanged(uuid.UUID(person.id), uuid.UUID(logged["id"])))
    assert monitor() == 24
    for person in (first, second):
        assert [event for user, event in recorded_handling if user == person.id] == written[person.id]


def test_a_failing_handler_is_logged_and_retried_with_backoff_without_blocking_others(
        patient, dose, monitor, prompts, plan, app, caplog, monkeypatch):
    unlucky, others = patient(), patient()
    plan(others, substances={"kratom": {"daily_limit": {"amount": 1, "unit": "g"}}})
    failures, healed = [], threading.Event()

    def flaky(event, now):
        """Fails for the unlucky person until healed."""
        if str(event.user_id) == unlucky.id and not healed.is_set():
            failures.append(now)
            raise RuntimeError("the rules service is having a bad day")
    monkeypatch.setitem(HANDLERS, events.DoseLogged, [flaky, *HANDLERS[events.DoseLogged]])

    dose(unlucky, NOW, 2)
    dose(others, NOW, 2)
    with caplog.at_level(logging.ERROR, logger="backend.events.drain"):
        monitor(NOW)
    assert len(prompts(others)) == 1                 # the other person's event went through at once
    assert "DoseLogged" in caplog.text and "handler flaky failed" in caplog.text
    assert "bad day" in caplog.text                 # with its traceback
    [row, done] = event_rows(app)
    assert (row.attempts, row.processed_at, row.next_attempt_at) == (1, None, NOW + 30 * SECOND)
    assert row.last_error == "flaky: RuntimeError"
    assert done.processed_at == NOW

    monitor(NOW + 29 * SECOND)                       # not yet due again
    assert failures == [NOW]
    monitor(NOW + 30 * SECOND)                       # retried, fails again: the delay doubles
    assert failures == [NOW, NOW + 30 * SECOND]
    assert event_rows(app)[0].next_attempt_at == NOW + 90 * SECOND
    monitor(NOW + 89 * SECOND)
    assert len(failures) == 2

    healed.set()
    monitor(NOW + 90 * SECOND)
    [row, _] = event_rows(app)
    assert (row.attempts, row.processed_at) == (3, NOW + 90 * SECOND)


def test_a_handler_that_never_succeeds_is_given_up_after_the_last_attempt(patient, dose, monitor, app, caplog,
                                                                          monkeypatch):
    def broken(event, now):
        raise ValueError("always")
    monkeypatch.setitem(HANDLERS, events.DoseLogged, [broken])
    dose(patient(), NOW)
    when = NOW
    with caplog.at_level(logging.ERROR, logger="backend.events.drain"):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            monitor(when)
            [row] = event_rows(app)
            assert row.attempts == attempt
            when = row.next_attempt_at or when
    assert row.processed_at == when
    assert f"given up after {MAX_ATTEMPTS} attempts" in caplog.text
    monitor(when + dt.timedelta(days=1))
    assert event_rows(app)[0].attempts == MAX_ATTEMPTS


def test_one_failing_handler_does_not_stop_the_other_handlers_of_the_event(patient, dose, monitor, app,
                                                                           monkeypatch, recorded_handling):
    def broken(event, now):
        raise ValueError("always")
    record = HANDLERS[events.DoseLogged][0]
    monkeypatch.setitem(HANDLERS, events.DoseLogged, [broken, record])
    person = patient()
    dose(person, NOW)
    monitor()
    assert [user for user, _ in recorded_handling] == [person.id]


def test_what_a_failing_handler_wrote_is_rolled_back(patient, dose, monitor, prompts, monkeypatch):
    from backend.monitoring import handlers as monitoring

    def raise_after_the_rules(event, now):
        assert monitoring.on_dose(event, now)          # it did raise a prompt …
        raise RuntimeError("… and then failed")
    monkeypatch.setitem(HANDLERS, events.DoseLogged, [raise_after_the_rules])
    person = patient()
    dose(person, NOW, 5, "mg", form="concentrate_7oh")
    monitor()
    assert prompts(person) == []
    monkeypatch.setitem(HANDLERS, events.DoseLogged, [monitoring.on_dose])
    monitor(NOW + 30 * SECOND)
    assert [p["rule"] for p in prompts(person)] == ["concentrated_7oh"]


# PostgreSQL: drains side by side -----------------------------------------------------------------

@pytest.fixture
def pg_app():
    """An app on a PostgreSQL database of its own (even when the run is on SQLite)."""
    with own_postgres_app("careloop_mon_outbox") as app:
        yield app


def seed_events(app, users, per_user):
    """Users with `per_user` DoseLogged events each, written interleaved across users; the dose ids
    number the events of each user in the order written."""
    with app.app_context():
        people = [User(firebase_uid=f"drain-{n}", timezone="UTC") for n in range(users)]
        db.session.add_all(people)
        db.session.flush()
        for k in range(per_user):
            for person in people:
                events.record(events.DoseLogged(person.id, uuid.UUID(int=k)))
                db.session.flush()
        db.session.commit()
        return [person.id for person in people]


class Watcher:
    """A handler that records which thread handled which event, and notices two threads working on
    one person's events at the same time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.busy = {}                 # user id → thread name
        self.overlaps = []
        self.handled = []              # (thread name, user id, k)
        self.hold = None               # (thread name, threading.Event reached, threading.Event release)

    def __call__(self, event, now):
        name = threading.current_thread().name
        with self.lock:
            if self.busy.get(event.user_id, name) != name:
                self.overlaps.append((event.user_id, self.busy[event.user_id], name))
            self.busy[event.user_id] = name
            self.handled.append((name, event.user_id, event.dose_id.int))
        if self.hold and self.hold[0] == name and not self.hold[1].is_set():
            self.hold[1].set()
            if not self.hold[2].wait(timeout=60):
                raise RuntimeError("never released")
        with self.lock:
            self.busy.pop(event.user_id, None)

    def by_user(self):
        result = {}
        for name, user, k in self.handled:
            result.setdefault(user, []).append((name, k))
        return result


class Drainer(threading.Thread):
    """Drains in committed batches, in its own app context (so its own session and connection)."""

    def __init__(self, app, name, batch_size, start_line=None, once=False):
        super().__init__(name=name, daemon=True)
        self.app, self.batch_size, self.start_line, self.once = app, batch_size, start_line, once
        self.batches, self.error = [], None

    def run(self):
        try:
            with self.app.app_context():
                if self.start_line:
                    self.start_line.wait(timeout=30)
                while True:
                    handled = drain_events(dt.datetime.now(dt.timezone.utc), batch_size=self.batch_size)
                    db.session.commit()
                    self.batches.append(handled)
                    if self.once or not handled:
                        break
                db.session.remove()
        except Exception as error:  # surfaced by the test, not lost in the thread
            self.error = error

    def finish(self):
        self.join(timeout=120)
        assert not self.is_alive(), f"{self.name} did not finish"
        if self.error:
            raise self.error


def test_two_drains_racing_handle_every_event_once_in_order(pg_app, monkeypatch):
    users = seed_events(pg_app, users=60, per_user=4)
    watcher = Watcher()
    monkeypatch.setitem(HANDLERS, events.DoseLogged, [watcher])
    start_line = threading.Barrier(2)
    drainers = [Drainer(pg_app, name, batch_size=4, start_line=start_line) for name in ("drain-a", "drain-b")]
    for drainer in drainers:
        drainer.start()
    for drainer in drainers:
        drainer.finish()

    by_user = watcher.by_user()
    assert watcher.overlaps == []
    assert sorted(by_user) == sorted(users)
    for user, handled in by_user.items():
        assert [k for _, k in handled] == [0, 1, 2, 3], f"{user}: {handled}"
        assert len({name for name, _ in handled}) == 1   # one person's batch belongs to one drain
    assert all(drainer.batches[-1] == 0 for drainer in drainers)
    assert sum(sum(d.batches) for d in drainers) == 240


def test_a_drain_never_takes_a_person_another_drain_is_working_on(pg_app, monkeypatch):
    users = seed_events(pg_app, users=20, per_user=3)
    watcher = Watcher()
    reached, release = threading.Event(), threading.Event()
    watcher.hold = ("drain-a", reached, release)
    monkeypatch.setitem(HANDLERS, events.DoseLogged, [watcher])

    slow = Drainer(pg_app, "drain-a", batch_size=5, once=True)
    slow.start()
    assert reached.wait(timeout=60), "drain-a never started handling"
    try:
        fast = Drainer(pg_app, "drain-b", batch_size=5)
        fast.start()
        fast.finish()
    finally:
        release.set()
    slow.finish()

    by_user = watcher.by_user()
    held = {user for user, handled in by_user.items() if {name for name, _ in handled} == {"drain-a"}}
    taken_by_b = {user for user, handled in by_user.items() if {name for name, _ in handled} == {"drain-b"}}
    assert len(held) == 5 and len(taken_by_b) == 15 and held | taken_by_b == set(users)
    assert sum(fast.batches) == 45 and fast.batches[-1] == 0    # it finished while drain-a held its people
    assert all([k for _, k in handled] == [0, 1, 2] for handled in by_user.values())
    assert watcher.overlaps == []
    with pg_app.app_context():
        assert drain_events(dt.datetime.now(dt.timezone.utc)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).where(Event.processed_at.is_(None))) == 0


def test_a_drain_in_progress_does_not_hold_up_the_persons_own_writes(pg_app, monkeypatch):
    """The claim on a person must not stop the API from inserting their rows (whose foreign keys
    lock the person's row FOR KEY SHARE) while their earlier events are being handled."""
    client = pg_app.test_client()
    headers = {"Authorization": f"Bearer {emulator_id_token('busy-writer', DEV_PROJECT_ID)}"}
    assert client.post("/v1/doses", json=dose_body(), headers=headers).status_code == 201
    watcher = Watcher()
    reached, release = threading.Event(), threading.Event()
    watcher.hold = ("drain-a", reached, release)
    monkeypatch.setitem(HANDLERS, events.DoseLogged, [watcher])
    slow = Drainer(pg_app, "drain-a", batch_size=5, once=True)
    slow.start()
    try:
        assert reached.wait(timeout=60)
        answers = []
        writer = threading.Thread(target=lambda: answers.append(
            pg_app.test_client().post("/v1/doses", json=dose_body(), headers=headers).status_code), daemon=True)
        writer.start()
        deadline = time.monotonic() + 30
        while writer.is_alive() and time.monotonic() < deadline and not sessions_waiting_for_a_lock(pg_app):
            writer.join(timeout=0.01)
        assert not sessions_waiting_for_a_lock(pg_app), "the write waits for the drain's lock on the person"
        writer.join(timeout=30)
        assert answers == [201]
    finally:
        release.set()
        slow.finish()
    assert outbox_count(pg_app) == (2, 1)             # both doses recorded; the second is still to handle


def sessions_waiting_for_a_lock(app):
    with app.app_context():
        engine = db.engine
    with engine.connect() as connection:
        return connection.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))


def outbox_count(app):
    with app.app_context():
        total = db.session.scalar(sa.select(sa.func.count()).select_from(Event))
        pending = db.session.scalar(sa.select(sa.func.count()).where(Event.processed_at.is_(None)))
        db.session.remove()
        return total, pending
