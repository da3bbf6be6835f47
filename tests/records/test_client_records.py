"""The contract every client record keeps (backend/records.py), once for each kind: check-ins, doses
and reminder schedules. The phone creates them offline under its own UUIDs and retries until it
hears back, pages through them newest first, corrects them, and deletes them into tombstones
that sync still sees; nobody else ever learns they exist.

What is particular to one kind (its fields, their validation, daily totals, next fires …) is tested
in that kind's own folder."""

import base64
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable

import pytest

from backend.checkins.models import SCORE_ITEMS, CheckIn
from backend.doses.models import Dose
from backend.reminders.models import ReminderSchedule
from tests.support import (NOW, assert_problem, checkin_body, count, dose_body, iso, reminder_body, stored, utc,
                           without_instance)

# Time stands still at NOW (the shared clock) unless a test moves it.
pytestmark = pytest.mark.usefixtures("clock")


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    model: type
    body: Callable[..., dict]
    # The instant lists are ordered, paged and ranged by.
    instant: str
    # Whether the phone sends that instant (else the server stamps it when the record is created).
    client_instant: bool
    # A valid correction that touches no derived field.
    change: dict
    # Optional fields a null in a correction clears.
    clearable: dict
    # Private content, and the text by which it would show if it leaked.
    private: dict
    leaks: tuple
    # A record with everything a deletion scrubs, and those columns as the tombstone holds them.
    full: dict
    scrubbed: dict
    # A free-text field, to make a body too big.
    text: str

    @property
    def path(self):
        return f"/v1/{self.name}"

    def __str__(self):
        return self.name


KINDS = [
    Kind("checkins", CheckIn, checkin_body, "recorded_at", True,
         change={"mood": 3, "note": "worse"},
         clearable={"note": "typo", "mood": 4},
         private={"pain": 9, "note": "private: relapse on Tuesday"}, leaks=("relapse", "2026-11-20"),
         full={"pain": 9, "sleep_hours": 4, "side_effects": ["nausea"], "withdrawal_symptoms": ["craving"],
               "note": "took too much", "phq2_mood": 3},
         scrubbed={**{name: None for name in SCORE_ITEMS}, "sleep_hours": None, "note": None,
                   "side_effects": [], "withdrawal_symptoms": []},
         text="note"),
    Kind("doses", Dose, dose_body, "taken_at", True,
         change={"amount": 1.5, "note": "typo"},
         clearable={"note": "typo", "product": "Maeng Da"},
         private={"product": "Red Bali from the corner shop", "amount": 7.5, "note": "secret stash"},
         leaks=("Red Bali", "secret", "7.5"),
         full={"product": "Maeng Da", "note": "felt sick"},
         scrubbed={"product": None, "note": None},
         text="note"),
    Kind("reminders", ReminderSchedule, reminder_body, "created_at", False,
         change={"label": "Evening"},
         clearable={"label": "Walk"},
         private={"label": "Alice's oxycodone"}, leaks=("oxycodone",),
         # Nothing fires any more either.
         full={"label": "Evening pills"},
         scrubbed={"label": None, "next_fire_at": None},
         text="label"),
]


@pytest.fixture(params=KINDS, ids=str)
def kind(request):
    return request.param


@pytest.fixture
def create(kind, client, clock):
    """Factory: create a record of this kind for a person and return the response JSON. `at` is the
    instant it is listed by: sent in the body, or for server-stamped kinds the clock moves there."""
    def make(person, at=None, **fields):
        if at is not None:
            if kind.client_instant:
                fields[kind.instant] = iso(at)
            else:
                clock.move_to(at, tick=False)
        response = client.post(kind.path, json=kind.body(**fields), headers=person.headers)
        assert response.status_code == 201, response.json
        return response.json
    return make


def listed(client, kind, person, **query):
    response = client.get(kind.path, query_string=query, headers=person.headers)
    assert response.status_code == 200, response.json
    return response.json


def ids(page):
    return [item["id"] for item in page["items"]]


