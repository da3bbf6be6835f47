"""/v1/checkins: idempotent create, read, newest-first pages, correction, tombstones, isolation, bad input."""

import base64
import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from backend.checkins.models import SCORE_ITEMS, CheckIn
from backend.extensions import db
from tests.conftest import checkin_body

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)


def count(app, model, **filters):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).filter_by(**filters))


def stored(app, model, record_id):
    """The row with this id (tombstones included), as a plain dict of its columns."""
    with app.app_context():
        row = db.session.get(model, uuid.UUID(str(record_id)))
        assert row is not None
        return {column.key: getattr(row, column.key) for column in sa.inspect(model).column_attrs}


def assert_problem(response, status, *fields):
    """`response` is problem+json with `status`, and its `errors` name every one of `fields`."""
    assert response.status_code == status, response.json
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == status
    named = {error.get("field") or error.get("parameter") for error in response.json.get("errors", [])}
    assert set(fields) <= named, response.json


def without_instance(problem):
    return {key: value for key, value in problem.items() if key != "instance"}


def at(hours_before_now):
    return (NOW - dt.timedelta(hours=hours_before_now)).isoformat()


# Create and read

def test_creating_a_checkin_returns_it_in_utc_with_its_peg_score(client, alice, time_machine):
    time_machine.move_to(NOW, tick=False)
    body = checkin_body(recorded_at="2026-11-20T09:30:00+01:00", pain=7, enjoyment_interference=5,
                        activity_interference=6, focus=3, hyperactivity=1, impulsivity=0, restlessness=4,
                        mood=2, sleep_hours=6.5, sleep_quality=1, phq2_interest=2, phq2_mood=1,
                        gad2_nervous=3, gad2_worry=0, side_effects=["dizziness", "dark_urine"],
                        withdrawal_symptoms=["yawning"], note="Bad night.")
    response = client.post("/v1/checkins", json=body, headers=alice.headers)
    assert response.status_code == 201
    expected = dict(body, recorded_at="2026-11-20T08:30:00Z", peg_score=6.0,
                    created_at="2026-11-25T12:00:00Z", updated_at="2026-11-25T12:00:00Z")
    assert response.json == expected


def test_a_created_checkin_can_be_read_back(client, alice, create_checkin):
    created = create_checkin(alice, note="after walk")
    response = client.get(f"/v1/checkins/{created['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json == created


def test_a_created_checkin_is_stored_for_its_owner(app, alice, create_checkin):
    created = create_checkin(alice, pain=9)
    row = stored(app, CheckIn, created["id"])
    assert str(row["user_id"]) == alice.id
    assert row["pain"] == 9
    assert row["recorded_at"] == dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc)
    assert row["deleted_at"] is None


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


def test_a_checkin_a_few_hours_ahead_of_the_server_clock_is_accepted(client, alice, time_machine):
    time_machine.move_to(NOW, tick=False)
    body = checkin_body(recorded_at=(NOW + dt.timedelta(hours=23)).isoformat())
    assert client.post("/v1/checkins", json=body, headers=alice.headers).status_code == 201


def test_retrying_a_create_returns_the_same_record(app, client, alice):
    body = checkin_body()
    first = client.post("/v1/checkins", json=body, headers=alice.headers)
    second = client.post("/v1/checkins", json=body, headers=alice.headers)
    assert first.status_code == second.status_code == 201
    assert second.json == first.json
    assert count(app, CheckIn) == 1


def test_a_retry_with_different_answers_keeps_what_was_stored_first(app, client, alice):
    body = checkin_body(pain=2)
    first = client.post("/v1/checkins", json=body, headers=alice.headers)
    retry = client.post("/v1/checkins", json=dict(body, pain=8), headers=alice.headers)
    assert retry.status_code == 201
    assert retry.json == first.json
    assert stored(app, CheckIn, body["id"])["pain"] == 2
    assert count(app, CheckIn) == 1


