"""The sharing API: invite codes (once, hashed, expiring, revocable, throttled), shares seen from
both sides, scoped read-only views of a patient's data, the access log, and report links."""

import datetime as dt
import math
import re
import uuid

import pytest
import sqlalchemy as sa

from backend.checkins.schemas import CheckInSchema
from backend.doses.schemas import DoseSchema
from backend.extensions import db
from backend.sharing import services
from backend.sharing.models import SCOPES, AccessLogEntry
from tests.sharing.conftest import NOW, access_log, database_text
from tests.support import assert_problem

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_PATTERN = re.compile(rf"[{CROCKFORD}]{{5}}-[{CROCKFORD}]{{5}}")
NOTE = "Quokka-flavoured migraine after the 4711 bus"  # text that appears nowhere else


def accept(client, person, code, **kwargs):
    return client.post("/v1/shares/accept", json={"code": code}, headers=person.headers, **kwargs)


def unknown_code_problem(client, person):
    """The answer to a code that never existed, which every unusable code must match exactly."""
    response = accept(client, person, "ZZZZZ-ZZZZZ")
    assert_problem(response, 404)
    return response.json


# Invites: the code

def test_an_invite_yields_a_short_code_and_its_link_form(client, alice):
    response = client.post("/v1/shares/invites", json={"role": "clinician", "scopes": ["checkins", "notes"],
                                                        "alerts": True}, headers=alice.headers)
    assert response.status_code == 201, response.json
    invite = response.json
    assert CODE_PATTERN.fullmatch(invite["code"]), invite["code"]
    assert invite["link"] == f"careloop://invite/{invite['code']}"
    assert invite["role"] == "clinician"
    assert invite["scopes"] == ["checkins", "notes"]
    assert invite["alerts"] is True
    assert invite["state"] == "pending"
    assert invite["expires_at"] == "2026-11-28T08:00:00Z"  # 72 hours by default


def test_codes_carry_at_least_40_random_bits():
    assert sorted(services.CODE_ALPHABET) == sorted(CROCKFORD)
    assert services.CODE_LENGTH * math.log2(len(services.CODE_ALPHABET)) >= 40
    codes = [services.new_code() for _ in range(2000)]
    assert len(set(codes)) == len(codes)
    assert all(CODE_PATTERN.fullmatch(code) for code in codes)
    assert set("".join(codes).replace("-", "")) == set(CROCKFORD)  # every symbol is in use


def test_the_code_is_shown_only_when_the_invite_is_made(client, alice, create_invite):
    invite = create_invite(alice)
    response = client.get("/v1/shares/invites", headers=alice.headers)
    assert response.status_code == 200
    [listed] = response.json["items"]
    assert listed["id"] == invite["id"]
    assert "code" not in listed and "link" not in listed
    assert invite["code"] not in response.get_data(as_text=True)
    assert invite["code"].replace("-", "") not in response.get_data(as_text=True)


def test_the_database_holds_only_a_hash_of_the_code(app, alice, create_invite):
    code = create_invite(alice)["code"]
    stored = database_text(app)
    assert code not in stored
    assert code.replace("-", "") not in stored
    with app.app_context():
        assert services.hash_secret(code.replace("-", "")) in stored


def test_invites_list_only_my_own(client, alice, bob, create_invite):
    create_invite(alice)
    assert client.get("/v1/shares/invites", headers=bob.headers).json["items"] == []


@pytest.mark.parametrize(("hours", "expires_at"), [(1, "2026-11-25T09:00:00Z"), (168, "2026-12-02T08:00:00Z")])
def test_an_invite_lasts_from_one_hour_to_a_week(client, alice, hours, expires_at):
    response = client.post("/v1/shares/invites", json={"role": "caregiver", "scopes": ["doses"],
                                                        "expires_in_hours": hours}, headers=alice.headers)
    assert response.status_code == 201, response.json
    assert response.json["expires_at"] == expires_at


@pytest.mark.parametrize("body", [
    {"role": "caregiver", "scopes": ["doses"], "expires_in_hours": 0},
    {"role": "caregiver", "scopes": ["doses"], "expires_in_hours": 169},
    {"role": "caregiver", "scopes": ["doses"], "expires_in_hours": 1.5},
    {"role": "caregiver", "scopes": []},
    {"role": "caregiver", "scopes": ["diary"]},
    {"role": "caregiver"},
    {"role": "spouse", "scopes": ["doses"]},
    {"role": "caregiver", "scopes": ["doses"], "alerts": "yes"},
    {"role": "caregiver", "scopes": ["doses"], "code": "AAAAA-AAAAA"},
], ids=["0-hours", "169-hours", "fractional-hours", "no-scopes", "unknown-scope", "scopes-missing",
        "unknown-role", "alerts-not-boolean", "chosen-code"])
