"""Monitoring end to end: the API, the monitor job in-process, the real firebase-admin SDK and the
fake FCM server. What reached each device is asserted message by message.

The app here is one of its own (CARELOOP_PUSH=firebase at the fake), on a fresh SQLite file, or on a
fresh PostgreSQL database when the run is on PostgreSQL."""

import datetime as dt
import os
import uuid

import pytest

import jobs
from backend import create_app
from backend.config import DEV_AUTH_EMULATOR_HOST, DEV_PROJECT_ID
from backend.devtokens import emulator_id_token
from backend.extensions import db
from backend.push.models import PushDelivery
from tests.fakes.fcm_server import FakeFCMServer
from backend import close_app
from tests.support import local
from tests.postgres import own_postgres_database
from tests.monitoring.test_prompts_api import assert_discreet

ZONE = "America/New_York"
NOW = local(ZONE, 2026, 11, 25, 13, 0)


@pytest.fixture
def e2e_database_url(tmp_path):
    if os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"):
        with own_postgres_database("careloop_mon_e2e") as url:
            yield url
    else:
        yield "sqlite:///" + str(tmp_path / "careloop-e2e.sqlite3")


@pytest.fixture
def fcm():
    with FakeFCMServer() as server:
        yield server


@pytest.fixture
def firebase_app(e2e_database_url, fcm):
    from flask_migrate import upgrade

    app = create_app({
        "TESTING": True, "CARELOOP_ENV": "development", "DATABASE_URL": e2e_database_url,
        "FIREBASE_PROJECT_ID": DEV_PROJECT_ID, "FIREBASE_AUTH_EMULATOR_HOST": DEV_AUTH_EMULATOR_HOST,
        "CARELOOP_PUSH": "firebase", "CARELOOP_FCM_ENDPOINT": fcm.url})
    with app.app_context():
        upgrade()
    try:
        yield app
    finally:
        close_app(app)


class Phone:
    """Someone using the app: signs in, registers devices, and calls the API."""

    def __init__(self, client, uid, name):
        self.client = client
        self.headers = {"Authorization": f"Bearer {emulator_id_token(uid, DEV_PROJECT_ID, name=name)}"}
        self.id = self.call("get", "/v1/me")["id"]

    def call(self, method, path, expect=200, **kwargs):
        response = getattr(self.client, method)(path, headers=self.headers, **kwargs)
        assert response.status_code == expect, response.json
        return response.json


