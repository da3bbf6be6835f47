"""Monitoring fixtures: patients with a phone (made in the frozen time of the shared `clock`), doses
and check-ins at given instants, the monitor job run in-process, the prompts the API lists and the
pushes the local transport sent."""

import uuid

import pytest
import sqlalchemy as sa

import jobs
from backend.extensions import db
from backend.push.models import LocalPush
# `local` is re-exported for the modules here that import it from this conftest.
from tests.support import iso, local  # noqa: F401

KRATOM_LIMIT = {"amount": 8, "unit": "g"}


@pytest.fixture
def patient(clock, make_person, client):
    """Factory: a person with one phone registered (token `phone-<uid>`), in a given zone."""
    def make(timezone="UTC", *, name="Pat", uid=None):
        person = make_person(uid or f"patient-{uuid.uuid4().hex[:10]}", timezone=timezone, name=name)
        person.timezone = timezone
        person.phone = f"phone-{person.uid}"
        response = client.post("/v1/devices", json={"token": person.phone, "platform": "android"},
                               headers=person.headers)
        assert response.status_code == 201, response.json
        return person
    return make


@pytest.fixture
def caregiver(patient, client):
    """Factory: a person with a phone who accepted the patient's invite; returns (person, share)."""
    def make(of, *, alerts=True, scopes=("prompts",), name="Casey"):
        person = patient(name=name)
        response = client.post("/v1/shares/invites", headers=of.headers,
                               json={"role": "caregiver", "scopes": list(scopes), "alerts": alerts})
        assert response.status_code == 201, response.json
        response = client.post("/v1/shares/accept", json={"code": response.json["code"]}, headers=person.headers)
        assert response.status_code == 201, response.json
        return person, response.json
    return make


@pytest.fixture
def plan(client):
    """Replace a person's plan through PUT /v1/plan."""
    def put(person, **settings):
        response = client.put("/v1/plan", json=settings, headers=person.headers)
        assert response.status_code == 200, response.json
        return response.json
    return put


@pytest.fixture
def dose(create_dose):
    """Log a dose taken at a UTC instant (kratom leaf powder in grams unless told otherwise)."""
    def log(person, at, amount=2.0, unit="g", **fields):
        return create_dose(person, taken_at=iso(at), amount=amount, unit=unit, **fields)
    return log


@pytest.fixture
def checkin(create_checkin):
    """Record a check-in at a UTC instant."""
    def record(person, at, **fields):
        return create_checkin(person, recorded_at=iso(at), **fields)
    return record


@pytest.fixture
def monitor(app, clock):
    """Run the monitor job (drain the outbox, push the prompts) as one pass at `when` (default: the
    frozen now), letting any error surface."""
    def run(when=None):
        if when is not None:
            clock.move_to(when, tick=False)
        with app.app_context():
            return jobs.monitor()
    return run


@pytest.fixture
def prompts(client):
    """A person's prompts as GET /v1/prompts lists them, newest first."""
    def read(person):
        response = client.get("/v1/prompts", query_string={"limit": 200}, headers=person.headers)
        assert response.status_code == 200, response.json
        return response.json["items"]
    return read


@pytest.fixture
def pushes(app):
    """What the local transport sent: (token, title, body, data) in order."""
    def read(token=None):
        with app.app_context():
            query = sa.select(LocalPush).order_by(LocalPush.id)
            if token is not None:
                query = query.where(LocalPush.token == token)
            return [(p.token, p.title, p.body, p.data) for p in db.session.scalars(query)]
    return read


def rules_of(items):
    return sorted((p["rule"], p["subject"], p["severity"]) for p in items)


@pytest.fixture
def reminder_jobs(app, clock):
    """Run the reminder jobs, then the monitor job, at `when`."""
    def run(when):
        clock.move_to(when, tick=False)
        with app.app_context():
            jobs.send_reminders()
            jobs.follow_up_checkins()
            jobs.monitor()
    return run
