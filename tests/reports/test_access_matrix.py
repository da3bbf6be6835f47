"""Who may read a patient's data: every patient-data endpoint, called by every kind of caller.

Alice is the patient, with one check-in, one dose (each with a note) and one monitoring prompt.
The callers:

  owner                   Alice herself
  other patient           an app user Alice shares nothing with
  caregiver in scope      linked to Alice with exactly the scopes the endpoint's data needs
  caregiver out of scope  linked to Alice with every scope except those
  revoked caregiver       was linked with every scope, until Alice ended the share
  anonymous               no Authorization header
  expired link token      the token of Alice's expired report link, sent as a bearer token

POLICY below is the rule; the test only walks it. A caregiver reads Alice's data under
/v1/patients/{id}/… and nowhere else: her own record routes answer anyone but her as if the record
did not exist, and the lists at /v1/checkins, /v1/doses and /v1/prompts are always the caller's own.
The summary is the one read any live share allows; it leaves out each section outside the scopes.
"""

import datetime as dt
import uuid

import pytest

from backend.extensions import db
from backend.monitoring.models import Prompt
from backend.sharing.models import SCOPES
from tests.reports.conftest import NOW, access_log

NOTE = "Wombat-shaped flare-up, 0451"

# Outcomes besides a problem+json status code:
DATA = "200, with Alice's data"
WITHOUT_SECTIONS = "200, who and when only: no section her scopes leave out"
OWN_ONLY = "200, the caller's own records only: none of Alice's"

ROLES = ("owner", "other patient", "caregiver in scope", "caregiver out of scope", "revoked caregiver",
         "anonymous", "expired link token")

# What each endpoint shows, and the scopes its data needs.
ENDPOINTS = {
    "/v1/patients/{alice}/summary": ("summary", ("checkins", "doses")),
    "/v1/patients/{alice}/checkins": ("checkin", ("checkins",)),
    "/v1/patients/{alice}/doses": ("dose", ("doses",)),
    "/v1/patients/{alice}/prompts": ("prompt", ("prompts",)),
    "/v1/checkins/{checkin}": ("checkin", ("checkins",)),
    "/v1/doses/{dose}": ("dose", ("doses",)),
    "/v1/checkins": ("checkin", ("checkins",)),
    "/v1/doses": ("dose", ("doses",)),
    "/v1/doses/daily-totals?from=2026-11-20&to=2026-11-20": ("daily total", ("doses",)),
    "/v1/prompts": ("prompt", ("prompts",)),
}

POLICY = {
    #                                 owner  other     caregiver  caregiver          revoked   anonymous  expired
    #                                        patient   in scope   out of scope       caregiver            link token
    "/v1/patients/{alice}/summary":  (DATA, 404,      DATA,      WITHOUT_SECTIONS,  404,      401,       401),
    "/v1/patients/{alice}/checkins": (DATA, 404,      DATA,      403,               404,      401,       401),
    "/v1/patients/{alice}/doses":    (DATA, 404,      DATA,      403,               404,      401,       401),
    "/v1/patients/{alice}/prompts":  (DATA, 404,      DATA,      403,               404,      401,       401),
    "/v1/checkins/{checkin}":        (DATA, 404,      404,       404,               404,      401,       401),
    "/v1/doses/{dose}":              (DATA, 404,      404,       404,               404,      401,       401),
    "/v1/checkins":                  (DATA, OWN_ONLY, OWN_ONLY,  OWN_ONLY,          OWN_ONLY, 401,       401),
    "/v1/doses":                     (DATA, OWN_ONLY, OWN_ONLY,  OWN_ONLY,          OWN_ONLY, 401,       401),
    "/v1/doses/daily-totals?from=2026-11-20&to=2026-11-20":
                                     (DATA, OWN_ONLY, OWN_ONLY,  OWN_ONLY,          OWN_ONLY, 401,       401),
    "/v1/prompts":                   (DATA, OWN_ONLY, OWN_ONLY,  OWN_ONLY,          OWN_ONLY, 401,       401),
}

CELLS = [(path, role, outcome) for path, row in POLICY.items() for role, outcome in zip(ROLES, row, strict=True)]


def test_the_policy_covers_every_endpoint_and_role():
    assert set(POLICY) == set(ENDPOINTS)
    assert all(len(row) == len(ROLES) for row in POLICY.values())


