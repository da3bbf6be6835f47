"""A process knows which account a verified token signs in as without a query per request
(backend.accounts.auth.Expiring), and an account deleted elsewhere cannot act through that
knowledge: no write lands, no profile is read, and signing in again starts a new account."""

import uuid

import pytest
import sqlalchemy as sa

from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.doses.models import Dose
from backend.events.models import Event
from backend.extensions import db, limiter
from tests.postgres import own_postgres_app
from tests.support import checkin_body, count, dose_body


def delete_elsewhere(app, person):
    """What another process does when the person deletes their account there: the rows go, and
    this process is not told."""
    with app.app_context():
        db.session.execute(sa.delete(User).where(User.id == uuid.UUID(person.id)))
        db.session.commit()


def test_a_known_account_creates_in_one_statement_and_the_commit(app, client, alice):
    statements = []

    def note(conn, cursor, statement, *args):
        statements.append(statement.split(None, 1)[0].upper())

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = client.post("/v1/checkins", json=checkin_body(), headers=alice.headers)
    finally:
        with app.app_context():
            sa.event.remove(db.engine, "before_cursor_execute", note)
    assert response.status_code == 201
    # No look-up of the account; on PostgreSQL the change number, the check-in and its outbox event
    # are one statement (SQLite, in-process, takes one statement each after its BEGIN IMMEDIATE).
    expected = (["WITH"] if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
                else ["BEGIN", "INSERT", "INSERT", "INSERT"])
    assert statements == expected
    assert count(app, CheckIn, id=uuid.UUID(response.json["id"])) == 1
    assert count(app, Event, name="CheckInRecorded") == 1


@pytest.mark.parametrize("path, body", [("/v1/checkins", checkin_body), ("/v1/doses", dose_body)])
def test_a_write_by_an_account_deleted_elsewhere_is_401_and_stores_nothing(app, client, alice, path, body):
    delete_elsewhere(app, alice)
    response = client.post(path, json=body(), headers=alice.headers)
    assert response.status_code == 401, response.json
    assert response.json["type"] == "https://careloop.app/problems/account-deleted"
    assert (count(app, CheckIn), count(app, Dose), count(app, Event)) == (0, 0, 0)
    # The process forgot the id: signing in again is a new, empty account.
    response = client.get("/v1/me", headers=alice.headers)
    assert response.status_code == 200
    assert response.json["id"] != alice.id
    assert client.get(path, headers=alice.headers).json["items"] == []


def test_a_profile_read_by_an_account_deleted_elsewhere_is_401_then_a_new_account(app, client, alice):
    delete_elsewhere(app, alice)
    first = client.get("/v1/me", headers=alice.headers)
    assert first.status_code == 401 and first.mimetype == "application/problem+json"
    second = client.get("/v1/me", headers=alice.headers)
    assert second.status_code == 200 and second.json["id"] != alice.id


def test_deleting_the_account_here_forgets_it_at_once(app, client, alice):
    response = client.delete("/v1/me", json={"confirm": "delete my account and data"}, headers=alice.headers)
    assert response.status_code == 204, response.json
    response = client.post("/v1/checkins", json=checkin_body(), headers=alice.headers)
    assert response.status_code == 201
    assert response.json["id"] and count(app, User) == 1
    with app.app_context():
        assert str(db.session.scalar(sa.select(User.id))) != alice.id


def test_apps_on_other_databases_know_their_own_accounts(app, client, alice):
    """Two apps in one process (the tests and benchmarks build several): the same uid is an
    account of each database, never the other's."""
    with own_postgres_app("known_accounts") as other:
        response = other.test_client().get("/v1/me", headers=alice.headers)
        assert response.status_code == 200 and response.json["id"] != alice.id
        response = other.test_client().post("/v1/checkins", json=checkin_body(), headers=alice.headers)
        assert response.status_code == 201
        assert count(other, CheckIn) == 1
    limiter.init_app(app)  # the shared limiter goes back to the session's app
    assert count(app, CheckIn) == 0
    assert client.get("/v1/me", headers=alice.headers).json["id"] == alice.id