def test_bad_invites_are_refused(client, alice, body):
    assert_problem(client.post("/v1/shares/invites", json=body, headers=alice.headers), 422)


def test_repeated_scopes_are_stored_once(alice, create_invite):
    assert create_invite(alice, scopes=["doses", "doses", "notes"])["scopes"] == ["doses", "notes"]


# Invites: accepting

def test_accepting_a_code_links_the_two_people(client, alice, bob, create_invite):
    code = create_invite(alice, role="clinician", scopes=["checkins", "notes"], alerts=True)["code"]
    response = accept(client, bob, code)
    assert response.status_code == 201, response.json
    share = response.json
    assert share["patient"] == {"id": alice.id, "display_name": "Alice"}
    assert share["viewer"] == {"id": bob.id, "display_name": "Bob"}
    assert (share["role"], share["scopes"], share["alerts"]) == ("clinician", ["checkins", "notes"], True)
    assert share["revoked_at"] is None
    [invite] = client.get("/v1/shares/invites", headers=alice.headers).json["items"]
    assert invite["state"] == "accepted"


def test_a_code_works_once(client, alice, bob, carol, create_invite):
    code = create_invite(alice)["code"]
    assert accept(client, bob, code).status_code == 201
    expected = unknown_code_problem(client, carol)
    for person in (carol, bob):
        response = accept(client, person, code)
        assert_problem(response, 404)
        assert response.json == expected


def test_an_expired_code_fails_like_one_that_never_existed(client, clock, alice, bob, create_invite):
    code = create_invite(alice, expires_in_hours=2)["code"]
    expected = unknown_code_problem(client, bob)
    clock.move_to(NOW + dt.timedelta(hours=2), tick=False)
    response = accept(client, bob, code)
    assert_problem(response, 404)
    assert response.json == expected
    [invite] = client.get("/v1/shares/invites", headers=alice.headers).json["items"]
    assert invite["state"] == "expired"


def test_a_code_works_until_just_before_it_expires(client, clock, alice, bob, create_invite):
    code = create_invite(alice, expires_in_hours=2)["code"]
    clock.move_to(NOW + dt.timedelta(hours=2, seconds=-1), tick=False)
    assert accept(client, bob, code).status_code == 201


def test_a_withdrawn_code_fails_like_one_that_never_existed(client, alice, bob, create_invite):
    invite = create_invite(alice)
    expected = unknown_code_problem(client, bob)
    assert client.delete(f"/v1/shares/invites/{invite['id']}", headers=alice.headers).status_code == 204
    response = accept(client, bob, invite["code"])
    assert_problem(response, 404)
    assert response.json == expected
    [listed] = client.get("/v1/shares/invites", headers=alice.headers).json["items"]
    assert listed["state"] == "revoked"


def test_withdrawing_an_accepted_invite_leaves_the_share(client, alice, bob, create_invite):
    invite = create_invite(alice)
    assert accept(client, bob, invite["code"]).status_code == 201
    assert client.delete(f"/v1/shares/invites/{invite['id']}", headers=alice.headers).status_code == 204
    assert client.get(f"/v1/patients/{alice.id}/doses", headers=bob.headers).status_code == 200
    [listed] = client.get("/v1/shares/invites", headers=alice.headers).json["items"]
    assert listed["state"] == "accepted"


def test_only_the_patient_can_withdraw_their_invite(client, alice, bob, create_invite):
    invite = create_invite(alice)
    assert_problem(client.delete(f"/v1/shares/invites/{invite['id']}", headers=bob.headers), 404)
    assert_problem(client.delete(f"/v1/shares/invites/{uuid.uuid4()}", headers=alice.headers), 404)
    assert accept(client, bob, invite["code"]).status_code == 201


def test_accepting_my_own_code_is_a_conflict_and_leaves_it_usable(client, alice, bob, create_invite):
    code = create_invite(alice)["code"]
    assert_problem(accept(client, alice, code), 409)
    assert accept(client, bob, code).status_code == 201


@pytest.mark.parametrize("typed", ["01abc-d1e0f", "01ABC D1E0F", "01ABCD1E0F", "OIABC-DLEOF", " oiabc dl e0f "],
                         ids=["lower-case", "space", "no-separator", "look-alikes", "mixed"])
