"""/v1/checkins, what is particular to check-ins: their answers and the PEG score, the window of
their instant, and the validation of every answer. The client-record contract they share with
doses and reminders (idempotent create, pages, corrections, tombstones, isolation) is tested once
for all three in tests/records/test_client_records.py."""

import datetime as dt
import uuid

import pytest

from backend.checkins.models import CheckIn
from tests.support import NOW, assert_problem, checkin_body, count, stored, utc


# Create and read

def test_creating_a_checkin_returns_it_in_utc_with_its_peg_score(client, alice, clock):
    body = checkin_body(recorded_at="2026-11-20T09:30:00+01:00", pain=7, enjoyment_interference=5,
                        activity_interference=6, focus=3, hyperactivity=1, impulsivity=0, restlessness=4,
                        mood=2, sleep_hours=6.5, sleep_quality=1, phq2_interest=2, phq2_mood=1,
                        gad2_nervous=3, gad2_worry=0, side_effects=["dizziness", "dark_urine"],
                        withdrawal_symptoms=["yawning"], note="Bad night.")
    response = client.post("/v1/checkins", json=body, headers=alice.headers)
    assert response.status_code == 201
    expected = dict(body, recorded_at="2026-11-20T08:30:00Z", peg_score=6.0, phq2_score=3, gad2_score=3,
                    pain_today=None, withdrawal_severity={},
                    created_at="2026-11-25T12:00:00Z", updated_at="2026-11-25T12:00:00Z")
    assert response.json == expected


def test_a_checkin_is_stored_with_its_answers_and_its_instant_in_utc(app, alice, create_checkin):
    created = create_checkin(alice, pain=9, recorded_at="2026-11-20T09:00:00+01:00")
    row = stored(app, CheckIn, created["id"])
    assert row["pain"] == 9
    assert row["recorded_at"] == utc(2026, 11, 20, 8)


def test_peg_score_needs_all_three_peg_answers(alice, create_checkin):
    assert create_checkin(alice, pain=3, enjoyment_interference=None)["peg_score"] is None
    assert create_checkin(alice, pain=1, enjoyment_interference=2, activity_interference=2)["peg_score"] == 1.67


def test_repeated_symptoms_are_stored_once(alice, create_checkin):
    created = create_checkin(alice, side_effects=["nausea", "itching", "nausea"],
                             withdrawal_symptoms=["craving", "craving"])
    assert created["side_effects"] == ["nausea", "itching"]
    assert created["withdrawal_symptoms"] == ["craving"]


@pytest.mark.parametrize("answer", [{"pain": 0}, {"mood": 0}, {"sleep_hours": 0}, {"note": "just a note"},
                                    {"side_effects": ["itching"]}, {"withdrawal_symptoms": ["tremor"]},
                                    {"gad2_worry": 0}])
def test_a_single_answer_is_enough_for_a_checkin(client, alice, answer):
    body = {"id": str(uuid.uuid4()), "recorded_at": "2026-11-20T08:00:00Z", **answer}
    assert client.post("/v1/checkins", json=body, headers=alice.headers).status_code == 201


def test_a_checkin_a_few_hours_ahead_of_the_server_clock_is_accepted(client, alice, clock):
    body = checkin_body(recorded_at=(NOW + dt.timedelta(hours=23)).isoformat())
    assert client.post("/v1/checkins", json=body, headers=alice.headers).status_code == 201


# Correction

def test_a_correction_recomputes_the_peg_score_and_replaces_a_symptom_list(app, client, alice, create_checkin,
                                                                           clock):
    created = create_checkin(alice, pain=5, mood=6, side_effects=["itching"])
    clock.move_to(NOW + dt.timedelta(minutes=5), tick=False)
    response = client.patch(f"/v1/checkins/{created['id']}", headers=alice.headers,
                            json={"pain": 8, "side_effects": ["nausea", "dizziness"], "note": "worse"})
    assert response.status_code == 200
    assert response.json == dict(created, pain=8, side_effects=["nausea", "dizziness"], note="worse",
                                 peg_score=6.0, updated_at="2026-11-25T12:05:00Z")
    assert client.get(f"/v1/checkins/{created['id']}", headers=alice.headers).json == response.json
    row = stored(app, CheckIn, created["id"])
    assert (row["pain"], row["mood"], row["note"]) == (8, 6, "worse")