def test_creating_under_another_users_id_is_a_conflict_that_reveals_nothing(app, client, alice, bob):
    body = checkin_body(pain=9, note="private: relapse on Tuesday")
    client.post("/v1/checkins", json=body, headers=alice.headers)
    response = client.post("/v1/checkins", json=checkin_body(id=body["id"], pain=1), headers=bob.headers)
    assert_problem(response, 409)
    assert set(response.json) <= {"type", "title", "status", "detail", "instance"}
    text = response.get_data(as_text=True)
    for secret in ("relapse", "2026-11-20", alice.id, "alice", "Alice"):
        assert secret not in text
    row = stored(app, CheckIn, body["id"])
    assert (str(row["user_id"]), row["pain"]) == (alice.id, 9)
    assert count(app, CheckIn) == 1


def test_recreating_a_deleted_checkin_is_a_conflict(app, client, alice):
    body = checkin_body()
    client.post("/v1/checkins", json=body, headers=alice.headers)
    client.delete(f"/v1/checkins/{body['id']}", headers=alice.headers)
    assert_problem(client.post("/v1/checkins", json=body, headers=alice.headers), 409)
    assert client.get(f"/v1/checkins/{body['id']}", headers=alice.headers).status_code == 404
    assert stored(app, CheckIn, body["id"])["deleted_at"] is not None
    assert count(app, CheckIn) == 1


def test_an_unknown_checkin_is_not_found(client, alice):
    assert_problem(client.get(f"/v1/checkins/{uuid.uuid4()}", headers=alice.headers), 404)


def test_a_checkin_path_that_is_not_a_uuid_is_not_found(client, alice):
    assert_problem(client.get("/v1/checkins/42", headers=alice.headers), 404)


# Lists and pages

def test_the_list_is_newest_first(client, alice, create_checkin):
    middle = create_checkin(alice, recorded_at="2026-11-20T08:00:00Z")
    newest = create_checkin(alice, recorded_at="2026-11-21T08:00:00Z")
    oldest = create_checkin(alice, recorded_at="2026-11-19T08:00:00Z")
    response = client.get("/v1/checkins", headers=alice.headers)
    assert response.status_code == 200
    assert [item["id"] for item in response.json["items"]] == [newest["id"], middle["id"], oldest["id"]]
    assert response.json["items"][0] == newest
    assert response.json["next_cursor"] is None


def test_an_empty_list_has_no_items_and_no_cursor(client, alice):
    assert client.get("/v1/checkins", headers=alice.headers).json == {"items": [], "next_cursor": None}


def test_cursor_pages_walk_every_checkin_once_in_order(client, alice, create_checkin):
    # Several check-ins share an instant, so the pages must break ties by id.
    instants = ["2026-11-20T08:00:00Z"] * 4 + ["2026-11-19T08:00:00Z", "2026-11-21T08:00:00Z",
                                                "2026-11-18T23:59:59.999999Z"]
    created = [create_checkin(alice, recorded_at=instant) for instant in instants]
    expected = [c["id"] for c in sorted(created, key=lambda c: (c["recorded_at"], uuid.UUID(c["id"])),
                                        reverse=True)]
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = client.get("/v1/checkins", query_string=query, headers=alice.headers)
        assert response.status_code == 200
        pages += 1
        assert len(response.json["items"]) <= 2
        seen += [item["id"] for item in response.json["items"]]
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 4


def test_a_full_last_page_has_no_cursor(client, alice, create_checkin):
    for _ in range(3):
        create_checkin(alice)
    response = client.get("/v1/checkins", query_string={"limit": 3}, headers=alice.headers)
    assert len(response.json["items"]) == 3
    assert response.json["next_cursor"] is None