def test_codes_are_read_as_people_type_them(client, monkeypatch, alice, bob, create_invite, typed):
    monkeypatch.setattr(services, "new_code", lambda: "01ABC-D1E0F")
    create_invite(alice)
    assert accept(client, bob, typed).status_code == 201


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": "A" * 33}, {"code": 12345}, {"code": "AB\x00CD"}])
def test_malformed_accept_bodies_are_refused(client, bob, body):
    assert_problem(client.post("/v1/shares/accept", json=body, headers=bob.headers), 422)


def test_accepting_needs_a_signed_in_person(client, alice, create_invite):
    code = create_invite(alice)["code"]
    assert_problem(client.post("/v1/shares/accept", json={"code": code}), 401)


def test_accepting_a_second_invite_replaces_the_scopes_of_the_live_share(client, alice, bob, create_share):
    first = create_share(alice, bob, scopes=["checkins", "doses", "notes"])
    second = create_share(alice, bob, scopes=["doses"])
    assert second["id"] == first["id"]
    [share] = client.get("/v1/shares", headers=alice.headers).json["items"]
    assert share["scopes"] == ["doses"]


# Invites: guessing is throttled

def guess(client, person, **kwargs):
    return accept(client, person, "WRONG-C0DE5", **kwargs)


def test_the_sixth_wrong_code_within_ten_minutes_is_throttled(client, clock, bob):
    for minute in range(5):
        clock.move_to(NOW + dt.timedelta(minutes=minute), tick=False)
        assert_problem(guess(client, bob), 404)
    response = guess(client, bob)
    assert_problem(response, 429)
    assert response.json["title"] == "Too Many Requests"
    assert int(response.headers["Retry-After"]) > 0


def test_a_throttled_person_is_refused_even_the_right_code_until_the_window_passes(client, clock, alice, bob,
                                                                                   create_invite):
    code = create_invite(alice)["code"]
    for _ in range(5):
        assert_problem(guess(client, bob), 404)
    assert_problem(accept(client, bob, code), 429)
    clock.move_to(NOW + dt.timedelta(minutes=10), tick=False)
    assert accept(client, bob, code).status_code == 201


def test_wrong_codes_ten_minutes_apart_are_not_throttled(client, clock, bob):
    for _ in range(4):
        assert_problem(guess(client, bob), 404)
    clock.move_to(NOW + dt.timedelta(minutes=10), tick=False)
    for _ in range(5):
        assert_problem(guess(client, bob), 404)


def test_accepted_codes_do_not_count_towards_the_throttle(client, alice, bob, create_invite):
    codes = [create_invite(alice)["code"] for _ in range(7)]
    for code in codes[:4]:
        assert accept(client, bob, code).status_code == 201
    assert_problem(guess(client, bob), 404)
    for code in codes[4:]:
        assert accept(client, bob, code).status_code == 201


def test_refused_accepts_count_whatever_the_reason(client, alice, create_invite):
    code = create_invite(alice)["code"]
    for _ in range(5):
        assert_problem(accept(client, alice, code), 409)
    assert_problem(accept(client, alice, code), 429)


def test_the_throttle_counts_per_account_whatever_the_address(client, bob, carol):
    for _ in range(5):
        assert_problem(guess(client, bob), 404)
    refused = guess(client, bob)
    assert_problem(refused, 429)
    assert int(refused.headers["Retry-After"]) > 0
    assert_problem(guess(client, carol), 404)
    # Rotating addresses does not reset an account's budget.
    assert_problem(guess(client, bob, environ_base={"REMOTE_ADDR": "192.0.2.7"}), 429)


def test_the_throttle_counts_per_address_whatever_the_account(client, make_person):
    people = [make_person() for _ in range(5)]
    for person in people[:4]:  # 20 tries from one address, by accounts each within its own budget
        for _ in range(5):
            assert_problem(guess(client, person), 404)
    assert_problem(guess(client, people[4]), 429)
    assert_problem(guess(client, people[4], environ_base={"REMOTE_ADDR": "192.0.2.8"}), 404)


# Shares, from both sides

def test_both_sides_list_the_share(client, alice, bob, create_share):
    share = create_share(alice, bob)

    def listed(person, query=""):
        response = client.get(f"/v1/shares{query}", headers=person.headers)
        assert response.status_code == 200, response.json
        return [item["id"] for item in response.json["items"]]

    assert listed(alice) == listed(bob) == [share["id"]]
    assert listed(alice, "?as=patient") == listed(bob, "?as=viewer") == [share["id"]]
    assert listed(alice, "?as=viewer") == listed(bob, "?as=patient") == []


