"""/v1/doses: idempotent create, read, pages, correction, tombstones, isolation, bad input, daily totals."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from backend.doses.models import Dose
from backend.extensions import db
from tests.conftest import dose_body

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


def ids(response):
    return [item["id"] for item in response.json["items"]]


# Create and read

def test_logging_a_dose_returns_it_in_utc(client, alice, time_machine):
    time_machine.move_to(NOW, tick=False)
    body = dose_body(taken_at="2026-11-20T07:15:00-05:00", substance_kind="kratom", form="concentrate_7oh",
                     product="7-OH tablets", amount=15, unit="mg", note="half a tablet")
    response = client.post("/v1/doses", json=body, headers=alice.headers)
    assert response.status_code == 201
    assert response.json == dict(body, taken_at="2026-11-20T12:15:00Z", amount=15.0,
                                 created_at="2026-11-25T12:00:00Z", updated_at="2026-11-25T12:00:00Z")


def test_a_logged_dose_can_be_read_back_and_is_stored_for_its_owner(app, client, alice, create_dose):
    created = create_dose(alice, amount=3.25)
    assert client.get(f"/v1/doses/{created['id']}", headers=alice.headers).json == created
    row = stored(app, Dose, created["id"])
    assert (str(row["user_id"]), row["amount"], row["unit"]) == (alice.id, 3.25, "g")


def test_form_product_and_note_are_optional(client, alice):
    body = {"id": str(uuid.uuid4()), "taken_at": "2026-11-20T08:00:00Z", "substance_kind": "nsaid",
            "amount": 400, "unit": "mg"}
    response = client.post("/v1/doses", json=body, headers=alice.headers)
    assert response.status_code == 201
    assert (response.json["form"], response.json["product"], response.json["note"]) == (None, None, None)


def test_retrying_a_dose_returns_the_same_record(app, client, alice):
    body = dose_body()
    first = client.post("/v1/doses", json=body, headers=alice.headers)
    second = client.post("/v1/doses", json=body, headers=alice.headers)
    assert first.status_code == second.status_code == 201
    assert second.json == first.json
    assert count(app, Dose) == 1


def test_a_retry_with_a_different_amount_keeps_what_was_stored_first(app, client, alice):
    body = dose_body(amount=2)
    client.post("/v1/doses", json=body, headers=alice.headers)
    retry = client.post("/v1/doses", json=dict(body, amount=20), headers=alice.headers)
    assert retry.status_code == 201
    assert retry.json["amount"] == 2.0
    assert stored(app, Dose, body["id"])["amount"] == 2.0
    assert count(app, Dose) == 1


def test_logging_under_another_users_id_is_a_conflict_that_reveals_nothing(app, client, alice, bob):
    body = dose_body(product="Red Bali from the corner shop", amount=7.5, note="secret stash")
    client.post("/v1/doses", json=body, headers=alice.headers)
    response = client.post("/v1/doses", json=dose_body(id=body["id"], amount=1), headers=bob.headers)
    assert_problem(response, 409)
    assert set(response.json) <= {"type", "title", "status", "detail", "instance"}
    text = response.get_data(as_text=True)
    for secret in ("Red Bali", "secret", "7.5", alice.id, "alice"):
        assert secret not in text
    assert str(stored(app, Dose, body["id"])["user_id"]) == alice.id
    assert count(app, Dose) == 1


def test_relogging_a_deleted_dose_is_a_conflict(app, client, alice):
    body = dose_body()
    client.post("/v1/doses", json=body, headers=alice.headers)
    client.delete(f"/v1/doses/{body['id']}", headers=alice.headers)
    assert_problem(client.post("/v1/doses", json=body, headers=alice.headers), 409)
    assert client.get(f"/v1/doses/{body['id']}", headers=alice.headers).status_code == 404
    assert count(app, Dose) == 1


def test_an_unknown_dose_is_not_found(client, alice):
    assert_problem(client.get(f"/v1/doses/{uuid.uuid4()}", headers=alice.headers), 404)


# Lists and pages

def test_the_dose_list_is_newest_first(client, alice, create_dose):
    middle = create_dose(alice, taken_at="2026-11-20T08:00:00Z")
    newest = create_dose(alice, taken_at="2026-11-20T08:00:01Z")
    oldest = create_dose(alice, taken_at="2026-11-19T08:00:00Z")
    response = client.get("/v1/doses", headers=alice.headers)
    assert ids(response) == [newest["id"], middle["id"], oldest["id"]]
    assert response.json["next_cursor"] is None


def test_cursor_pages_walk_every_dose_once_in_order(client, alice, create_dose):
    instants = [f"2026-11-{day:02d}T{hour:02d}:00:00Z" for day in (3, 4, 5) for hour in (6, 12)]
    instants += ["2026-11-04T12:00:00Z"] * 3
    created = [create_dose(alice, taken_at=instant) for instant in instants]
    expected = [d["id"] for d in sorted(created, key=lambda d: (d["taken_at"], uuid.UUID(d["id"])), reverse=True)]
    seen, cursor, pages = [], None, 0
    while True:
        response = client.get("/v1/doses", query_string={"limit": 4} | ({"cursor": cursor} if cursor else {}),
                              headers=alice.headers)
        assert response.status_code == 200
        pages += 1
        seen += ids(response)
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert len(set(seen)) == 9
    assert pages == 3


def test_a_dose_logged_between_pages_does_not_disturb_the_walk(client, alice, create_dose):
    created = [create_dose(alice, taken_at=f"2026-11-1{day}T08:00:00Z") for day in range(5)]
    first = client.get("/v1/doses", query_string={"limit": 2}, headers=alice.headers)
    create_dose(alice, taken_at="2026-11-20T08:00:00Z")  # newer than everything: belongs before page one
    rest = client.get("/v1/doses", query_string={"limit": 10, "cursor": first.json["next_cursor"]},
                      headers=alice.headers)
    assert ids(first) + ids(rest) == [d["id"] for d in reversed(created)]


def test_since_and_until_select_a_time_range(client, alice, create_dose):
    by_day = {day: create_dose(alice, taken_at=f"2026-11-{day}T08:00:00Z")["id"] for day in (10, 11, 12, 13)}
    response = client.get("/v1/doses", headers=alice.headers,
                          query_string={"since": "2026-11-11T08:00:00Z", "until": "2026-11-13T08:00:00Z"})
    assert ids(response) == [by_day[12], by_day[11]]
    only_since = client.get("/v1/doses", headers=alice.headers, query_string={"since": "2026-11-12T00:00:00Z"})
    assert ids(only_since) == [by_day[13], by_day[12]]
    only_until = client.get("/v1/doses", headers=alice.headers, query_string={"until": "2026-11-11T08:00:00Z"})
    assert ids(only_until) == [by_day[10]]


def test_the_dose_list_never_shows_another_users_doses(client, alice, bob, create_dose):
    mine = create_dose(alice)
    create_dose(bob)
    assert ids(client.get("/v1/doses", headers=alice.headers)) == [mine["id"]]


@pytest.mark.parametrize("query, parameter", [
    ({"cursor": "garbage"}, "cursor"),
    ({"limit": 0}, "limit"),
    ({"limit": 1000}, "limit"),
    ({"since": "2026-11-20 08:00"}, "since"),
    ({"since": "2026-11-21T00:00:00Z", "until": "2026-11-20T00:00:00Z"}, "until"),
])
def test_bad_dose_list_queries_are_rejected_naming_the_parameter(client, alice, query, parameter):
    assert_problem(client.get("/v1/doses", query_string=query, headers=alice.headers), 422, parameter)


# Correction

def test_correcting_a_dose_changes_only_the_given_fields(app, client, alice, create_dose, time_machine):
    time_machine.move_to(NOW, tick=False)
    created = create_dose(alice, amount=2.5, unit="g")
    time_machine.move_to(NOW + dt.timedelta(minutes=1), tick=False)
    response = client.patch(f"/v1/doses/{created['id']}", json={"amount": 1.5, "note": "typo"}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json == dict(created, amount=1.5, note="typo", updated_at="2026-11-25T12:01:00Z")
    row = stored(app, Dose, created["id"])
    assert (row["amount"], row["unit"], row["note"]) == (1.5, "g", "typo")


@pytest.mark.parametrize("changes, field", [
    ({"id": str(uuid.uuid4())}, "id"),
    ({"amount": 0}, "amount"),
    ({"amount": None}, "amount"),
    ({"unit": "pinch"}, "unit"),
    ({"substance_kind": None}, "substance_kind"),
    ({"taken_at": "2026-11-20T08:00:00"}, "taken_at"),
])
def test_bad_dose_corrections_are_rejected_and_change_nothing(app, client, alice, create_dose, changes, field):
    created = create_dose(alice)
    before = stored(app, Dose, created["id"])
    assert_problem(client.patch(f"/v1/doses/{created['id']}", json=changes, headers=alice.headers), 422, field)
    assert stored(app, Dose, created["id"]) == before


# Deletion

def test_deleting_a_dose_leaves_a_scrubbed_tombstone(app, client, alice, create_dose, time_machine):
    time_machine.move_to(NOW, tick=False)
    created = create_dose(alice, product="Maeng Da", note="felt sick")
    response = client.delete(f"/v1/doses/{created['id']}", headers=alice.headers)
    assert response.status_code == 204
    assert_problem(client.get(f"/v1/doses/{created['id']}", headers=alice.headers), 404)
    assert ids(client.get("/v1/doses", headers=alice.headers)) == []
    row = stored(app, Dose, created["id"])
    assert row["deleted_at"] == NOW
    assert (row["product"], row["note"]) == (None, None)
    assert str(row["user_id"]) == alice.id


def test_deleting_a_dose_twice_is_fine(app, client, alice, create_dose):
    created = create_dose(alice)
    assert client.delete(f"/v1/doses/{created['id']}", headers=alice.headers).status_code == 204
    assert client.delete(f"/v1/doses/{created['id']}", headers=alice.headers).status_code == 204
    assert count(app, Dose) == 1


def test_a_deleted_dose_cannot_be_corrected(client, alice, create_dose):
    created = create_dose(alice)
    client.delete(f"/v1/doses/{created['id']}", headers=alice.headers)
    assert_problem(client.patch(f"/v1/doses/{created['id']}", json={"amount": 1}, headers=alice.headers), 404)


# Isolation

def test_another_user_can_never_read_correct_or_delete_my_dose(app, client, alice, bob, create_dose):
    created = create_dose(alice)
    before = stored(app, Dose, created["id"])
    for method, kwargs in (("get", {}), ("patch", {"json": {"amount": 99}}), ("delete", {})):
        response = getattr(client, method)(f"/v1/doses/{created['id']}", headers=bob.headers, **kwargs)
        assert_problem(response, 404)
        never_existed = getattr(client, method)(f"/v1/doses/{uuid.uuid4()}", headers=bob.headers, **kwargs)
        assert without_instance(response.json) == without_instance(never_existed.json)
    assert stored(app, Dose, created["id"]) == before
    assert client.get(f"/v1/doses/{created['id']}", headers=alice.headers).json == created


def test_a_deleted_dose_of_another_user_is_not_found_either(client, alice, bob, create_dose):
    created = create_dose(alice)
    client.delete(f"/v1/doses/{created['id']}", headers=alice.headers)
    assert_problem(client.delete(f"/v1/doses/{created['id']}", headers=bob.headers), 404)


# Bad input writes nothing

@pytest.mark.parametrize("fields, field", [
    ({"substance_kind": "heroin"}, "substance_kind"),
    ({"substance_kind": "Kratom"}, "substance_kind"),
    ({"substance_kind": None}, "substance_kind"),
    ({"form": "gummy"}, "form"),
    ({"unit": "pinch"}, "unit"),
    ({"unit": "G"}, "unit"),
    ({"unit": None}, "unit"),
    ({"amount": 0}, "amount"),
    ({"amount": -2.5}, "amount"),
    ({"amount": 100_001}, "amount"),
    ({"amount": "two"}, "amount"),
    ({"amount": None}, "amount"),
    ({"amount": [2]}, "amount"),
    ({"product": ""}, "product"),
    ({"product": "p" * 121}, "product"),
    ({"note": "n" * 2001}, "note"),
    ({"strain_colour": "red"}, "strain_colour"),
    ({"user_id": str(uuid.uuid4())}, "user_id"),
    ({"id": "1234"}, "id"),
    ({"taken_at": "2026-11-20T09:00:00"}, "taken_at"),
    ({"taken_at": "yesterday"}, "taken_at"),
    ({"taken_at": "1900-01-01T09:00:00+00:00"}, "taken_at"),
    ({"taken_at": "3000-01-01T09:00:00+00:00"}, "taken_at"),
    ({"taken_at": "9999-12-31T23:00:00-10:00"}, "taken_at"),
])
def test_bad_doses_are_rejected_naming_the_field_and_write_nothing(app, client, alice, fields, field):
    assert_problem(client.post("/v1/doses", json=dose_body(**fields), headers=alice.headers), 422, field)
    assert count(app, Dose) == 0


@pytest.mark.parametrize("missing", ["id", "taken_at", "substance_kind", "amount", "unit"])
def test_a_dose_missing_a_required_field_is_rejected(app, client, alice, missing):
    body = dose_body()
    del body[missing]
    assert_problem(client.post("/v1/doses", json=body, headers=alice.headers), 422, missing)
    assert count(app, Dose) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_amount_is_rejected(app, client, alice, literal):
    # Python's JSON parser accepts these non-standard literals, so the schema must refuse them.
    body = ('{"id": "%s", "taken_at": "2026-11-20T09:00:00Z", "substance_kind": "kratom", '
            '"amount": %s, "unit": "g"}' % (uuid.uuid4(), literal))
    response = client.post("/v1/doses", data=body, content_type="application/json", headers=alice.headers)
    assert_problem(response, 422, "amount")
    assert count(app, Dose) == 0


def test_a_dose_more_than_a_day_in_the_future_is_rejected(app, client, alice, time_machine):
    time_machine.move_to(NOW, tick=False)
    soon = client.post("/v1/doses", json=dose_body(taken_at="2026-11-26T11:00:00Z"), headers=alice.headers)
    assert soon.status_code == 201
    late = client.post("/v1/doses", json=dose_body(taken_at="2026-11-26T13:00:00Z"), headers=alice.headers)
    assert_problem(late, 422, "taken_at")
    assert count(app, Dose) == 1


def test_malformed_dose_json_is_a_bad_request_and_writes_nothing(app, client, alice):
    response = client.post("/v1/doses", data="{'amount': 2}", content_type="application/json", headers=alice.headers)
    assert_problem(response, 400)
    assert count(app, Dose) == 0


def test_an_oversized_dose_body_is_refused_and_writes_nothing(app, client, alice):
    response = client.post("/v1/doses", json=dose_body(note="n" * 70_000), headers=alice.headers)
    assert_problem(response, 413)
    assert count(app, Dose) == 0


# Daily totals

def totals(client, person, first, last):
    response = client.get("/v1/doses/daily-totals", query_string={"from": first, "to": last}, headers=person.headers)
    assert response.status_code == 200, response.json
    return response.json


def test_daily_totals_sum_each_substance_and_unit_per_day(client, alice, create_dose):
    create_dose(alice, taken_at="2026-11-20T08:00:00Z", amount=2.5, unit="g")
    create_dose(alice, taken_at="2026-11-20T14:00:00Z", amount=3, unit="g")
    create_dose(alice, taken_at="2026-11-20T15:00:00Z", substance_kind="kratom", amount=10, unit="mg",
                form="concentrate_7oh")
    create_dose(alice, taken_at="2026-11-20T09:00:00Z", substance_kind="adhd_stimulant", amount=20, unit="mg",
                form="capsule")
    create_dose(alice, taken_at="2026-11-21T08:00:00Z", amount=1, unit="g")
    assert totals(client, alice, "2026-11-20", "2026-11-21") == {"timezone": "UTC", "items": [
        {"date": "2026-11-20", "substance_kind": "adhd_stimulant", "unit": "mg", "total": 20.0, "doses": 1},
        {"date": "2026-11-20", "substance_kind": "kratom", "unit": "g", "total": 5.5, "doses": 2},
        {"date": "2026-11-20", "substance_kind": "kratom", "unit": "mg", "total": 10.0, "doses": 1},
        {"date": "2026-11-21", "substance_kind": "kratom", "unit": "g", "total": 1.0, "doses": 1},
    ]}


def test_daily_totals_do_not_show_float_noise(client, alice, create_dose):
    create_dose(alice, amount=0.1)
    create_dose(alice, amount=0.2)
    assert totals(client, alice, "2026-11-20", "2026-11-20")["items"][0]["total"] == 0.3


def test_a_day_without_doses_has_no_totals(client, alice):
    assert totals(client, alice, "2026-11-01", "2026-11-30") == {"timezone": "UTC", "items": []}


def test_late_evening_and_just_after_midnight_are_two_local_days(client, make_person, create_dose):
    person = make_person(timezone="America/New_York")
    create_dose(person, taken_at="2026-11-20T23:30:00-05:00", amount=1)
    create_dose(person, taken_at="2026-11-21T00:30:00-05:00", amount=2)
    assert totals(client, person, "2026-11-20", "2026-11-21") == {"timezone": "America/New_York", "items": [
        {"date": "2026-11-20", "substance_kind": "kratom", "unit": "g", "total": 1.0, "doses": 1},
        {"date": "2026-11-21", "substance_kind": "kratom", "unit": "g", "total": 2.0, "doses": 1},
    ]}


def test_the_same_instants_fall_on_the_same_day_for_a_utc_user(client, make_person, create_dose):
    # 04:30Z and 05:30Z: one UTC day, but 23:30 and 00:30 in New York.
    new_yorker, londoner = make_person(timezone="America/New_York"), make_person()
    for person in (new_yorker, londoner):
        create_dose(person, taken_at="2026-11-21T04:30:00Z", amount=1)
        create_dose(person, taken_at="2026-11-21T05:30:00Z", amount=2)
    assert [(i["date"], i["total"]) for i in totals(client, londoner, "2026-11-20", "2026-11-21")["items"]] == \
           [("2026-11-21", 3.0)]
    assert [(i["date"], i["total"]) for i in totals(client, new_yorker, "2026-11-20", "2026-11-21")["items"]] == \
           [("2026-11-20", 1.0), ("2026-11-21", 2.0)]


def test_the_range_is_bounded_by_local_midnights(client, make_person, create_dose):
    person = make_person(timezone="America/New_York")
    create_dose(person, taken_at="2026-11-20T23:59:59-05:00", amount=1)  # Nov 20 local, Nov 21 in UTC
    create_dose(person, taken_at="2026-11-21T00:00:00-05:00", amount=2)
    create_dose(person, taken_at="2026-11-21T23:59:59-05:00", amount=4)
    create_dose(person, taken_at="2026-11-22T00:00:00-05:00", amount=8)
    assert [(i["date"], i["total"]) for i in totals(client, person, "2026-11-21", "2026-11-21")["items"]] == \
           [("2026-11-21", 6.0)]


def test_the_fall_back_day_has_twenty_five_hours_of_doses(client, make_person, create_dose):
    person = make_person(timezone="America/New_York")
    # 2026-11-01: clocks go back from 02:00 EDT to 01:00 EST.
    create_dose(person, taken_at="2026-11-01T00:30:00-04:00", amount=1)
    create_dose(person, taken_at="2026-11-01T01:30:00-04:00", amount=2)  # the first 01:30
    create_dose(person, taken_at="2026-11-01T01:30:00-05:00", amount=4)  # the second 01:30
    create_dose(person, taken_at="2026-11-01T23:30:00-05:00", amount=8)
    create_dose(person, taken_at="2026-11-02T00:30:00-05:00", amount=16)
    create_dose(person, taken_at="2026-10-31T23:30:00-04:00", amount=32)
    result = totals(client, person, "2026-11-01", "2026-11-01")
    assert [(i["date"], i["total"], i["doses"]) for i in result["items"]] == [("2026-11-01", 15.0, 4)]


def test_the_spring_forward_day_has_twenty_three_hours_of_doses(client, make_person, create_dose):
    person = make_person(timezone="America/New_York")
    # 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT.
    create_dose(person, taken_at="2026-03-08T00:30:00-05:00", amount=1)
    create_dose(person, taken_at="2026-03-08T03:30:00-04:00", amount=2)
    create_dose(person, taken_at="2026-03-08T23:30:00-04:00", amount=4)
    create_dose(person, taken_at="2026-03-09T00:30:00-04:00", amount=8)
    result = totals(client, person, "2026-03-07", "2026-03-09")
    assert [(i["date"], i["total"]) for i in result["items"]] == [("2026-03-08", 7.0), ("2026-03-09", 8.0)]


def test_a_time_zone_change_regroups_past_doses_by_the_new_local_day(client, make_person, create_dose):
    person = make_person()
    create_dose(person, taken_at="2026-11-21T03:00:00Z", amount=1)
    assert totals(client, person, "2026-11-20", "2026-11-21")["items"][0]["date"] == "2026-11-21"
    client.patch("/v1/me", json={"timezone": "America/Los_Angeles"}, headers=person.headers)
    result = totals(client, person, "2026-11-20", "2026-11-21")
    assert result["timezone"] == "America/Los_Angeles"
    assert result["items"][0]["date"] == "2026-11-20"


def test_deleted_doses_are_not_counted(client, alice, create_dose):
    create_dose(alice, amount=2)
    gone = create_dose(alice, amount=40)
    client.delete(f"/v1/doses/{gone['id']}", headers=alice.headers)
    assert [(i["total"], i["doses"]) for i in totals(client, alice, "2026-11-20", "2026-11-20")["items"]] == [(2.0, 1)]


def test_daily_totals_count_only_my_doses(client, alice, bob, create_dose):
    create_dose(alice, amount=2)
    create_dose(bob, amount=100)
    assert [i["total"] for i in totals(client, alice, "2026-11-20", "2026-11-20")["items"]] == [2.0]


def test_a_range_of_366_days_is_allowed(client, alice):
    assert totals(client, alice, "2025-11-21", "2026-11-21")["items"] == []


@pytest.mark.parametrize("query, parameter", [
    ({"from": "2026-11-21", "to": "2026-11-20"}, "to"),
    ({"from": "2025-11-20", "to": "2026-11-21"}, "to"),
    ({"from": "2020-01-01", "to": "2026-11-21"}, "to"),
    ({"from": "2026-11-20"}, "to"),
    ({"to": "2026-11-20"}, "from"),
    ({"from": "20/11/2026", "to": "2026-11-21"}, "from"),
    ({"from": "2026-11-20T00:00:00Z", "to": "2026-11-21"}, "from"),
    ({"from": "1999-12-31", "to": "2000-01-01"}, "from"),
])
def test_bad_daily_total_ranges_are_rejected_naming_the_parameter(client, alice, query, parameter):
    response = client.get("/v1/doses/daily-totals", query_string=query, headers=alice.headers)
    assert_problem(response, 422, parameter)