def test_since_is_inclusive_and_until_exclusive(client, alice, create_checkin):
    ids = {hour: create_checkin(alice, recorded_at=f"2026-11-20T{hour:02d}:00:00Z")["id"] for hour in (6, 8, 10, 12)}
    response = client.get("/v1/checkins", headers=alice.headers,
                          query_string={"since": "2026-11-20T08:00:00Z", "until": "2026-11-20T12:00:00Z"})
    assert [item["id"] for item in response.json["items"]] == [ids[10], ids[8]]


def test_range_bounds_accept_any_offset(client, alice, create_checkin):
    inside = create_checkin(alice, recorded_at="2026-11-20T08:00:00Z")
    create_checkin(alice, recorded_at="2026-11-20T06:00:00Z")
    response = client.get("/v1/checkins", headers=alice.headers,
                          query_string={"since": "2026-11-20T09:00:00+02:00"})
    assert [item["id"] for item in response.json["items"]] == [inside["id"]]


def test_pages_within_a_range_stay_within_it(client, alice, create_checkin):
    for day in range(10, 20):
        create_checkin(alice, recorded_at=f"2026-11-{day}T08:00:00Z")
    query = {"since": "2026-11-12T00:00:00Z", "until": "2026-11-17T00:00:00Z", "limit": 2}
    seen, cursor = [], None
    while True:
        response = client.get("/v1/checkins", headers=alice.headers,
                              query_string=query | ({"cursor": cursor} if cursor else {}))
        seen += [item["recorded_at"] for item in response.json["items"]]
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"2026-11-{day}T08:00:00Z" for day in (16, 15, 14, 13, 12)]


def test_the_list_never_shows_another_users_checkins(client, alice, bob, create_checkin):
    mine = create_checkin(alice)
    create_checkin(bob)
    create_checkin(bob, recorded_at="2026-11-21T08:00:00Z")
    assert [item["id"] for item in client.get("/v1/checkins", headers=alice.headers).json["items"]] == [mine["id"]]


def test_a_cursor_from_another_users_list_shows_only_my_checkins(client, alice, bob, create_checkin):
    for _ in range(3):
        create_checkin(bob)
    mine = create_checkin(alice, recorded_at="2026-11-01T08:00:00Z")
    cursor = client.get("/v1/checkins", query_string={"limit": 1}, headers=bob.headers).json["next_cursor"]
    response = client.get("/v1/checkins", query_string={"cursor": cursor}, headers=alice.headers)
    assert [item["id"] for item in response.json["items"]] == [mine["id"]]


def encode_cursor(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("query, parameter", [
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "!!!"}, "cursor"),
    ({"cursor": encode_cursor({"a": 1})}, "cursor"),
    ({"cursor": encode_cursor(["2026-11-20T08:00:00", str(uuid.uuid4())])}, "cursor"),
    ({"cursor": encode_cursor(["2026-11-20T08:00:00Z", "nope"])}, "cursor"),
    ({"cursor": encode_cursor(["2026-11-20T08:00:00Z", 5])}, "cursor"),
    ({"cursor": encode_cursor([5, str(uuid.uuid4())])}, "cursor"),
    ({"limit": 0}, "limit"),
    ({"limit": 201}, "limit"),
    ({"limit": -1}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"since": "2026-11-20T08:00:00"}, "since"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-11-20"}, "until"),
    ({"since": "2026-11-20T08:00:00Z", "until": "2026-11-20T08:00:00Z"}, "until"),
    ({"since": "2026-11-21T08:00:00Z", "until": "2026-11-20T08:00:00Z"}, "until"),
])
def test_bad_list_queries_are_rejected_naming_the_parameter(client, alice, query, parameter):
    response = client.get("/v1/checkins", query_string=query, headers=alice.headers)
    assert_problem(response, 422, parameter)
    assert all(error["in"] == "query" for error in response.json["errors"])


# Correction