def test_the_share_list_shows_people_by_id_and_name_only(client, alice, bob, create_share):
    create_share(alice, bob)
    [share] = client.get("/v1/shares", headers=bob.headers).json["items"]
    assert share["patient"] == {"id": alice.id, "display_name": "Alice"}
    assert share["viewer"] == {"id": bob.id, "display_name": "Bob"}


def test_shares_of_other_people_are_not_listed(client, alice, bob, carol, create_share):
    create_share(alice, bob)
    assert client.get("/v1/shares", headers=carol.headers).json["items"] == []


def test_an_unknown_share_filter_is_refused(client, alice):
    assert_problem(client.get("/v1/shares?as=owner", headers=alice.headers), 422)


def test_the_patient_changes_scopes_and_alerts(client, alice, bob, create_share):
    share = create_share(alice, bob, scopes=["doses"])
    response = client.patch(f"/v1/shares/{share['id']}", json={"scopes": ["checkins", "notes"], "alerts": True},
                            headers=alice.headers)
    assert response.status_code == 200, response.json
    assert (response.json["scopes"], response.json["alerts"]) == (["checkins", "notes"], True)
    [listed] = client.get("/v1/shares", headers=bob.headers).json["items"]
    assert (listed["scopes"], listed["alerts"]) == (["checkins", "notes"], True)


def test_repeated_scopes_in_a_change_are_stored_once(client, alice, bob, create_share):
    share = create_share(alice, bob)
    response = client.patch(f"/v1/shares/{share['id']}", json={"scopes": ["notes", "notes"]}, headers=alice.headers)
    assert response.status_code == 200, response.json
    assert response.json["scopes"] == ["notes"]


@pytest.mark.parametrize("body", [{"scopes": []}, {"scopes": ["everything"]}, {"role": "clinician"},
                                  {"alerts": None}])
def test_bad_share_changes_are_refused(client, alice, bob, create_share, body):
    share = create_share(alice, bob)
    assert_problem(client.patch(f"/v1/shares/{share['id']}", json=body, headers=alice.headers), 422)


def test_the_viewer_cannot_change_a_share(client, alice, bob, create_share):
    share = create_share(alice, bob, scopes=["doses"])
    unknown = client.patch(f"/v1/shares/{uuid.uuid4()}", json={"scopes": SCOPES}, headers=bob.headers)
    response = client.patch(f"/v1/shares/{share['id']}", json={"scopes": list(SCOPES)}, headers=bob.headers)
    assert_problem(response, 404)
    assert {**response.json, "instance": None} == {**unknown.json, "instance": None}
    [listed] = client.get("/v1/shares", headers=alice.headers).json["items"]
    assert listed["scopes"] == ["doses"]


def test_a_stranger_can_neither_change_nor_end_a_share(client, alice, bob, carol, create_share):
    share = create_share(alice, bob)
    assert_problem(client.patch(f"/v1/shares/{share['id']}", json={"alerts": True}, headers=carol.headers), 404)
    assert_problem(client.delete(f"/v1/shares/{share['id']}", headers=carol.headers), 404)
    assert client.get(f"/v1/patients/{alice.id}/doses", headers=bob.headers).status_code == 200


def test_scope_changes_apply_to_the_very_next_request(client, alice, bob, create_share, create_checkin):
    create_checkin(alice, note=NOTE)
    share = create_share(alice, bob, scopes=["checkins"])
    path = f"/v1/patients/{alice.id}/checkins"
    assert "note" not in client.get(path, headers=bob.headers).json["items"][0]

    client.patch(f"/v1/shares/{share['id']}", json={"scopes": ["checkins", "notes"]}, headers=alice.headers)
    assert client.get(path, headers=bob.headers).json["items"][0]["note"] == NOTE

    client.patch(f"/v1/shares/{share['id']}", json={"scopes": ["doses"]}, headers=alice.headers)
    assert_problem(client.get(path, headers=bob.headers), 403)


@pytest.mark.parametrize("side", ["patient", "viewer"])
def test_either_side_ends_a_share_and_it_applies_to_the_very_next_request(client, alice, bob, create_share, side):
    share = create_share(alice, bob)
    path = f"/v1/patients/{alice.id}/doses"
    assert client.get(path, headers=bob.headers).status_code == 200
    ender = alice if side == "patient" else bob
    assert client.delete(f"/v1/shares/{share['id']}", headers=ender.headers).status_code == 204
    assert_problem(client.get(path, headers=bob.headers), 404)
    for person in (alice, bob):
        assert client.get("/v1/shares", headers=person.headers).json["items"] == []
        [ended] = client.get("/v1/shares?include_revoked=true", headers=person.headers).json["items"]
        assert ended["revoked_by"] == side
        assert ended["revoked_at"] == "2026-11-25T08:00:00Z"


