"""Fixtures: one app and a real database per run (SQLite by default, PostgreSQL when
TEST_DATABASE_URL says so), a clean state per test, a frozen clock, and factories for users and
records."""

import os
import threading
import uuid

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from backend import budgets, create_app
from backend.accounts.auth import known_accounts
from backend.config import DEV_PROJECT_ID
from backend.devtokens import emulator_id_token
from backend.extensions import db, limiter
# Re-exported: modules written before tests/support.py import these from here.
from tests.support import NOW, checkin_body, dose_body, iso, reminder_body  # noqa: F401


# Fakes at the network edge, installed through the app's declared seams.
pytest_plugins = ["tests.fakes.transports"]


def pytest_report_header(config):
    return f"careloop database: {database_kind()}"


def database_kind():
    url = os.environ.get("TEST_DATABASE_URL", "")
    return "postgresql" if url.startswith("postgres") else "sqlite"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "careloop-test.sqlite3")


def reset_database(engine):
    """Start the run from an empty schema, whatever an earlier run left behind."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    else:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        metadata.drop_all(engine)


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    from flask_migrate import upgrade

    os.environ.pop("FIREBASE_AUTH_EMULATOR_HOST", None)
    app = create_app({
        "TESTING": True,
        "CARELOOP_ENV": "development",
        "DATABASE_URL": database_url,
        "FIREBASE_PROJECT_ID": DEV_PROJECT_ID,
        "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099",
        "CARELOOP_PUSH": "local",
    })
    with app.app_context():
        reset_database(db.engine)
        upgrade()
        db.engine.dispose()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def clean_database(request):
    """Empty every table after each test that touched the database."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")
            else:
                for table in tables:
                    connection.exec_driver_sql(f"DELETE FROM {table}")


@pytest.fixture(autouse=True)
def fresh_process_memory(request):
    """Rate-limit counters and the accounts a process knows live in its memory, beyond the per-test
    database reset (which deletes accounts behind the app's back)."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    limiter.reset()
    budgets.reset()
    known_accounts(app).clear()
    yield
    limiter.reset()
    budgets.reset()
    known_accounts(app).clear()


@pytest.fixture
def clock(time_machine):
    """Time stands still at NOW until a test moves it: `clock.move_to(when, tick=False)`."""
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture
def app_context(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


class Person:
    """An app user as the tests see them: a uid, request headers, and their database row."""

    def __init__(self, app, uid, name=None):
        self.app = app
        self.uid = uid
        self.token = emulator_id_token(uid, app.config["FIREBASE_PROJECT_ID"], name=name)
        self.headers = {"Authorization": f"Bearer {self.token}"}

    @property
    def user(self):
        from backend.accounts.models import User
        return db.session.scalar(sa.select(User).where(User.firebase_uid == self.uid))


@pytest.fixture
def make_person(app, client):
    """Factory: a signed-in person whose user row exists (created through the API, as in life)."""
    def make(uid=None, *, timezone=None, name=None):
        person = Person(app, uid or f"user-{uuid.uuid4().hex[:12]}", name=name)
        response = client.get("/v1/me", headers=person.headers)
        assert response.status_code == 200, response.json
        person.id = response.json["id"]
        if timezone:
            response = client.patch("/v1/me", json={"timezone": timezone}, headers=person.headers)
            assert response.status_code == 200, response.json
        return person
    return make


@pytest.fixture
def alice(make_person):
    return make_person("alice", name="Alice")


@pytest.fixture
def bob(make_person):
    return make_person("bob", name="Bob")


def _creator(client, path, body):
    """Factory: POST `body(**fields)` to `path` for a person and return the 201 response's JSON."""
    def create(person, **fields):
        response = client.post(path, json=body(**fields), headers=person.headers)
        assert response.status_code == 201, response.json
        return response.json
    return create


@pytest.fixture
def create_checkin(client):
    """Factory: POST a check-in for a person and return the response JSON."""
    return _creator(client, "/v1/checkins", checkin_body)


@pytest.fixture
def create_dose(client):
    """Factory: POST a dose for a person and return the response JSON."""
    return _creator(client, "/v1/doses", dose_body)


@pytest.fixture
def create_reminder(client):
    """Factory: POST a reminder schedule for a person and return the response JSON."""
    return _creator(client, "/v1/reminders", reminder_body)


@pytest.fixture
def live_server(app):
    """The app served over HTTP on a free local port, for the length of one test (real browsers,
    real phones)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
