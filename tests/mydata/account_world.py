"""A small world for the export and deletion tests: three people with records, phones, reminders
that were pushed, prompts with caregiver alerts, shares both ways, invites, a report link and
access-log entries, built through the API and the jobs as in life."""

import dataclasses
import datetime as dt
import secrets
import uuid

import jobs
from tests.conftest import checkin_body, dose_body

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@dataclasses.dataclass
class Lived:
    person: object
    token: str
    checkins: list
    doses: list
    reminder: dict
    old_tokens: list = dataclasses.field(default_factory=list)


def post(client, person, path, body, status=201):
    response = client.post(path, json=body, headers=person.headers)
    assert response.status_code == status, response.json
    return response.json


def live(client, person, *, dose_units=(("kratom", "leaf_powder", 2.5, "g"),), note=None):
    """A phone, two check-ins, doses, a daily check-in reminder at 09:00 UTC and a plan."""
    token = f"fcm-{person.uid}-{secrets.token_hex(24)}"
    post(client, person, "/v1/devices", {"token": token, "platform": "android"})
    checkins = [
        post(client, person, "/v1/checkins", checkin_body(recorded_at="2026-11-24T07:30:00Z", note=note,
                                                          sleep_hours=6.5, side_effects=["nausea"],
                                                          withdrawal_symptoms=["yawning", "craving"])),
        post(client, person, "/v1/checkins", checkin_body(recorded_at="2026-11-24T20:00:00Z", pain=3,
                                                          enjoyment_interference=None)),
    ]
    doses = [post(client, person, "/v1/doses", dose_body(taken_at=f"2026-11-24T{9 + i:02d}:00:00Z",
                                                         substance_kind=kind, form=form, amount=amount, unit=unit))
             for i, (kind, form, amount, unit) in enumerate(dose_units)]
    reminder = post(client, person, "/v1/reminders", {"id": str(uuid.uuid4()), "kind": "checkin",
                                                       "times": ["09:00"], "timezone": "UTC", "label": "Morning"})
    response = client.put("/v1/plan", json={"substances": {"kratom": {"daily_limit": {"amount": 8, "unit": "g"}}}},
                          headers=person.headers)
    assert response.status_code == 200, response.json
    return Lived(person, token, checkins, doses, reminder)


def share(client, patient, viewer, scopes=("checkins", "doses", "prompts")):
    """`patient` invites `viewer` (with alerts), who accepts; returns the share."""
    invite = post(client, patient, "/v1/shares/invites", {"role": "caregiver", "scopes": list(scopes), "alerts": True})
    return post(client, viewer, "/v1/shares/accept", {"code": invite["code"]})


def build(app, client, make_person, time_machine):
    """Alice (the subject of the tests), Bob her caregiver, Carol who shares her data with Alice."""
    time_machine.move_to(NOW, tick=False)
    alice = live(client, make_person("uid-alice-q7w3", name="Alice"), note="=HYPERLINK(\"http://x\")", dose_units=(
        ("kratom", "leaf_powder", 2.5, "g"), ("kratom", "concentrate_7oh", 15, "mg"),
        ("adhd_stimulant", "tablet", 200, "mcg"), ("other", "liquid", 5, "ml"), ("kratom", "capsule", 2, "capsule")))
    bob = live(client, make_person("uid-bob-k2d8", name="Bob"))
    carol = live(client, make_person("uid-carol-m9x4", name="Carol"))
    alice_to_bob = share(client, alice.person, bob.person)
    carol_to_alice = share(client, carol.person, alice.person)
    pending = post(client, alice.person, "/v1/shares/invites", {"role": "clinician", "scopes": ["checkins"]})
    link = post(client, alice.person, "/v1/report-links", {"label": "Dr Lee", "scopes": ["checkins", "doses"]})
    # Reads of someone else's data land in that person's access log.
    for reader, patient in ((bob, alice), (alice, carol)):
        response = client.get(f"/v1/patients/{patient.person.id}/checkins", headers=reader.person.headers)
        assert response.status_code == 200, response.json
    # Alice also had an old phone, which she signs out of once it got its reminder.
    alice.old_tokens.append(f"fcm-old-{secrets.token_hex(24)}")
    old_phone = post(client, alice.person, "/v1/devices", {"token": alice.old_tokens[0], "platform": "ios"})
    # The jobs: due reminders pushed to every phone, events turned into prompts (Alice's 7-OH dose
    # is a high-severity one, pushed to her and, as an alert, to Bob), pushes recorded locally.
    time_machine.move_to(NOW + dt.timedelta(hours=1, minutes=1), tick=False)
    with app.app_context():
        jobs.send_reminders()
        jobs.monitor()
    response = client.delete(f"/v1/devices/{old_phone['id']}", headers=alice.person.headers)
    assert response.status_code == 204
    return dataclasses.make_dataclass("World", ["alice", "bob", "carol", "alice_to_bob", "carol_to_alice",
                                                "pending_invite", "report_link"])(
        alice, bob, carol, alice_to_bob, carol_to_alice, pending, link)