def test_ending_a_share_twice_is_harmless(client, alice, bob, create_share):
    share = create_share(alice, bob)
    assert client.delete(f"/v1/shares/{share['id']}", headers=bob.headers).status_code == 204
    assert client.delete(f"/v1/shares/{share['id']}", headers=alice.headers).status_code == 204
    [ended] = client.get("/v1/shares?include_revoked=true", headers=alice.headers).json["items"]
    assert ended["revoked_by"] == "viewer"


def test_an_ended_share_cannot_be_changed(client, alice, bob, create_share):
    share = create_share(alice, bob)
    client.delete(f"/v1/shares/{share['id']}", headers=alice.headers)
    assert_problem(client.patch(f"/v1/shares/{share['id']}", json={"alerts": True}, headers=alice.headers), 404)


def test_a_new_invite_after_the_end_makes_a_new_share(client, alice, bob, create_share):
    old = create_share(alice, bob)
    client.delete(f"/v1/shares/{old['id']}", headers=alice.headers)
    new = create_share(alice, bob, scopes=["doses"])
    assert new["id"] != old["id"]
    assert client.get(f"/v1/patients/{alice.id}/doses", headers=bob.headers).status_code == 200


# Scoped reads

def test_notes_are_hidden_unless_shared(client, alice, bob, create_share, create_checkin, create_dose):
    create_checkin(alice, note=NOTE)
    create_dose(alice, note=NOTE)
    share = create_share(alice, bob, scopes=["checkins", "doses"])
    for kind in ("checkins", "doses"):
        [item] = client.get(f"/v1/patients/{alice.id}/{kind}", headers=bob.headers).json["items"]
        assert "note" not in item
    client.patch(f"/v1/shares/{share['id']}", json={"scopes": list(SCOPES)}, headers=alice.headers)
    for kind in ("checkins", "doses"):
        [item] = client.get(f"/v1/patients/{alice.id}/{kind}", headers=bob.headers).json["items"]
        assert item["note"] == NOTE


def test_the_patient_sees_their_own_notes_through_the_shared_routes(client, alice, create_checkin):
    create_checkin(alice, note=NOTE)
    [item] = client.get(f"/v1/patients/{alice.id}/checkins", headers=alice.headers).json["items"]
    assert item["note"] == NOTE


def test_shared_records_carry_only_the_allowed_fields(client, alice, bob, create_share, create_checkin, create_dose):
    create_checkin(alice, note=NOTE)
    create_dose(alice, note=NOTE)
    create_share(alice, bob)
    [checkin] = client.get(f"/v1/patients/{alice.id}/checkins", headers=bob.headers).json["items"]
    [dose] = client.get(f"/v1/patients/{alice.id}/doses", headers=bob.headers).json["items"]
    assert set(checkin) == set(CheckInSchema().fields) - {"note"}
    assert set(dose) == set(DoseSchema().fields) - {"note"}


def test_shared_lists_page_and_filter_like_the_patients_own(client, alice, bob, create_share, create_checkin):
    ids = [create_checkin(alice, recorded_at=f"2026-11-2{day}T08:00:00+00:00")["id"] for day in range(3)]
    create_share(alice, bob)
    path = f"/v1/patients/{alice.id}/checkins"
    first = client.get(f"{path}?limit=2", headers=bob.headers).json
    assert [c["id"] for c in first["items"]] == ids[:0:-1]
    second = client.get(f"{path}?limit=2&cursor={first['next_cursor']}", headers=bob.headers).json
    assert [c["id"] for c in second["items"]] == ids[:1]
    ranged = client.get(f"{path}?since=2026-11-21T00:00:00Z&until=2026-11-22T00:00:00Z", headers=bob.headers).json
    assert [c["id"] for c in ranged["items"]] == ids[1:2]


def test_deleted_records_are_not_shared(client, alice, bob, create_share, create_checkin):
    checkin = create_checkin(alice, note=NOTE)
    client.delete(f"/v1/checkins/{checkin['id']}", headers=alice.headers)
    create_share(alice, bob)
    assert client.get(f"/v1/patients/{alice.id}/checkins", headers=bob.headers).json["items"] == []