def test_patch_changes_only_the_given_answers(app, client, alice, create_checkin, time_machine):
    time_machine.move_to(NOW, tick=False)
    created = create_checkin(alice, pain=5, mood=6, side_effects=["itching"])
    time_machine.move_to(NOW + dt.timedelta(minutes=5), tick=False)
    response = client.patch(f"/v1/checkins/{created['id']}", headers=alice.headers,
                            json={"pain": 8, "side_effects": ["nausea", "dizziness"], "note": "worse"})
    assert response.status_code == 200
    assert response.json == dict(created, pain=8, side_effects=["nausea", "dizziness"], note="worse",
                                 peg_score=6.0, updated_at="2026-11-25T12:05:00Z")
    assert client.get(f"/v1/checkins/{created['id']}", headers=alice.headers).json == response.json
    row = stored(app, CheckIn, created["id"])
    assert (row["pain"], row["mood"], row["note"]) == (8, 6, "worse")


def test_patch_can_clear_an_answer(client, alice, create_checkin):
    created = create_checkin(alice, note="typo")
    response = client.patch(f"/v1/checkins/{created['id']}", json={"note": None, "mood": None}, headers=alice.headers)
    assert response.status_code == 200
    assert (response.json["note"], response.json["mood"]) == (None, None)


def test_patch_can_move_a_checkin_in_time(client, alice, create_checkin):
    created = create_checkin(alice)
    response = client.patch(f"/v1/checkins/{created['id']}", json={"recorded_at": "2026-11-19T23:00:00-05:00"},
                            headers=alice.headers)
    assert response.json["recorded_at"] == "2026-11-20T04:00:00Z"


@pytest.mark.parametrize("changes, field", [
    ({"id": str(uuid.uuid4())}, "id"),
    ({"pain": 11}, "pain"),
    ({"recorded_at": None}, "recorded_at"),
    ({"side_effects": None}, "side_effects"),
    ({"peg_score": 1}, "peg_score"),
    ({"user_id": str(uuid.uuid4())}, "user_id"),
])
def test_bad_corrections_are_rejected_and_change_nothing(app, client, alice, create_checkin, changes, field):
    created = create_checkin(alice)
    before = stored(app, CheckIn, created["id"])
    response = client.patch(f"/v1/checkins/{created['id']}", json=changes, headers=alice.headers)
    assert_problem(response, 422, field)
    assert stored(app, CheckIn, created["id"]) == before


# Deletion

def test_deleting_leaves_a_scrubbed_tombstone(app, client, alice, create_checkin, time_machine):
    time_machine.move_to(NOW, tick=False)
    created = create_checkin(alice, pain=9, sleep_hours=4, side_effects=["nausea"], withdrawal_symptoms=["craving"],
                             note="took too much", phq2_mood=3)
    time_machine.move_to(NOW + dt.timedelta(hours=1), tick=False)
    response = client.delete(f"/v1/checkins/{created['id']}", headers=alice.headers)
    assert response.status_code == 204
    assert response.data == b""
    assert_problem(client.get(f"/v1/checkins/{created['id']}", headers=alice.headers), 404)
    assert client.get("/v1/checkins", headers=alice.headers).json["items"] == []
    row = stored(app, CheckIn, created["id"])
    assert row["deleted_at"] == row["updated_at"] == NOW + dt.timedelta(hours=1)
    assert str(row["user_id"]) == alice.id
    assert row["recorded_at"] == dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc)
    assert all(row[name] is None for name in SCORE_ITEMS + ("sleep_hours", "note"))
    assert (row["side_effects"], row["withdrawal_symptoms"]) == ([], [])


def test_deleting_twice_is_fine_and_keeps_the_first_deletion_time(app, client, alice, create_checkin, time_machine):
    time_machine.move_to(NOW, tick=False)
    created = create_checkin(alice)
    client.delete(f"/v1/checkins/{created['id']}", headers=alice.headers)
    time_machine.move_to(NOW + dt.timedelta(days=1), tick=False)
    assert client.delete(f"/v1/checkins/{created['id']}", headers=alice.headers).status_code == 204
    assert stored(app, CheckIn, created["id"])["deleted_at"] == NOW
    assert count(app, CheckIn) == 1


