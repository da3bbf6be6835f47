"""The one scoped read behind /v1/patients/{id}/…: notes only with the notes scope, passed as data;
the patient's own reads unlogged; a share ended a moment ago refused on the very next request."""

import uuid

import pytest

from backend.api import Client
from backend.extensions import db
from backend.monitoring.models import Prompt
from backend.reports.schemas import SharedCheckInPageSchema, SharedDosePageSchema
from backend.reports.services import scoped_read
from backend.sharing.models import SCOPES
from backend.sharing.services import OutOfScope, patient_of
from tests.reports.conftest import access_log
from tests.support import assert_problem

NOTE = "Pangolin-grey haze over the 0627 ferry"  # text that appears nowhere else
READS = ("summary", "checkins", "doses", "prompts")


@pytest.fixture
def alices_records(app, alice, create_checkin, create_dose):
    """One check-in and one dose of Alice's, each with a note, and one prompt."""
    create_checkin(alice, note=NOTE)
    create_dose(alice, note=NOTE)
    with app.app_context():
        db.session.add(Prompt(user_id=uuid.UUID(alice.id), rule="scoped", subject="pain", severity="info",
                              dedupe_key="scoped", message="Pain has been higher this week.", evidence={}))
        db.session.commit()
    return alice


def read(client, person, patient, what):
    return client.get(f"/v1/patients/{patient.id}/{what}", headers=person.headers)


@pytest.mark.parametrize("what", ["checkins", "doses"])
def test_without_the_notes_scope_a_viewer_never_gets_a_note(client, alices_records, bob, create_share, what):
    alice = alices_records
    create_share(alice, bob, scopes=["checkins", "doses", "prompts"])

    response = read(client, bob, alice, what)

    assert response.status_code == 200, response.json
    [item] = response.json["items"]
    assert "note" not in item
    assert "notes_visible" not in response.json
    assert NOTE not in response.get_data(as_text=True)


@pytest.mark.parametrize("what", ["checkins", "doses"])
def test_with_the_notes_scope_a_viewer_gets_the_notes(client, alices_records, bob, create_share, what):
    alice = alices_records
    create_share(alice, bob, scopes=["checkins", "doses", "notes"])

    response = read(client, bob, alice, what)

    assert response.status_code == 200, response.json
    assert [item["note"] for item in response.json["items"]] == [NOTE]
    assert set(response.json) == {"items", "next_cursor"}


def test_removing_the_notes_scope_hides_notes_from_the_next_request(client, alices_records, bob, create_share):
    alice = alices_records
    share = create_share(alice, bob, scopes=["checkins", "notes"])
    assert read(client, bob, alice, "checkins").json["items"][0]["note"] == NOTE

    response = client.patch(f"/v1/shares/{share['id']}", json={"scopes": ["checkins"]}, headers=alice.headers)
    assert response.status_code == 200, response.json

    assert "note" not in read(client, bob, alice, "checkins").json["items"][0]


def test_a_page_that_does_not_say_notes_are_visible_shows_none():
    """The page schemas fail closed: a read that forgot to decide shows no notes."""
    page = {"items": [{"note": NOTE}], "next_cursor": None}
    for schema in (SharedCheckInPageSchema(), SharedDosePageSchema()):
        assert "note" not in schema.dump(page)["items"][0]
        assert schema.dump({**page, "notes_visible": True})["items"][0]["note"] == NOTE


@pytest.mark.parametrize("what", READS)
def test_the_patient_reading_their_own_data_writes_no_access_log_entry(client, alices_records, what):
    alice = alices_records

    response = read(client, alice, alice, what)

    assert response.status_code == 200, response.json
    assert access_log(client, alice) == []


@pytest.mark.parametrize("what", ["checkins", "doses"])
def test_the_patient_reading_their_own_data_sees_their_notes(client, alices_records, what):
    alice = alices_records
    assert [item["note"] for item in read(client, alice, alice, what).json["items"]] == [NOTE]


@pytest.mark.parametrize("what", READS)
def test_each_read_by_a_viewer_is_logged_once_with_its_kind(client, alices_records, bob, create_share, what):
    alice = alices_records
    create_share(alice, bob, scopes=list(SCOPES))

    assert read(client, bob, alice, what).status_code == 200

    [entry] = access_log(client, alice)
    assert (entry["viewer_id"], entry["data_kind"], entry["who"]) == (bob.id, what, "Bob")


@pytest.mark.parametrize("what", READS)
@pytest.mark.parametrize("revoked_by", ["patient", "viewer"])
def test_a_revoked_share_is_a_404_on_the_very_next_request(client, alices_records, bob, create_share, what,
                                                           revoked_by):
    alice = alices_records
    share = create_share(alice, bob, scopes=list(SCOPES))
    assert read(client, bob, alice, what).status_code == 200

    ender = alice if revoked_by == "patient" else bob
    assert client.delete(f"/v1/shares/{share['id']}", headers=ender.headers).status_code == 204

    assert_problem(read(client, bob, alice, what), 404)
    assert len(access_log(client, alice)) == 1  # the read before, not the refused one


def test_scoped_read_says_who_through_which_share_and_what_may_be_seen(app, alice, bob, create_share):
    share = create_share(alice, bob, scopes=["doses"])
    with app.test_request_context():
        viewer, patient_id = patient_of(uuid.UUID(bob.id)), uuid.UUID(alice.id)

        reading = scoped_read(viewer, patient_id, "doses", Client())
        assert (str(reading.patient.id), str(reading.share.id)) == (alice.id, share["id"])
        assert (reading.scopes, reading.notes_visible) == (("doses",), False)
        with pytest.raises(OutOfScope):
            scoped_read(viewer, patient_id, "checkins", Client())

        own = scoped_read(patient_of(patient_id), patient_id, "checkins", Client())
        assert (own.share, own.scopes, own.notes_visible) == (None, SCOPES, True)
        db.session.rollback()


@pytest.mark.parametrize("scopes, shown", [
    (["prompts"], False), (["prompts", "checkins"], False), (["prompts", "doses"], True),
])
def test_a_prompt_drawn_from_doses_shows_its_amounts_only_to_shares_with_the_doses_scope(
        app, client, alice, bob, create_share, scopes, shown):
    with app.app_context():
        db.session.add(Prompt(user_id=uuid.UUID(alice.id), rule="daily_limit", subject="kratom", severity="warning",
                              dedupe_key="limit", message="You logged 12 g of kratom leaf powder today.",
                              evidence={"total": 12, "unit": "g", "substance": "kratom"}))
        db.session.commit()
    create_share(alice, bob, scopes=scopes)
    response = read(client, bob, alice, "prompts")
    assert response.status_code == 200
    [prompt] = response.json["items"]
    assert (prompt["rule"], prompt["severity"]) == ("daily_limit", "warning")
    text = response.get_data(as_text=True)
    if shown:
        assert prompt["evidence"]["total"] == 12 and "12 g" in prompt["message"]
    else:
        assert prompt["evidence"] == {} and prompt["subject"] is None
        assert "12 g" not in text and '"total"' not in text and "kratom" not in text  # (ids are random hex)
        assert "dose logs" in prompt["message"]