def test_patch_can_move_a_checkin_in_time(client, alice, create_checkin):
    created = create_checkin(alice)
    response = client.patch(f"/v1/checkins/{created['id']}", json={"recorded_at": "2026-11-19T23:00:00-05:00"},
                            headers=alice.headers)
    assert response.json["recorded_at"] == "2026-11-20T04:00:00Z"


@pytest.mark.parametrize("changes, field", [
    ({"pain": 11}, "pain"),
    ({"recorded_at": None}, "recorded_at"),
    ({"side_effects": None}, "side_effects"),
    ({"peg_score": 1}, "peg_score"),
])
def test_bad_corrections_are_rejected_and_change_nothing(app, client, alice, create_checkin, changes, field):
    created = create_checkin(alice)
    before = stored(app, CheckIn, created["id"])
    response = client.patch(f"/v1/checkins/{created['id']}", json=changes, headers=alice.headers)
    assert_problem(response, 422, field)
    assert stored(app, CheckIn, created["id"]) == before


# Bad input writes nothing

@pytest.mark.parametrize("fields, field", [
    ({"pain": 11}, "pain"),
    ({"pain": -1}, "pain"),
    ({"pain": "five"}, "pain"),
    ({"pain": "5"}, "pain"),
    ({"pain": 5.5}, "pain"),
    ({"pain": True}, "pain"),
    ({"pain": [5]}, "pain"),
    ({"enjoyment_interference": 11}, "enjoyment_interference"),
    ({"activity_interference": -3}, "activity_interference"),
    ({"focus": 5}, "focus"),
    ({"hyperactivity": 5}, "hyperactivity"),
    ({"impulsivity": -1}, "impulsivity"),
    ({"restlessness": 9}, "restlessness"),
    ({"mood": 11}, "mood"),
    ({"sleep_hours": 25}, "sleep_hours"),
    ({"sleep_hours": -0.5}, "sleep_hours"),
    ({"sleep_quality": 5}, "sleep_quality"),
    ({"phq2_interest": 4}, "phq2_interest"),
    ({"gad2_worry": -1}, "gad2_worry"),
    ({"side_effects": ["nausea", "hiccups"]}, "side_effects.1"),
    ({"side_effects": "nausea"}, "side_effects"),
    ({"side_effects": [1]}, "side_effects.0"),
    ({"withdrawal_symptoms": ["yawning", "dark_urine"]}, "withdrawal_symptoms.1"),
    ({"note": "x" * 2001}, "note"),
    ({"note": 12}, "note"),
    ({"peg_score": 5}, "peg_score"),
    ({"recorded_at": "2026-11-20T08:00:00"}, "recorded_at"),
    ({"recorded_at": "2026-11-20"}, "recorded_at"),
    ({"recorded_at": "20/11/2026 08:00"}, "recorded_at"),
    ({"recorded_at": 1763625600}, "recorded_at"),
    ({"recorded_at": None}, "recorded_at"),
    ({"recorded_at": "1900-01-01T00:00:00Z"}, "recorded_at"),
    ({"recorded_at": "1999-12-31T23:59:59Z"}, "recorded_at"),
    ({"recorded_at": "2126-01-01T00:00:00Z"}, "recorded_at"),
    ({"recorded_at": "9999-12-31T23:59:59-05:00"}, "recorded_at"),
    ({"recorded_at": "0001-01-01T00:00:00+01:00"}, "recorded_at"),
])
def test_bad_checkins_are_rejected_naming_the_field_and_write_nothing(app, client, alice, fields, field):
    response = client.post("/v1/checkins", json=checkin_body(**fields), headers=alice.headers)
    assert_problem(response, 422, field)
    assert count(app, CheckIn) == 0