def test_every_route_under_a_patient_is_in_the_policy(app):
    under_a_patient = {rule.rule.replace("<uuid:patient_id>", "{alice}") for rule in app.url_map.iter_rules()
                       if rule.rule.startswith("/v1/patients/")}
    assert under_a_patient == {path for path in POLICY if path.startswith("/v1/patients/")}


@pytest.fixture
def world(app, client, clock, alice, create_checkin, create_dose):
    """Alice's data, and her report link that expired a day ago; the clock stands two days on."""
    checkin = create_checkin(alice, note=NOTE)
    dose = create_dose(alice, note=NOTE)
    with app.app_context():
        prompt = Prompt(user_id=uuid.UUID(alice.id), rule="matrix", subject="pain", severity="info",
                        dedupe_key="matrix", message="Pain has been higher this week.", evidence={})
        db.session.add(prompt)
        db.session.commit()
    response = client.post("/v1/report-links", json={"expires_in_days": 1}, headers=alice.headers)
    assert response.status_code == 201, response.json
    clock.move_to(NOW + dt.timedelta(days=2), tick=False)
    return {"alice": alice.id, "checkin": checkin["id"], "dose": dose["id"], "prompt": str(prompt.id),
            "expired_link_token": response.json["url"].rsplit("/r/", 1)[1]}


@pytest.fixture
def headers_of(client, alice, make_person, create_share, world):
    """The request headers of a caller in `role`, set up for an endpoint needing `needed` scopes."""
    def headers(role, needed):
        if role == "owner":
            return alice.headers
        if role == "anonymous":
            return {}
        if role == "expired link token":
            return {"Authorization": f"Bearer {world['expired_link_token']}"}
        caller = make_person()
        if role == "caregiver in scope":
            create_share(alice, caller, scopes=needed)
        elif role == "caregiver out of scope":
            create_share(alice, caller, scopes=[s for s in SCOPES if s not in needed])
        elif role == "revoked caregiver":
            share = create_share(alice, caller, scopes=SCOPES)
            assert client.delete(f"/v1/shares/{share['id']}", headers=alice.headers).status_code == 204
        else:
            assert role == "other patient"
        return caller.headers
    return headers


def shows_alices_data(path, body, world):
    """Alice's records (or, for the summary, her numbers) are in the body, with nothing left out."""
    what = ENDPOINTS[path][0]
    if what == "summary":
        return (body["patient"]["id"] == world["alice"] and body["checkins"]["count"] == 1
                and len(body["doses"]["daily_totals"]) == 1)
    if what == "daily total":
        return [(item["date"], item["total"]) for item in body["items"]] == [("2026-11-20", 2.5)]
    items = body["items"] if "items" in body else [body]
    return [item["id"] for item in items] == [world[what]]


@pytest.mark.parametrize(("path", "role", "outcome"), CELLS, ids=[f"{p} as {r}" for p, r, _ in CELLS])
def test_access(client, alice, world, headers_of, path, role, outcome):
    headers = headers_of(role, list(ENDPOINTS[path][1]))
    logged_before = len(access_log(client, alice))

    response = client.get(path.format(**world), headers=headers)

    text = response.get_data(as_text=True)
    if isinstance(outcome, int):
        assert response.status_code == outcome, text
        assert response.content_type == "application/problem+json"
        assert response.json["status"] == outcome
        if outcome == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        told = repr({key: value for key, value in response.json.items() if key != "instance"})  # the path asked
        assert not any(her in told for her in (world["checkin"], world["dose"], world["prompt"], NOTE))
    else:
        assert response.status_code == 200, text
        if outcome == DATA:
            assert shows_alices_data(path, response.json, world), response.json
        elif outcome == WITHOUT_SECTIONS:
            assert response.json["patient"]["id"] == world["alice"]
            assert not {"checkins", "doses", "reminders"} & set(response.json), response.json
        else:
            assert outcome == OWN_ONLY
            assert response.json["items"] == []
            assert not any(her in text for her in (world["checkin"], world["dose"], world["prompt"], "2026-11-20"))
        if role != "owner":  # no endpoint needs the notes scope, so no caller here has it
            assert NOTE not in text

    # Every read of Alice's data by someone else leaves one line in her access log; nothing else does.
    read_by_someone_else = role != "owner" and response.status_code == 200 and path.startswith("/v1/patients/")
    assert len(access_log(client, alice)) - logged_before == (1 if read_by_someone_else else 0)