def test_the_summary_shows_only_the_shared_kinds_of_data(client, alice, bob, create_share, create_checkin,
                                                          create_dose):
    create_checkin(alice, pain=7, enjoyment_interference=5, activity_interference=6)
    create_dose(alice, amount=3)
    share = create_share(alice, bob, scopes=["checkins"])
    path = f"/v1/patients/{alice.id}/summary"
    summary = client.get(path, headers=bob.headers).json
    assert summary["patient"] == {"id": alice.id, "display_name": "Alice"}
    assert (summary["since"], summary["until"]) == ("2026-10-26T08:00:00Z", "2026-11-25T08:00:00Z")
    assert summary["checkins"]["count"] == 1
    assert summary["checkins"]["mean_pain"] == 7
    assert summary["checkins"]["mean_peg"] == 6
    assert "doses" not in summary

    client.patch(f"/v1/shares/{share['id']}", json={"scopes": ["doses"]}, headers=alice.headers)
    summary = client.get(path, headers=bob.headers).json
    assert "checkins" not in summary and "reminders" not in summary
    assert summary["doses"]["daily_totals"] == [
        {"date": "2026-11-20", "substance_kind": "kratom", "form": "leaf_powder", "unit": "g", "total": 3.0,
         "doses": 1}]


def test_the_summary_covers_the_asked_range(client, alice, bob, create_share, create_checkin):
    create_checkin(alice, recorded_at="2026-11-20T08:00:00+00:00")
    create_checkin(alice, recorded_at="2026-09-01T08:00:00+00:00")
    create_share(alice, bob)
    path = f"/v1/patients/{alice.id}/summary?since=2026-08-01T00:00:00Z&until=2026-11-25T00:00:00Z"
    assert client.get(path, headers=bob.headers).json["checkins"]["count"] == 2
    backwards = f"/v1/patients/{alice.id}/summary?since=2026-11-25T00:00:00Z&until=2026-08-01T00:00:00Z"
    assert_problem(client.get(backwards, headers=bob.headers), 422)


SHARED_PATHS = ["summary", "checkins", "doses", "prompts"]


@pytest.mark.parametrize("kind", SHARED_PATHS)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_nothing_under_a_patient_is_writable(client, alice, bob, create_share, kind, method):
    create_share(alice, bob, scopes=list(SCOPES))
    for person in (bob, alice):
        response = client.open(f"/v1/patients/{alice.id}/{kind}", method=method, json={}, headers=person.headers)
        assert_problem(response, 405)
        assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_no_internal_detail_of_anyone_else_reaches_a_viewer(client, alice, bob, carol, create_share, create_checkin,
                                                            create_dose):
    device = client.post("/v1/devices", json={"token": "fcm-alice-phone-token-5h2j", "platform": "android"},
                         headers=alice.headers).json
    create_checkin(alice, note=NOTE)
    create_dose(alice, note=NOTE)
    carols_share = create_share(alice, carol)
    create_share(alice, bob, scopes=list(SCOPES))
    texts = [client.get(path, headers=bob.headers).get_data(as_text=True) for path in (
        *(f"/v1/patients/{alice.id}/{kind}" for kind in SHARED_PATHS),
        "/v1/shares", "/v1/shares?as=viewer&include_revoked=true", "/v1/shares/invites", "/v1/me/access-log")]
    text = "\n".join(texts)
    assert NOTE in text  # the notes were shared: the responses do carry the data
    for secret in ("fcm-alice-phone-token-5h2j", device["id"], alice.uid, carol.uid, carol.id, carols_share["id"],
                   "firebase", "user_id", "token"):
        assert secret not in text, secret


# The access log

def test_every_read_by_a_viewer_is_logged_for_the_patient(client, clock, alice, bob, create_share):
    create_share(alice, bob)
    for minute, kind in enumerate(["summary", "checkins", "doses"], start=1):
        clock.move_to(NOW + dt.timedelta(minutes=minute), tick=False)
        response = client.get(f"/v1/patients/{alice.id}/{kind}", headers={**bob.headers, "User-Agent": "CareApp/2.1"},
                              environ_base={"REMOTE_ADDR": "198.51.100.23"})
        assert response.status_code == 200
    entries = access_log(client, alice)
    assert [e["data_kind"] for e in entries] == ["doses", "checkins", "summary"]  # newest first
    assert [e["at"] for e in entries] == ["2026-11-25T08:03:00Z", "2026-11-25T08:02:00Z", "2026-11-25T08:01:00Z"]
    for entry in entries:
        assert entry["who"] == "Bob"
        assert entry["viewer_id"] == bob.id
        assert entry["report_link_id"] is None
        assert entry["ip_address"] == "198.51.100.23"
        assert entry["user_agent"] == "CareApp/2.1"