def test_a_checkin_without_its_time_is_rejected(app, client, alice):
    body = checkin_body()
    del body["recorded_at"]
    assert_problem(client.post("/v1/checkins", json=body, headers=alice.headers), 422, "recorded_at")
    assert count(app, CheckIn) == 0


def test_a_checkin_more_than_a_day_ahead_of_the_server_clock_is_rejected(app, client, alice, clock):
    body = checkin_body(recorded_at=(NOW + dt.timedelta(hours=25)).isoformat())
    assert_problem(client.post("/v1/checkins", json=body, headers=alice.headers), 422, "recorded_at")
    assert count(app, CheckIn) == 0


@pytest.mark.parametrize("answers", [
    {},
    {"pain": None, "mood": None, "note": None},
    {"side_effects": [], "withdrawal_symptoms": []},
])
def test_a_checkin_with_no_answers_is_rejected(app, client, alice, answers):
    body = {"id": str(uuid.uuid4()), "recorded_at": "2026-11-20T08:00:00Z", **answers}
    response = client.post("/v1/checkins", json=body, headers=alice.headers)
    assert_problem(response, 422)
    assert "at least one answer" in response.json["errors"][0]["detail"]
    assert count(app, CheckIn) == 0


def test_every_bad_field_is_reported_at_once(client, alice):
    response = client.post("/v1/checkins", json=checkin_body(pain=12, focus=7, colour="blue"), headers=alice.headers)
    assert_problem(response, 422, "pain", "focus", "colour")
    pointers = {error["pointer"] for error in response.json["errors"]}
    assert {"#/pain", "#/focus", "#/colour"} <= pointers




# The daily pain item, withdrawal severities and the screens' totals

def test_pain_today_is_the_daily_item_and_answers_a_check_in_on_its_own(client, alice, clock):
    response = client.post("/v1/checkins", json={"id": str(uuid.uuid4()), "recorded_at": "2026-11-25T08:00:00Z",
                                                 "pain_today": 6}, headers=alice.headers)
    assert response.status_code == 201
    assert (response.json["pain_today"], response.json["peg_score"]) == (6, None)
    bad = client.post("/v1/checkins", json=checkin_body(pain_today=11), headers=alice.headers)
    assert_problem(bad, 422, "pain_today")


def test_rated_withdrawal_symptoms_make_the_list_when_it_is_not_sent(client, alice, clock):
    body = checkin_body(withdrawal_severity={"yawning": 3, "gooseflesh": 1, "anxiety": 0})
    response = client.post("/v1/checkins", json=body, headers=alice.headers)
    assert response.status_code == 201
    assert response.json["withdrawal_severity"] == {"yawning": 3, "gooseflesh": 1}
    assert response.json["withdrawal_symptoms"] == ["yawning", "gooseflesh"]


@pytest.mark.parametrize("fields", [
    {"withdrawal_severity": {"yawning": 5}},
    {"withdrawal_severity": {"purple": 2}},
    {"withdrawal_symptoms": ["anxiety"], "withdrawal_severity": {"yawning": 2}},
    {"withdrawal_symptoms": ["yawning"], "withdrawal_severity": {"yawning": 0}},
])
def test_withdrawal_severities_are_0_to_4_for_known_listed_symptoms(client, alice, clock, fields):
    response = client.post("/v1/checkins", json=checkin_body(**fields), headers=alice.headers)
    assert_problem(response, 422)


@pytest.mark.parametrize("answers, phq2, gad2", [
    ({"phq2_interest": 1, "phq2_mood": 1, "gad2_nervous": 3}, 2, None),
    ({"phq2_interest": 3, "phq2_mood": 3, "gad2_nervous": 0, "gad2_worry": 0}, 6, 0),
])
def test_phq2_and_gad2_totals_need_both_items(client, alice, clock, answers, phq2, gad2):
    response = client.post("/v1/checkins", json=checkin_body(**answers), headers=alice.headers)
    assert (response.json["phq2_score"], response.json["gad2_score"]) == (phq2, gad2)
