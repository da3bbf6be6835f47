"""/v1/doses, what is particular to doses: substances, forms, amounts and units, the window of their
instant, and daily totals per local day. The client-record contract they share with check-ins and
reminders (idempotent create, pages, corrections, tombstones, isolation) is tested once for all
three in tests/records/test_client_records.py."""

import uuid

import pytest

from backend.doses.models import Dose
from tests.support import assert_problem, count, dose_body, stored


# Create and read

def test_logging_a_dose_returns_it_in_utc(client, alice, clock):
    body = dose_body(taken_at="2026-11-20T07:15:00-05:00", substance_kind="kratom", form="concentrate_7oh",
                     product="7-OH tablets", amount=15, unit="mg", note="half a tablet")
    response = client.post("/v1/doses", json=body, headers=alice.headers)
    assert response.status_code == 201
    assert response.json == dict(body, taken_at="2026-11-20T12:15:00Z", amount=15.0,
                                 created_at="2026-11-25T12:00:00Z", updated_at="2026-11-25T12:00:00Z")


def test_a_logged_dose_is_stored_with_its_amount_and_unit(app, alice, create_dose):
    created = create_dose(alice, amount=3.25)
    row = stored(app, Dose, created["id"])
    assert (row["amount"], row["unit"]) == (3.25, "g")


def test_form_product_and_note_are_optional(client, alice):
    body = {"id": str(uuid.uuid4()), "taken_at": "2026-11-20T08:00:00Z", "substance_kind": "nsaid",
            "amount": 400, "unit": "mg"}
    response = client.post("/v1/doses", json=body, headers=alice.headers)
    assert response.status_code == 201
    assert (response.json["form"], response.json["product"], response.json["note"]) == (None, None, None)


# Correction

@pytest.mark.parametrize("changes, field", [
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
    ({"taken_at": "2026-11-20T09:00:00"}, "taken_at"),
    ({"taken_at": "yesterday"}, "taken_at"),
    ({"taken_at": "1900-01-01T09:00:00+00:00"}, "taken_at"),
    ({"taken_at": "3000-01-01T09:00:00+00:00"}, "taken_at"),
    ({"taken_at": "9999-12-31T23:00:00-10:00"}, "taken_at"),
])
def test_bad_doses_are_rejected_naming_the_field_and_write_nothing(app, client, alice, fields, field):
    assert_problem(client.post("/v1/doses", json=dose_body(**fields), headers=alice.headers), 422, field)
    assert count(app, Dose) == 0


@pytest.mark.parametrize("missing", ["taken_at", "substance_kind", "amount", "unit"])
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


def test_a_dose_more_than_a_day_in_the_future_is_rejected(app, client, alice, clock):
    soon = client.post("/v1/doses", json=dose_body(taken_at="2026-11-26T11:00:00Z"), headers=alice.headers)
    assert soon.status_code == 201
    late = client.post("/v1/doses", json=dose_body(taken_at="2026-11-26T13:00:00Z"), headers=alice.headers)
    assert_problem(late, 422, "taken_at")
    assert count(app, Dose) == 1


# Daily totals

def totals(client, person, first, last):
    response = client.get("/v1/doses/daily-totals", query_string={"from": first, "to": last}, headers=person.headers)
    assert response.status_code == 200, response.json
    return response.json


def test_daily_totals_never_add_forms_together(client, alice, create_dose):
    """30 mg of a 7-OH concentrate and 15 mg of extract are not 45 mg of kratom (issue 10)."""
    create_dose(alice, taken_at="2026-11-20T08:00:00Z", amount=30, unit="mg", form="concentrate_7oh")
    create_dose(alice, taken_at="2026-11-20T09:00:00Z", amount=15, unit="mg", form="extract")
    assert [(i["form"], i["total"]) for i in totals(client, alice, "2026-11-20", "2026-11-20")["items"]] == [
        ("concentrate_7oh", 30.0), ("extract", 15.0)]


def test_daily_totals_sum_each_substance_and_unit_per_day(client, alice, create_dose):
    create_dose(alice, taken_at="2026-11-20T08:00:00Z", amount=2.5, unit="g")
    create_dose(alice, taken_at="2026-11-20T14:00:00Z", amount=3, unit="g")
    create_dose(alice, taken_at="2026-11-20T15:00:00Z", substance_kind="kratom", amount=10, unit="mg",
                form="concentrate_7oh")
    create_dose(alice, taken_at="2026-11-20T09:00:00Z", substance_kind="adhd_stimulant", amount=20, unit="mg",
                form="capsule")
    create_dose(alice, taken_at="2026-11-21T08:00:00Z", amount=1, unit="g")
    assert totals(client, alice, "2026-11-20", "2026-11-21") == {"timezone": "UTC", "items": [
        {"date": "2026-11-20", "substance_kind": "adhd_stimulant", "form": "capsule", "unit": "mg", "total": 20.0,
         "doses": 1},
        {"date": "2026-11-20", "substance_kind": "kratom", "form": "concentrate_7oh", "unit": "mg", "total": 10.0,
         "doses": 1},
        {"date": "2026-11-20", "substance_kind": "kratom", "form": "leaf_powder", "unit": "g", "total": 5.5,
         "doses": 2},
        {"date": "2026-11-21", "substance_kind": "kratom", "form": "leaf_powder", "unit": "g", "total": 1.0,
         "doses": 1},
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
        {"date": "2026-11-20", "substance_kind": "kratom", "form": "leaf_powder", "unit": "g", "total": 1.0, "doses": 1},
        {"date": "2026-11-21", "substance_kind": "kratom", "form": "leaf_powder", "unit": "g", "total": 2.0, "doses": 1},
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