def test_the_patients_own_reads_are_not_logged(client, alice, create_checkin):
    create_checkin(alice)
    for kind in SHARED_PATHS:
        assert client.get(f"/v1/patients/{alice.id}/{kind}", headers=alice.headers).status_code == 200
    assert client.get("/v1/checkins", headers=alice.headers).status_code == 200
    assert access_log(client, alice) == []


def test_refused_reads_are_not_logged_as_reads(client, alice, bob, carol, create_share):
    share = create_share(alice, bob, scopes=["doses"])
    assert_problem(client.get(f"/v1/patients/{alice.id}/checkins", headers=bob.headers), 403)
    assert_problem(client.get(f"/v1/patients/{alice.id}/doses", headers=carol.headers), 404)
    client.delete(f"/v1/shares/{share['id']}", headers=alice.headers)
    assert_problem(client.get(f"/v1/patients/{alice.id}/doses", headers=bob.headers), 404)
    assert access_log(client, alice) == []


def test_the_log_never_holds_the_data_that_was_read(app, client, alice, bob, create_share, create_checkin,
                                                    create_dose):
    create_checkin(alice, pain=9, enjoyment_interference=9, activity_interference=9, mood=1, note=NOTE,
                   side_effects=["nausea"])
    create_dose(alice, amount=13.37, product="Maeng Da Quokka", note=NOTE)
    create_share(alice, bob, scopes=list(SCOPES))
    for kind in SHARED_PATHS:
        assert client.get(f"/v1/patients/{alice.id}/{kind}", headers=bob.headers).status_code == 200
    response = client.get("/v1/me/access-log", headers=alice.headers)
    assert len(response.json["items"]) == len(SHARED_PATHS)
    text = response.get_data(as_text=True)
    for content in (NOTE, "13.37", "Maeng Da Quokka", "nausea", "pain", "peg", "mood", "kratom"):
        assert content not in text, content
    assert set(response.json["items"][0]) == {"id", "at", "who", "viewer_id", "report_link_id", "data_kind",
                                              "ip_address", "user_agent"}
    with app.app_context():
        stored = [(e.viewer_label, e.data_kind, e.ip_address, e.user_agent)
                  for e in db.session.scalars(sa.select(AccessLogEntry))]
    assert NOTE not in repr(stored) and "13.37" not in repr(stored)


def test_a_viewer_cannot_read_the_patients_log(client, alice, bob, create_share):
    create_share(alice, bob)
    client.get(f"/v1/patients/{alice.id}/doses", headers=bob.headers)
    assert access_log(client, bob) == []
    assert len(access_log(client, alice)) == 1


def test_a_long_user_agent_is_cut_short(client, alice, bob, create_share):
    create_share(alice, bob)
    client.get(f"/v1/patients/{alice.id}/doses", headers={**bob.headers, "User-Agent": "X" * 500})
    [entry] = access_log(client, alice)
    assert entry["user_agent"] == "X" * 200


def test_the_log_pages_newest_first(client, clock, alice, bob, create_share):
    create_share(alice, bob)
    for minute in range(5):
        clock.move_to(NOW + dt.timedelta(minutes=minute), tick=False)
        client.get(f"/v1/patients/{alice.id}/doses", headers=bob.headers)
    first = client.get("/v1/me/access-log?limit=3", headers=alice.headers).json
    second = client.get(f"/v1/me/access-log?limit=3&cursor={first['next_cursor']}", headers=alice.headers).json
    instants = [e["at"] for e in first["items"] + second["items"]]
    assert instants == sorted(instants, reverse=True) and len(set(instants)) == 5
    assert second["next_cursor"] is None


# Report links (the page at /r/<token> is tested with the web report)

def create_link(client, person, **fields):
    return client.post("/v1/report-links", json=fields, headers=person.headers)


def token_of(url):
    return url.rsplit("/r/", 1)[1]


def test_a_report_link_is_an_address_with_a_long_random_token(client, app, alice):
    response = create_link(client, alice, label="Dr. Rivera's clinic")
    assert response.status_code == 201, response.json
    link = response.json
    assert link["url"].startswith(app.config["CARELOOP_PUBLIC_URL"].rstrip("/") + "/r/")
    token = token_of(link["url"])
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert len(token) * 6 >= 128  # URL-safe base64: six bits a character
    assert link["label"] == "Dr. Rivera's clinic"
    assert link["scopes"] == ["checkins", "doses", "prompts"]
    assert link["expires_at"] == "2026-12-25T08:00:00Z"  # 30 days by default
    assert (link["since"], link["until"], link["revoked_at"], link["last_viewed_at"]) == (None, None, None, None)


