"""Faults at the database's edge, on a real PostgreSQL reached through a TCP proxy that can be cut:
the person sees a 503 problem with Retry-After (never a 500), the log gets one line per outage
(never a traceback per request), nothing half-written stays, and the phone's retry lands once."""

import logging

import pytest
import sqlalchemy as sa

import jobs
from backend import events
from backend.checkins.models import CheckIn
from backend.errors import outages
from backend.events.models import Event
from backend.extensions import db
from backend.monitoring import handlers
from tests.conftest import Person
from tests.fakes.tcp_proxy import TCPProxy
from tests.postgres import app_on, own_postgres_database
from tests.support import assert_problem, checkin_body


@pytest.fixture
def proxied():
    """An app whose PostgreSQL (a database of its own, even in the SQLite pass) is reached through a proxy."""
    with own_postgres_database("careloop_faults") as url, TCPProxy(("127.0.0.1", 5432)) as proxy:
        via_proxy = sa.make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        with app_on(via_proxy) as app:
            yield app, proxy


def test_a_database_outage_is_a_503_with_retry_after_logged_once_and_the_retry_lands_once(proxied, caplog):
    app, proxy = proxied
    client = app.test_client()
    person = Person(app, "faults")
    assert client.get("/v1/me", headers=person.headers).status_code == 200
    bodies = [checkin_body(note="private words") for _ in range(20)]

    outages.reset()  # an outage another test reported within the last 30 s would silence this one
    proxy.cut()
    with caplog.at_level(logging.INFO):
        answers = [client.post("/v1/checkins", json=body, headers=person.headers) for body in bodies]
    for response in answers:
        assert_problem(response, 503)
        assert response.headers["Retry-After"] == "5"
    outage_lines = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(outage_lines) == 1
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert "private words" not in caplog.text

    proxy.restore()
    for body in bodies:  # the phone retries each: stored once, whatever happened before
        assert client.post("/v1/checkins", json=body, headers=person.headers).status_code == 201
        assert client.post("/v1/checkins", json=body, headers=person.headers).status_code == 201
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckIn)) == 20


def test_a_connection_lost_between_a_read_and_the_end_of_its_request_leaves_the_answer_alone(proxied, caplog):
    """A read commits nothing, so its transaction is still open when the request ends; a connection
    lost in between must not turn an answer already made into the server's bare 500 (found by the
    soak, bench/soak: gunicorn answered an HTML 500 for GET /v1/checkins at the database cut)."""
    app, proxy = proxied
    cut_after_the_view = []

    @app.after_request
    def cut(response):
        if cut_after_the_view:
            proxy.cut()
        return response

    client = app.test_client()
    person = Person(app, "faults-read")
    created = client.post("/v1/checkins", json=checkin_body(), headers=person.headers)
    assert created.status_code == 201

    outages.reset()
    cut_after_the_view.append(True)
    with caplog.at_level(logging.INFO):
        response = client.get("/v1/checkins", headers=person.headers)
    assert response.status_code == 200
    assert [item["id"] for item in response.json["items"]] == [created.json["id"]]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []

    cut_after_the_view.clear()
    proxy.restore()
    statuses = [client.get("/v1/checkins", headers=person.headers).status_code for _ in range(3)]
    assert statuses[-1] == 200 and set(statuses) <= {200, 503}   # a pooled connection that died: one 503


def test_a_connection_lost_inside_an_event_handler_is_a_database_outage_not_a_failed_handler(proxied, caplog,
                                                                                            monkeypatch):
    """The monitor job meeting a lost connection in a handler backs off as from any outage: one
    warning, no error with a traceback, the event kept pending (not counted as a failed attempt)
    and handled once the database is back (found by the soak, bench/soak)."""
    app, proxy = proxied
    client = app.test_client()
    person = Person(app, "faults-handler")
    assert client.post("/v1/checkins", json=checkin_body(side_effects=["fainting"]),
                       headers=person.headers).status_code == 201

    def cut_then_handle(event, now):
        proxy.cut()
        return handlers.on_checkin(event, now)

    table = app.extensions["careloop.registry"].event_handlers
    monkeypatch.setitem(table, events.CheckInRecorded, [cut_then_handle if handler is handlers.on_checkin else handler
                                                        for handler in table[events.CheckInRecorded]])
    monitor = jobs.JobRunner(app, next(job for job in jobs.JOBS if job.name == "monitor"))
    with caplog.at_level(logging.INFO):
        assert monitor() is None
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("job monitor: database unavailable" in r.getMessage() for r in caplog.records)

    proxy.restore()
    monkeypatch.undo()
    monitor.resume_at = 0.0
    assert monitor()
    with app.app_context():
        [event] = db.session.scalars(sa.select(Event)).all()
        assert event.processed_at is not None and event.attempts == 1 and event.last_error is None