def test_patient_and_caregiver_devices_receive_exactly_the_prompts_and_alerts_due(firebase_app, fcm, time_machine):
    time_machine.move_to(NOW, tick=False)
    client = firebase_app.test_client()

    def monitor_pass(minutes):
        """One run of the monitor job (the scheduler makes one every 2 seconds), `minutes` after NOW."""
        time_machine.move_to(NOW + dt.timedelta(minutes=minutes), tick=False)
        with firebase_app.app_context():
            jobs.monitor()

    def received():
        messages = [dict(m) for m in fcm.messages]
        fcm.reset()
        return messages

    # Set up from the phones: devices, time zone, an invite with alerts, a plan with a kratom limit.
    patient = Phone(client, "e2e-patient", "Robin")
    carer = Phone(client, "e2e-carer", "Casey")
    patient.call("patch", "/v1/me", json={"timezone": ZONE, "name_in_caregiver_alerts": True})
    for who, token, platform in ((patient, "patient-phone", "android"), (patient, "patient-tablet", "ios"),
                                 (carer, "carer-phone", "android")):
        who.call("post", "/v1/devices", 201, json={"token": token, "platform": platform})
    invite = patient.call("post", "/v1/shares/invites", 201,
                          json={"role": "caregiver", "scopes": ["prompts", "doses"], "alerts": True})
    carer.call("post", "/v1/shares/accept", 201, json={"code": invite["code"]})
    patient.call("put", "/v1/plan", json={"substances": {"kratom": {"daily_limit": {"amount": 8, "unit": "g"}}}})

    def log_dose(hour, minute, amount, unit, **fields):
        body = {"id": str(uuid.uuid4()), "taken_at": local(ZONE, 2026, 11, 25, hour, minute).isoformat(),
                "substance_kind": "kratom", "form": "leaf_powder", "amount": amount, "unit": unit, **fields}
        patient.call("post", "/v1/doses", 201, json=body)

    # 1. Over the daily limit: a warning, pushed to the patient's two devices only.
    log_dose(8, 0, 5, "g")
    log_dose(12, 0, 4000, "mg")
    monitor_pass(1)
    [limit] = patient.call("get", "/v1/prompts")["items"]
    assert (limit["rule"], limit["severity"]) == ("daily_limit", "warning")
    first = received()
    assert sorted((m["token"], m["notification"]["body"], m["data"]["type"], m["android"]["priority"])
                  for m in first) == [
        ("patient-phone", "You have a new update", "prompt", "normal"),
        ("patient-tablet", "You have a new update", "prompt", "normal")]
    assert all(m["data"] == {"type": "prompt", "prompt_id": limit["id"]} for m in first)

    # 2. An opioid 30 minutes after kratom: high, pushed at once, and the caregiver is alerted (the
    # urgent text, with the name Robin chose to have said).
    log_dose(12, 30, 10, "mg", substance_kind="opioid", form="tablet")
    monitor_pass(2)
    combination = patient.call("get", "/v1/prompts")["items"][0]
    assert (combination["rule"], combination["subject"], combination["severity"]) == ("combination", "opioid", "high")
    second = received()
    assert sorted((m["token"], m["notification"]["body"], m["android"]["priority"]) for m in second) == [
        ("carer-phone", "Please check on Robin now", "high"),
        ("patient-phone", "An important update needs your attention", "high"),
        ("patient-tablet", "An important update needs your attention", "high")]
    by_token = {m["token"]: m for m in second}
    assert by_token["carer-phone"]["data"] == {"type": "alert", "prompt_id": combination["id"],
                                               "patient_id": patient.id}
    assert by_token["patient-tablet"]["apns"]["headers"]["apns-priority"] == "10"

    # 3. A check-in noting dark urine: liver warning signs, high again.
    patient.call("post", "/v1/checkins", 201, json={
        "id": str(uuid.uuid4()), "recorded_at": local(ZONE, 2026, 11, 25, 12, 45).isoformat(), "pain": 6,
        "side_effects": ["dark_urine", "itching"]})
    monitor_pass(3)
    liver = patient.call("get", "/v1/prompts")["items"][0]
    assert (liver["rule"], liver["severity"]) == ("liver", "high")
    assert "seek medical care today" in liver["message"]
    third = received()
    assert sorted((m["token"], m["data"]["type"], m["data"]["prompt_id"]) for m in third) == [
        ("carer-phone", "alert", liver["id"]), ("patient-phone", "prompt", liver["id"]),
        ("patient-tablet", "prompt", liver["id"])]

    # Nothing on any lock screen, in any payload or header, says what happened.
    for message in first + second + third:
        assert message["notification"]["title"] == "Careloop"
        assert_discreet(message)

    # More passes of the job, later: nothing is pushed twice.
    for minutes in (4, 5, 60):
        monitor_pass(minutes)
    assert received() == []

    # The caregiver sees the same prompts in their scoped view; the patient sees that they looked.
    seen = carer.call("get", f"/v1/patients/{patient.id}/prompts")["items"]
    assert [p["id"] for p in seen] == [liver["id"], combination["id"], limit["id"]]
    [entry] = patient.call("get", "/v1/me/access-log")["items"]
    assert (entry["who"], entry["data_kind"]) == ("Casey", "prompts")
    with firebase_app.app_context():
        statuses = [d.status for d in db.session.scalars(db.select(PushDelivery))]
    assert statuses == ["sent"] * 8