def test_report_link_tokens_differ(client, alice):
    tokens = {token_of(create_link(client, alice).json["url"]) for _ in range(20)}
    assert len(tokens) == 20


def test_the_report_address_is_shown_only_when_made_and_stored_hashed(app, client, alice):
    link = create_link(client, alice).json
    token = token_of(link["url"])
    response = client.get("/v1/report-links", headers=alice.headers)
    [listed] = response.json["items"]
    assert listed["id"] == link["id"]
    assert "url" not in listed and "token" not in listed
    assert token not in response.get_data(as_text=True)
    stored = database_text(app)
    assert token not in stored
    with app.app_context():
        assert services.hash_secret(token) in stored


@pytest.mark.parametrize(("days", "expires_at"), [(1, "2026-11-26T08:00:00Z"), (90, "2027-02-23T08:00:00Z")])
def test_a_report_link_lasts_from_one_to_ninety_days(client, alice, days, expires_at):
    response = create_link(client, alice, expires_in_days=days)
    assert response.status_code == 201, response.json
    assert response.json["expires_at"] == expires_at


@pytest.mark.parametrize("body", [
    {"expires_in_days": 0}, {"expires_in_days": 91}, {"expires_in_days": -1}, {"expires_in_days": "30"},
    {"scopes": []}, {"scopes": ["everything"]}, {"label": ""}, {"label": "x" * 81},
    {"since": "2026-11-20T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, {"since": "2026-11-20T00:00:00"},
    {"token": "my-own-token"},
])
def test_bad_report_links_are_refused(client, alice, body):
    assert_problem(create_link(client, alice, **body), 422)


def test_a_report_link_can_have_a_fixed_range_and_scopes(client, alice):
    response = create_link(client, alice, since="2026-08-01T00:00:00+02:00", until="2026-11-01T00:00:00Z",
                           scopes=["checkins"])
    assert response.status_code == 201, response.json
    assert (response.json["since"], response.json["until"]) == ("2026-07-31T22:00:00Z", "2026-11-01T00:00:00Z")
    assert response.json["scopes"] == ["checkins"]


def test_repeated_report_link_scopes_are_stored_once(client, alice):
    assert create_link(client, alice, scopes=["doses", "doses"]).json["scopes"] == ["doses"]


def test_revoking_a_report_link_disables_its_token_at_once(app, client, alice):
    link = create_link(client, alice).json
    token = token_of(link["url"])
    with app.test_request_context():
        assert services.report_link_for_token(token) is not None
    assert client.delete(f"/v1/report-links/{link['id']}", headers=alice.headers).status_code == 204
    with app.test_request_context():
        assert services.report_link_for_token(token) is None
    [listed] = client.get("/v1/report-links", headers=alice.headers).json["items"]
    assert listed["revoked_at"] == "2026-11-25T08:00:00Z"
    assert client.delete(f"/v1/report-links/{link['id']}", headers=alice.headers).status_code == 204


def test_an_expired_report_links_token_stops_working(app, client, clock, alice):
    token = token_of(create_link(client, alice, expires_in_days=1).json["url"])
    clock.move_to(NOW + dt.timedelta(days=1, seconds=-1), tick=False)
    with app.test_request_context():
        assert services.report_link_for_token(token) is not None
    clock.move_to(NOW + dt.timedelta(days=1), tick=False)
    with app.test_request_context():
        assert services.report_link_for_token(token) is None


def test_report_links_are_the_patients_own(client, alice, bob):
    link = create_link(client, alice).json
    assert client.get("/v1/report-links", headers=bob.headers).json["items"] == []
    assert_problem(client.delete(f"/v1/report-links/{link['id']}", headers=bob.headers), 404)
    assert_problem(client.delete(f"/v1/report-links/{uuid.uuid4()}", headers=alice.headers), 404)
    assert client.get("/v1/report-links", headers=alice.headers).json["items"][0]["revoked_at"] is None


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/shares"), ("GET", "/v1/shares/invites"), ("POST", "/v1/shares/invites"),
    ("GET", "/v1/report-links"), ("POST", "/v1/report-links"), ("GET", "/v1/me/access-log"),
])
def test_the_sharing_api_needs_a_signed_in_person(client, method, path):
    assert_problem(client.open(path, method=method, json={}), 401)