def instant_of(record, kind):
    return dt.datetime.fromisoformat(record[kind.instant])


def encode_cursor(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# Create: idempotent under the client's id

def test_a_created_record_reads_back_as_created(client, kind, alice, create):
    created = create(alice)
    response = client.get(f"{kind.path}/{created['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json == created


def test_a_created_record_is_stored_live_for_its_owner(app, kind, alice, create):
    created = create(alice)
    row = stored(app, kind.model, created["id"])
    assert str(row["user_id"]) == alice.id
    assert row["created_at"] == row["updated_at"] == NOW
    assert row["deleted_at"] is None
    assert (created["created_at"], created["updated_at"]) == ("2026-11-25T12:00:00Z", "2026-11-25T12:00:00Z")


def test_retrying_a_create_returns_the_stored_record(app, client, kind, alice, clock):
    body = kind.body()
    first = client.post(kind.path, json=body, headers=alice.headers)
    clock.move_to(NOW + dt.timedelta(minutes=5), tick=False)
    second = client.post(kind.path, json=body, headers=alice.headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json == first.json
    assert count(app, kind.model) == 1


def test_a_retry_with_other_content_is_a_409_naming_the_fields_and_the_record_and_keeps_the_first(
        app, client, kind, alice):
    """The phone must not believe its correction was saved: it is told to PATCH the record instead."""
    body = kind.body(**kind.private)
    first = client.post(kind.path, json=body, headers=alice.headers)
    retry = client.post(kind.path, json=dict(body, **kind.change), headers=alice.headers)
    problem = assert_problem(retry, 409, *kind.change)
    assert problem["record"] == f"{kind.path}/{body['id']}"
    assert retry.headers["Location"] == f"{kind.path}/{body['id']}"
    assert client.get(f"{kind.path}/{body['id']}", headers=alice.headers).json == first.json
    row = stored(app, kind.model, body["id"])
    assert {name: row[name] for name in kind.change} == {name: body.get(name) for name in kind.change}
    assert count(app, kind.model) == 1


def test_a_retry_that_spells_the_same_content_differently_is_still_a_retry(app, client, kind, alice):
    body = kind.body()
    first = client.post(kind.path, json=body, headers=alice.headers)
    same = dict(body, **{kind.instant: first.json[kind.instant]}) if kind.client_instant else body
    retry = client.post(kind.path, json=same, headers=alice.headers)
    assert (retry.status_code, retry.json) == (201, first.json)


def test_creating_under_another_users_id_is_a_conflict_that_reveals_nothing(app, client, kind, alice, bob):
    body = kind.body(**kind.private)
    client.post(kind.path, json=body, headers=alice.headers)
    response = client.post(kind.path, json=kind.body(id=body["id"], **kind.change), headers=bob.headers)
    assert_problem(response, 409)
    assert set(response.json) <= {"type", "title", "status", "detail", "instance"}
    text = response.get_data(as_text=True)
    for secret in (*kind.leaks, alice.id, alice.uid, "Alice"):
        assert secret not in text
    row = stored(app, kind.model, body["id"])
    assert str(row["user_id"]) == alice.id
    assert {name: row[name] for name in kind.private} == kind.private
    assert count(app, kind.model) == 1
    assert listed(client, kind, bob) == {"items": [], "next_cursor": None}


def test_recreating_a_deleted_record_is_a_conflict(app, client, kind, alice):
    body = kind.body()
    client.post(kind.path, json=body, headers=alice.headers)
    client.delete(f"{kind.path}/{body['id']}", headers=alice.headers)
    assert_problem(client.post(kind.path, json=body, headers=alice.headers), 409)
    assert_problem(client.get(f"{kind.path}/{body['id']}", headers=alice.headers), 404)
    assert stored(app, kind.model, body["id"])["deleted_at"] is not None
    assert count(app, kind.model) == 1


def test_a_create_without_its_id_is_rejected(app, client, kind, alice):
    body = kind.body()
    del body["id"]
    assert_problem(client.post(kind.path, json=body, headers=alice.headers), 422, "id")
    assert count(app, kind.model) == 0


@pytest.mark.parametrize("fields, field", [
    ({"id": "not-a-uuid"}, "id"),
    ({"id": "1234"}, "id"),
    ({"id": None}, "id"),
    # What the server owns cannot be sent, and an unknown field is an error, never dropped.
    ({"user_id": str(uuid.uuid4())}, "user_id"),
    ({"user_id": "someone-else"}, "user_id"),
    ({"created_at": "2026-11-20T08:00:00Z"}, "created_at"),
    ({"updated_at": "2026-11-20T08:00:00Z"}, "updated_at"),
    ({"deleted_at": "2026-11-20T08:00:00Z"}, "deleted_at"),
    ({"colour": "blue"}, "colour"),
])
def test_a_bad_id_a_server_field_or_an_unknown_field_is_rejected_and_writes_nothing(app, client, kind, alice,
                                                                                    fields, field):
    response = client.post(kind.path, json=kind.body(**fields), headers=alice.headers)
    assert_problem(response, 422, field)
    assert count(app, kind.model) == 0


@pytest.mark.parametrize("data", ['{"id": "x", "note": ', "{'amount': 2}"])
def test_malformed_json_is_a_bad_request_and_writes_nothing(app, client, kind, alice, data):
    response = client.post(kind.path, data=data, content_type="application/json", headers=alice.headers)
    assert_problem(response, 400)
    assert count(app, kind.model) == 0


def test_a_json_array_instead_of_an_object_is_rejected_and_writes_nothing(app, client, kind, alice):
    # Well-formed JSON, so not a 400: the body is of the wrong type, like a field of the wrong type.
    response = client.post(kind.path, json=[kind.body()], headers=alice.headers)
    assert_problem(response, 422)
    assert count(app, kind.model) == 0


def test_a_body_over_the_size_limit_is_refused_and_writes_nothing(app, client, kind, alice):
    response = client.post(kind.path, json=kind.body(**{kind.text: "x" * (64 * 1024)}), headers=alice.headers)
    assert_problem(response, 413)
    assert count(app, kind.model) == 0


# Read

@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_an_unknown_id_is_not_found(client, kind, alice, method):
    kwargs = {"json": kind.change} if method == "patch" else {}
    response = getattr(client, method)(f"{kind.path}/{uuid.uuid4()}", headers=alice.headers, **kwargs)
    assert_problem(response, 404)


def test_a_path_that_is_not_a_uuid_is_not_found(client, kind, alice):
    assert_problem(client.get(f"{kind.path}/42", headers=alice.headers), 404)


# Lists: newest first, in keyset pages, within a range

def test_the_list_is_newest_first(client, kind, alice, create):
    middle = create(alice, at=utc(2026, 11, 20, 8))
    newest = create(alice, at=utc(2026, 11, 20, 8, 0, 1))
    oldest = create(alice, at=utc(2026, 11, 19, 8))
    assert listed(client, kind, alice) == {"items": [newest, middle, oldest], "next_cursor": None}


def test_an_empty_list_has_no_items_and_no_cursor(client, kind, alice):
    assert listed(client, kind, alice) == {"items": [], "next_cursor": None}


def test_cursor_pages_walk_every_record_once_in_order(client, kind, alice, create):
    # Several records share an instant, so the pages must break ties by id.
    instants = [utc(2026, 11, 20, 8)] * 4 + [utc(2026, 11, 19, 8), utc(2026, 11, 21, 8),
                                              utc(2026, 11, 18, 23, 59, 59, 999999)]
    created = [create(alice, at=instant) for instant in instants]
    expected = [r["id"] for r in sorted(created, key=lambda r: (instant_of(r, kind), uuid.UUID(r["id"])),
                                        reverse=True)]
    seen, cursor, pages = [], None, 0
    while True:
        page = listed(client, kind, alice, limit=2, **({"cursor": cursor} if cursor else {}))
        pages += 1
        assert len(page["items"]) <= 2
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 4


def test_a_full_last_page_has_no_cursor(client, kind, alice, create):
    for _ in range(3):
        create(alice)
    page = listed(client, kind, alice, limit=3)
    assert len(page["items"]) == 3
    assert page["next_cursor"] is None


def test_a_record_created_between_pages_does_not_disturb_the_walk(client, kind, alice, create):
    created = [create(alice, at=utc(2026, 11, 10 + day, 8)) for day in range(5)]
    first = listed(client, kind, alice, limit=2)
    create(alice, at=utc(2026, 11, 20, 8))  # newer than everything: it belongs before page one
    rest = listed(client, kind, alice, limit=10, cursor=first["next_cursor"])
    assert ids(first) + ids(rest) == [r["id"] for r in reversed(created)]


def test_since_is_inclusive_and_until_exclusive(client, kind, alice, create):
    by_hour = {hour: create(alice, at=utc(2026, 11, 20, hour))["id"] for hour in (6, 8, 10, 12)}
    page = listed(client, kind, alice, since="2026-11-20T08:00:00Z", until="2026-11-20T12:00:00Z")
    assert ids(page) == [by_hour[10], by_hour[8]]
    assert ids(listed(client, kind, alice, since="2026-11-20T10:00:00Z")) == [by_hour[12], by_hour[10]]
    assert ids(listed(client, kind, alice, until="2026-11-20T08:00:00Z")) == [by_hour[6]]


def test_range_bounds_accept_any_offset(client, kind, alice, create):
    inside = create(alice, at=utc(2026, 11, 20, 8))
    create(alice, at=utc(2026, 11, 20, 6))
    assert ids(listed(client, kind, alice, since="2026-11-20T09:00:00+02:00")) == [inside["id"]]


def test_pages_within_a_range_stay_within_it(client, kind, alice, create):
    for day in range(10, 20):
        create(alice, at=utc(2026, 11, day, 8))
    query = {"since": "2026-11-12T00:00:00Z", "until": "2026-11-17T00:00:00Z", "limit": 2}
    seen, cursor = [], None
    while True:
        page = listed(client, kind, alice, **query, **({"cursor": cursor} if cursor else {}))
        seen += [instant_of(item, kind) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [utc(2026, 11, day, 8) for day in (16, 15, 14, 13, 12)]


def test_the_list_never_shows_another_users_records(client, kind, alice, bob, create):
    mine = create(alice, at=utc(2026, 11, 20, 8))
    create(bob, at=utc(2026, 11, 20, 9))
    create(bob, at=utc(2026, 11, 21, 8))
    assert ids(listed(client, kind, alice)) == [mine["id"]]


def test_a_cursor_from_another_users_list_shows_only_my_records(client, kind, alice, bob, create):
    for hour in range(3):
        create(bob, at=utc(2026, 11, 20, hour))
    mine = create(alice, at=utc(2026, 11, 1, 8))
    cursor = listed(client, kind, bob, limit=1)["next_cursor"]
    assert ids(listed(client, kind, alice, cursor=cursor)) == [mine["id"]]


@pytest.mark.parametrize("query, parameter", [
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "garbage"}, "cursor"),
    ({"cursor": "!!!"}, "cursor"),
    ({"cursor": encode_cursor({"a": 1})}, "cursor"),
    ({"cursor": encode_cursor(["2026-11-20T08:00:00", str(uuid.uuid4())])}, "cursor"),
    ({"cursor": encode_cursor(["2026-11-20T08:00:00Z", "nope"])}, "cursor"),
    ({"cursor": encode_cursor(["2026-11-20T08:00:00Z", 5])}, "cursor"),
    ({"cursor": encode_cursor([5, str(uuid.uuid4())])}, "cursor"),
    ({"limit": 0}, "limit"),
    ({"limit": 201}, "limit"),
    ({"limit": 1000}, "limit"),
    ({"limit": -1}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"since": "2026-11-20T08:00:00"}, "since"),
    ({"since": "2026-11-20 08:00"}, "since"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-11-20"}, "until"),
    ({"since": "2026-11-20T08:00:00Z", "until": "2026-11-20T08:00:00Z"}, "until"),
    ({"since": "2026-11-21T08:00:00Z", "until": "2026-11-20T08:00:00Z"}, "until"),
])
def test_bad_list_queries_are_rejected_naming_the_parameter(client, kind, alice, query, parameter):
    response = client.get(kind.path, query_string=query, headers=alice.headers)
    assert_problem(response, 422, parameter)
    assert all(error["in"] == "query" for error in response.json["errors"])


# Correction: PATCH changes what it names, and only that

def test_a_correction_changes_only_the_given_fields(app, client, kind, alice, create, clock):
    created = create(alice)
    clock.move_to(NOW + dt.timedelta(minutes=5), tick=False)
    response = client.patch(f"{kind.path}/{created['id']}", json=kind.change, headers=alice.headers)
    assert response.status_code == 200
    assert response.json == dict(created, **kind.change, updated_at="2026-11-25T12:05:00Z")
    assert client.get(f"{kind.path}/{created['id']}", headers=alice.headers).json == response.json
    row = stored(app, kind.model, created["id"])
    assert {name: row[name] for name in kind.change} == kind.change
    assert row["updated_at"] == NOW + dt.timedelta(minutes=5)


def test_a_null_in_a_correction_clears_an_optional_field(client, kind, alice, create):
    created = create(alice, **kind.clearable)
    response = client.patch(f"{kind.path}/{created['id']}", json=dict.fromkeys(kind.clearable),
                            headers=alice.headers)
    assert response.status_code == 200
    assert {name: response.json[name] for name in kind.clearable} == dict.fromkeys(kind.clearable)


@pytest.mark.parametrize("changes, field", [
    ({"id": str(uuid.uuid4())}, "id"),
    ({"user_id": str(uuid.uuid4())}, "user_id"),
    ({"created_at": "2026-11-20T08:00:00Z"}, "created_at"),
    ({"deleted_at": "2026-11-20T08:00:00Z"}, "deleted_at"),
    ({"colour": "blue"}, "colour"),
])
def test_a_correction_of_the_id_a_server_field_or_an_unknown_field_is_rejected_and_changes_nothing(
        app, client, kind, alice, create, changes, field):
    created = create(alice)
    before = stored(app, kind.model, created["id"])
    response = client.patch(f"{kind.path}/{created['id']}", json=changes, headers=alice.headers)
    assert_problem(response, 422, field)
    assert stored(app, kind.model, created["id"]) == before


def test_a_deleted_record_cannot_be_corrected(client, kind, alice, create):
    created = create(alice)
    client.delete(f"{kind.path}/{created['id']}", headers=alice.headers)
    assert_problem(client.patch(f"{kind.path}/{created['id']}", json=kind.change, headers=alice.headers), 404)


# Deletion: a scrubbed tombstone stays for sync

def test_deleting_leaves_a_scrubbed_tombstone(app, client, kind, alice, create, clock):
    created = create(alice, **kind.full)
    clock.move_to(NOW + dt.timedelta(hours=1), tick=False)
    response = client.delete(f"{kind.path}/{created['id']}", headers=alice.headers)
    assert response.status_code == 204
    assert response.data == b""
    assert_problem(client.get(f"{kind.path}/{created['id']}", headers=alice.headers), 404)
    assert listed(client, kind, alice)["items"] == []
    row = stored(app, kind.model, created["id"])
    assert row["deleted_at"] == row["updated_at"] == NOW + dt.timedelta(hours=1)
    assert str(row["user_id"]) == alice.id
    assert row[kind.instant] == instant_of(created, kind)
    assert {name: row[name] for name in kind.scrubbed} == kind.scrubbed


def test_deleting_twice_is_a_no_op_that_keeps_the_first_deletion_time(app, client, kind, alice, create, clock):
    created = create(alice)
    assert client.delete(f"{kind.path}/{created['id']}", headers=alice.headers).status_code == 204
    clock.move_to(NOW + dt.timedelta(days=1), tick=False)
    assert client.delete(f"{kind.path}/{created['id']}", headers=alice.headers).status_code == 204
    row = stored(app, kind.model, created["id"])
    assert row["deleted_at"] == row["updated_at"] == NOW
    assert count(app, kind.model) == 1


def test_a_deleted_record_leaves_the_rest_of_the_list(client, kind, alice, create):
    keep = create(alice)
    gone = create(alice)
    client.delete(f"{kind.path}/{gone['id']}", headers=alice.headers)
    assert ids(listed(client, kind, alice)) == [keep["id"]]


# Isolation: another person's record is a record that does not exist

def test_another_user_can_never_read_correct_or_delete_my_record(app, client, kind, alice, bob, create):
    created = create(alice, **kind.private)
    before = stored(app, kind.model, created["id"])
    path, unknown = f"{kind.path}/{created['id']}", f"{kind.path}/{uuid.uuid4()}"
    for method, kwargs in (("get", {}), ("patch", {"json": kind.change}), ("delete", {})):
        response = getattr(client, method)(path, headers=bob.headers, **kwargs)
        assert_problem(response, 404)
        # Exactly what an id that exists nowhere gets: nothing tells bob the record exists.
        never_existed = getattr(client, method)(unknown, headers=bob.headers, **kwargs)
        assert without_instance(response.json) == without_instance(never_existed.json)
    assert stored(app, kind.model, created["id"]) == before
    assert client.get(path, headers=alice.headers).json == created


def test_another_users_tombstone_is_not_found_either(client, kind, alice, bob, create):
    created = create(alice)
    client.delete(f"{kind.path}/{created['id']}", headers=alice.headers)
    assert_problem(client.delete(f"{kind.path}/{created['id']}", headers=bob.headers), 404)


# Lost updates: versions (ETag) and If-Match

def test_a_record_carries_its_version_and_a_change_gives_it_a_new_one(client, kind, alice):
    created = client.post(kind.path, json=kind.body(), headers=alice.headers)
    url = f"{kind.path}/{created.json['id']}"
    read = client.get(url, headers=alice.headers)
    assert read.headers["ETag"] == created.headers["ETag"]
    changed = client.patch(url, json=kind.change, headers={**alice.headers, "If-Match": read.headers["ETag"]})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != read.headers["ETag"]
    assert client.get(url, headers=alice.headers).headers["ETag"] == changed.headers["ETag"]


def test_a_change_based_on_an_old_version_is_a_412_and_changes_nothing(app, client, kind, alice):
    """Two devices read the record; the second one's change must not silently undo the first one's."""
    created = client.post(kind.path, json=kind.body(), headers=alice.headers)
    url, seen = f"{kind.path}/{created.json['id']}", created.headers["ETag"]
    first = client.patch(url, json=kind.change, headers={**alice.headers, "If-Match": seen})
    assert first.status_code == 200
    stale = client.patch(url, json=kind.clearable, headers={**alice.headers, "If-Match": seen})
    problem = assert_problem(stale, 412)
    assert stale.headers["ETag"] == first.headers["ETag"]
    assert "changed since" in problem["detail"]
    assert client.get(url, headers=alice.headers).json == first.json
    assert_problem(client.delete(url, headers={**alice.headers, "If-Match": seen}), 412)
    assert client.get(url, headers=alice.headers).status_code == 200


def test_if_match_is_never_required_and_a_star_matches_any_version(client, kind, alice):
    created = client.post(kind.path, json=kind.body(), headers=alice.headers)
    url = f"{kind.path}/{created.json['id']}"
    assert client.patch(url, json=kind.change, headers=alice.headers).status_code == 200  # no 428
    assert client.patch(url, json=kind.clearable, headers={**alice.headers, "If-Match": "*"}).status_code == 200
    assert client.delete(url, headers={**alice.headers, "If-Match": '"nope", *'}).status_code == 204