def test_a_deleted_checkin_cannot_be_corrected(client, alice, create_checkin):
    created = create_checkin(alice)
    client.delete(f"/v1/checkins/{created['id']}", headers=alice.headers)
    response = client.patch(f"/v1/checkins/{created['id']}", json={"pain": 1}, headers=alice.headers)
    assert_problem(response, 404)


def test_deleting_an_unknown_checkin_is_not_found(client, alice):
    assert_problem(client.delete(f"/v1/checkins/{uuid.uuid4()}", headers=alice.headers), 404)


def test_a_deleted_checkin_leaves_the_rest_of_the_list(client, alice, create_checkin):
    keep = create_checkin(alice)
    gone = create_checkin(alice)
    client.delete(f"/v1/checkins/{gone['id']}", headers=alice.headers)
    assert [item["id"] for item in client.get("/v1/checkins", headers=alice.headers).json["items"]] == [keep["id"]]


# Isolation

def test_another_user_can_never_read_correct_or_delete_my_checkin(app, client, alice, bob, create_checkin):
    created = create_checkin(alice, pain=4)
    before = stored(app, CheckIn, created["id"])
    path = f"/v1/checkins/{created['id']}"
    unknown = f"/v1/checkins/{uuid.uuid4()}"
    for method, kwargs in (("get", {}), ("patch", {"json": {"pain": 10}}), ("delete", {})):
        response = getattr(client, method)(path, headers=bob.headers, **kwargs)
        assert_problem(response, 404)
        # Exactly what an id that exists nowhere gets: nothing tells bob the record exists.
        never_existed = getattr(client, method)(unknown, headers=bob.headers, **kwargs)
        assert without_instance(response.json) == without_instance(never_existed.json)
    assert stored(app, CheckIn, created["id"]) == before
    assert client.get(path, headers=alice.headers).json == created


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
    ({"mood_emoji": ":("}, "mood_emoji"),
    ({"user_id": "someone-else"}, "user_id"),
    ({"peg_score": 5}, "peg_score"),
    ({"created_at": "2026-11-20T08:00:00Z"}, "created_at"),
    ({"deleted_at": "2026-11-20T08:00:00Z"}, "deleted_at"),
    ({"id": "not-a-uuid"}, "id"),
    ({"id": None}, "id"),
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


@pytest.mark.parametrize("missing", ["id", "recorded_at"])
def test_a_checkin_without_its_id_or_time_is_rejected(app, client, alice, missing):
    body = checkin_body()
    del body[missing]
    assert_problem(client.post("/v1/checkins", json=body, headers=alice.headers), 422, missing)
    assert count(app, CheckIn) == 0


def test_a_checkin_more_than_a_day_ahead_of_the_server_clock_is_rejected(app, client, alice, time_machine):
    time_machine.move_to(NOW, tick=False)
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


def test_malformed_json_is_a_bad_request_and_writes_nothing(app, client, alice):
    response = client.post("/v1/checkins", data='{"id": "x", "pain": ', content_type="application/json",
                           headers=alice.headers)
    assert_problem(response, 400)
    assert count(app, CheckIn) == 0


def test_a_json_array_instead_of_an_object_is_rejected(app, client, alice):
    response = client.post("/v1/checkins", json=[checkin_body()], headers=alice.headers)
    assert response.status_code in (400, 422)
    assert response.content_type == "application/problem+json"
    assert count(app, CheckIn) == 0


def test_a_body_over_the_size_limit_is_refused_and_writes_nothing(app, client, alice):
    response = client.post("/v1/checkins", json=checkin_body(note="x" * (64 * 1024)), headers=alice.headers)
    assert_problem(response, 413)
    assert count(app, CheckIn) == 0
