"""Prompts and the plan through the API: listing, acknowledging, plan validation, the caregiver's
scoped view; what every rule's message says (and never says); who is pushed what, and when."""

import datetime as dt
import json
import re
import uuid

import pytest
import sqlalchemy as sa

import jobs
from backend.checkins.vocabulary import SIDE_EFFECTS, WITHDRAWAL_SYMPTOMS
from backend.domain import SUBSTANCE_KINDS
from backend.extensions import db
from backend.monitoring.delivery import RULE_TITLES
from backend.monitoring.plan import DEFAULTS
from backend.push.models import LocalPush, PushDelivery
from tests.fakes.transports import FlakyTransport
from tests.support import NOW, assert_problem, local, utc

HOUR, MINUTE, DAY = dt.timedelta(hours=1), dt.timedelta(minutes=1), dt.timedelta(days=1)


# Listing and acknowledging -----------------------------------------------------------------------

def test_prompts_are_listed_newest_first_and_only_to_their_owner(patient, dose, checkin, monitor, prompts, client):
    person, other = patient(), patient()
    checkin(person, utc(2026, 11, 25, 8), side_effects=["dark_urine"])
    monitor(utc(2026, 11, 25, 8, 1))
    dose(person, utc(2026, 11, 25, 9), 5, "mg", form="concentrate_7oh")
    monitor(utc(2026, 11, 25, 9, 1))
    checkin(person, utc(2026, 11, 25, 10), withdrawal_symptoms=["sweating", "tremor", "nausea"])
    monitor(utc(2026, 11, 25, 10, 1))
    listed = prompts(person)
    assert [(p["rule"], p["created_at"]) for p in listed] == [
        ("withdrawal", "2026-11-25T10:01:00Z"), ("concentrated_7oh", "2026-11-25T09:01:00Z"),
        ("liver", "2026-11-25T08:01:00Z")]
    assert all(p["acknowledged_at"] is None for p in listed)
    assert prompts(other) == []

    page = client.get("/v1/prompts", query_string={"limit": 2}, headers=person.headers).json
    assert [p["rule"] for p in page["items"]] == ["withdrawal", "concentrated_7oh"]
    rest = client.get("/v1/prompts", query_string={"cursor": page["next_cursor"]}, headers=person.headers).json
    assert [p["rule"] for p in rest["items"]] == ["liver"] and rest["next_cursor"] is None


def test_acknowledging_a_prompt_marks_it_read_once(patient, checkin, monitor, prompts, client, clock):
    person, other = patient(), patient()
    checkin(person, NOW, side_effects=["dark_urine"])
    monitor()
    [prompt] = prompts(person)
    clock.move_to(NOW + HOUR, tick=False)
    response = client.post(f"/v1/prompts/{prompt['id']}/ack", headers=person.headers)
    assert response.status_code == 200
    assert response.json["acknowledged_at"] == "2026-11-25T13:00:00Z"
    clock.move_to(NOW + 2 * HOUR, tick=False)
    again = client.post(f"/v1/prompts/{prompt['id']}/ack", headers=person.headers)
    assert again.json["acknowledged_at"] == "2026-11-25T13:00:00Z"
    assert prompts(person)[0]["acknowledged_at"] == "2026-11-25T13:00:00Z"

    assert_problem(client.post(f"/v1/prompts/{prompt['id']}/ack", headers=other.headers), 404)
    assert_problem(client.post(f"/v1/prompts/{uuid.uuid4()}/ack", headers=person.headers), 404)


# The plan ----------------------------------------------------------------------------------------

def test_the_plan_starts_from_the_defaults_and_a_put_replaces_it(patient, client, plan):
    person = patient()
    assert client.get("/v1/plan", headers=person.headers).json == DEFAULTS
    settings = {"substances": {"kratom": {"daily_limit": {"amount": 8, "unit": "g"}, "min_interval_minutes": 240},
                               "alcohol": {"daily_limit": {"amount": 2, "unit": "drink"}}},
                "cooldown_hours": 12}
    stored = plan(person, **settings)
    assert stored == {**DEFAULTS, **settings}
    assert client.get("/v1/plan", headers=person.headers).json == stored
    assert plan(person) == DEFAULTS                  # what is left out goes back to its default


KRATOM_LIMIT_FIELD = "substances.kratom.value.daily_limit"


@pytest.mark.parametrize("body, field", [
    ({"substances": {"heroin": {"min_interval_minutes": 60}}}, "substances.heroin.key"),
    ({"substances": {"kratom": {"daily_limit": {"amount": 8, "unit": "kg"}}}}, f"{KRATOM_LIMIT_FIELD}.unit"),
    ({"substances": {"kratom": {"daily_limit": {"amount": -1, "unit": "g"}}}}, f"{KRATOM_LIMIT_FIELD}.amount"),
    ({"substances": {"kratom": {"daily_limit": {"amount": 0, "unit": "g"}}}}, f"{KRATOM_LIMIT_FIELD}.amount"),
    ({"substances": {"kratom": {"daily_limit": {"unit": "g"}}}}, f"{KRATOM_LIMIT_FIELD}.amount"),
    ({"substances": {"kratom": {"min_interval_minutes": 0}}}, "substances.kratom.value.min_interval_minutes"),
    ({"substances": {"kratom": {"min_interval_minutes": 1441}}}, "substances.kratom.value.min_interval_minutes"),
    ({"substances": {"kratom": {"weekly_limit": 3}}}, "substances.kratom.value.weekly_limit"),
    ({"escalation_percent": 4}, "escalation_percent"),
    ({"combination_window_hours": 49}, "combination_window_hours"),
    ({"worsening_days": 1}, "worsening_days"),
    ({"baseline_days": 61}, "baseline_days"),
    ({"withdrawal_symptom_count": 0}, "withdrawal_symptom_count"),
    ({"missed_checkin_hours": 11}, "missed_checkin_hours"),
    ({"cooldown_hours": 0}, "cooldown_hours"),
    ({"cooldown_hours": "soon"}, "cooldown_hours"),
    ({"mystery_setting": 1}, "mystery_setting"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_an_invalid_plan_is_refused_naming_the_field(patient, client, body, field):
    person = patient()
    response = client.put("/v1/plan", json=body, headers=person.headers)
    assert_problem(response, 422)
    assert field in [error["field"] for error in response.json["errors"]], response.json
    assert client.get("/v1/plan", headers=person.headers).json == DEFAULTS


def test_a_plan_change_applies_to_the_next_evaluation(patient, plan, dose, monitor, prompts):
    person = patient()
    plan(person, substances={"kratom": {"daily_limit": {"amount": 10, "unit": "g"}}})
    dose(person, utc(2026, 11, 25, 8), 6)
    dose(person, utc(2026, 11, 25, 9), 3)
    monitor()
    assert prompts(person) == []
    plan(person, substances={"kratom": {"daily_limit": {"amount": 9500, "unit": "mg"}}})
    dose(person, utc(2026, 11, 25, 10), 1)
    monitor()
    [prompt] = prompts(person)
    assert prompt["evidence"] == {"date": "2026-11-25", "form": "leaf_powder", "total": 10000, "unit": "mg",
                                  "limit": 9500}


# The caregiver's view ----------------------------------------------------------------------------

def test_a_caregiver_with_the_prompts_scope_sees_them_and_the_patient_sees_that_in_the_log(
        patient, caregiver, checkin, monitor, prompts, client):
    person = patient(name="Robin")
    # A liver prompt draws on check-ins: with both scopes it is read whole (prompts alone: see
    # tests/reports/test_scoped_reads.py).
    carer, share = caregiver(person, scopes=("prompts", "checkins"), name="Casey")
    checkin(person, NOW, side_effects=["yellow_skin_or_eyes"])
    monitor()
    response = client.get(f"/v1/patients/{person.id}/prompts", headers=carer.headers)
    assert response.status_code == 200, response.json
    assert response.json["items"] == prompts(person)
    [entry] = client.get("/v1/me/access-log", headers=person.headers).json["items"]
    assert (entry["who"], entry["viewer_id"], entry["data_kind"]) == ("Casey", carer.id, "prompts")

    client.delete(f"/v1/shares/{share['id']}", headers=person.headers)
    assert_problem(client.get(f"/v1/patients/{person.id}/prompts", headers=carer.headers), 404)
    assert len(client.get("/v1/me/access-log", headers=person.headers).json["items"]) == 1


def test_the_caregiver_view_of_prompts_needs_the_prompts_scope(patient, caregiver, client):
    person = patient()
    carer, _ = caregiver(person, scopes=("checkins", "doses"))
    stranger = patient()
    assert_problem(client.get(f"/v1/patients/{person.id}/prompts", headers=carer.headers), 403)
    assert_problem(client.get(f"/v1/patients/{person.id}/prompts", headers=stranger.headers), 404)
    assert client.get("/v1/me/access-log", headers=person.headers).json["items"] == []


# What the messages say ---------------------------------------------------------------------------

ADVICE = re.compile(r"\btak(e|es|ing)\b|\breduce to\b|\bincreas(e|ing)\b|\bmg of\b|\bg of\b|\bdecreas(e|ing)\b|"
                    r"\btry\b|\bswitch to\b|\bshould (use|have)\b", re.IGNORECASE)


@pytest.fixture
def every_rule(patient, caregiver, plan, dose, checkin, monitor, client, app, clock):
    """A month in which every rule fires at least once; returns the person."""
    def make():
        person = patient()
        caregiver(person, alerts=True)
        plan(person, substances={"kratom": {"daily_limit": {"amount": 8, "unit": "g"}, "min_interval_minutes": 120}})
        today = NOW.replace(hour=0)
        for n in range(27, 0, -1):                                     # escalation: 4 g a day, then 5 g
            dose(person, today - n * DAY + 8 * HOUR, 4 if n >= 7 else 5)
        dose(person, today + 6 * HOUR, 5)
        dose(person, today + 7 * HOUR, 4)                              # daily limit, minimum interval
        dose(person, today + 8 * HOUR, 10, "mg", substance_kind="opioid", form="tablet")
        dose(person, today + 9 * HOUR, 20, "mg", substance_kind="adhd_stimulant", form="tablet")
        dose(person, today + 10 * HOUR, 5, "mg", form="concentrate_7oh")
        dose(person, today + 10 * HOUR, 1, "tablet", substance_kind="other", form="tablet", product="7OH tabs")
        for n in range(16, 2, -1):                                     # worsening: pain and ADHD
            checkin(person, today - n * DAY + 9 * HOUR, pain_today=4, pain=4, enjoyment_interference=4,
                    activity_interference=4, focus=1, hyperactivity=1, impulsivity=1, restlessness=1)
        symptoms = [[], ["sweating"], ["sweating", "yawning"]]          # withdrawal rising
        for n in (2, 1, 0):
            checkin(person, today - n * DAY + 9 * HOUR, pain_today=7, pain=7, enjoyment_interference=7,
                    activity_interference=7,
                    focus=3, hyperactivity=3, impulsivity=3, restlessness=3, withdrawal_symptoms=symptoms[2 - n])
        checkin(person, today + 11 * HOUR, pain=7, withdrawal_symptoms=["sweating", "yawning", "tremor"],
                side_effects=["dark_urine", "slowed_breathing"])       # withdrawal, liver, emergency
        response = client.post("/v1/reminders", headers=person.headers, json={
            "id": str(uuid.uuid4()), "kind": "dose", "times": ["13:00"], "confirm_within_minutes": 30,
            "alert_caregivers": True})
        assert response.status_code == 201, response.json
        response = client.post("/v1/reminders", headers=person.headers, json={
            "id": str(uuid.uuid4()), "kind": "checkin", "times": ["20:00"]})
        assert response.status_code == 201, response.json
        monitor()
        for when in (today + 13 * HOUR, today + 13 * HOUR + 31 * MINUTE):    # a dose reminder goes unconfirmed
            clock.move_to(when, tick=False)
            with app.app_context():
                jobs.send_reminders()
                jobs.follow_up_checkins()
            monitor(when)
        clock.move_to(NOW + 48 * HOUR, tick=False)                    # and the check-ins stop
        with app.app_context():
            jobs.check_missed_checkins()
        monitor()
        return person
    return make


def test_every_rule_states_what_it_saw_and_never_advises_a_dose(every_rule, prompts):
    person = every_rule()
    found = prompts(person)
    assert {p["rule"] for p in found} == set(RULE_TITLES)
    for prompt in found:
        message = prompt["message"]
        assert not ADVICE.search(message), f"{prompt['rule']}: {message}"
        if prompt["severity"] == "high":
            assert "emergency services" in message or "seek medical care" in message, message
        else:
            assert "clinician" in message, message


def test_every_rule_has_a_title_for_detailed_pushes_and_none_for_discreet_ones(every_rule, pushes, app):
    every_rule()
    with app.app_context():
        sent = [p for p in db.session.scalars(sa.select(LocalPush)) if p.data["type"] != "reminder"]
        assert {p.data["type"] for p in sent} == {"prompt", "alert"}
        assert len(sent) >= len(RULE_TITLES)
        for push in sent:
            assert_discreet(push.title, push.body, push.data, push.collapse_key)


# Pushes: when, to whom, and what they say ---------------------------------------------------------

HEALTH_WORDS = sorted({word for term in SUBSTANCE_KINDS + WITHDRAWAL_SYMPTOMS + SIDE_EFFECTS
                       for word in term.split("_") if len(word) > 3 and word not in ("other", "skin", "eyes")}
                      | {"7-oh", "7oh", "hydroxy", "mitragyn", "limit", "interval", "escalat", "combination",
                         "worsening", "withdrawal", "liver", "dose", "check-in", "checkin", "pain", "adhd",
                         "symptom", "missed", "substance", "medical", "emergency"})


def assert_discreet(*parts):
    text = json.dumps(parts).lower()
    leaked = [word for word in HEALTH_WORDS if word in text]
    assert not leaked, f"{leaked} in {text}"


def test_high_severity_is_pushed_at_once_even_in_quiet_hours(patient, caregiver, dose, monitor, pushes, client):
    zone = "Europe/Berlin"
    person = patient(zone)
    carer, _ = caregiver(person, alerts=True)
    client.patch("/v1/me", json={"quiet_hours": {"start": "22:00", "end": "07:00"}}, headers=person.headers)
    late = local(zone, 2026, 11, 25, 23, 30)
    dose(person, late - HOUR)
    dose(person, late, 10, "mg", substance_kind="opioid", form="tablet")
    monitor(late)
    assert [(token, body, data["type"]) for token, _, body, data in pushes()] == [
        (person.phone, "An important update needs your attention", "prompt"),
        (carer.phone, "Please check on someone you support now", "alert")]


def test_a_warning_waits_until_quiet_hours_end(patient, plan, dose, monitor, pushes, prompts, client):
    zone = "America/Chicago"
    person = patient(zone)
    client.patch("/v1/me", json={"quiet_hours": {"start": "22:00", "end": "07:00"}}, headers=person.headers)
    plan(person, substances={"kratom": {"daily_limit": {"amount": 8, "unit": "g"}}})
    late = local(zone, 2026, 11, 25, 23, 30)
    dose(person, late - 2 * HOUR, 5)
    dose(person, late, 5)
    monitor(late)
    assert len(prompts(person)) == 1                # raised at once, in the app …
    monitor(local(zone, 2026, 11, 26, 6, 59))
    assert pushes() == []                            # … but not pushed during quiet hours
    monitor(local(zone, 2026, 11, 26, 7, 0))
    assert [(token, body) for token, _, body, _ in pushes()] == [(person.phone, "You have a new update")]
    monitor(local(zone, 2026, 11, 26, 7, 5))
    assert len(pushes()) == 1


def test_detailed_texts_name_the_rule_only_when_the_person_opted_in(patient, dose, monitor, pushes, client):
    discreet, detailed = patient(), patient()
    client.patch("/v1/me", json={"notification_privacy": "detailed"}, headers=detailed.headers)
    for person in (discreet, detailed):
        dose(person, NOW, 5, "mg", form="concentrate_7oh")
    monitor()
    assert [(token, body) for token, _, body, _ in pushes()] == [
        (discreet.phone, "An important update needs your attention"),
        (detailed.phone, "Concentrated 7-OH logged")]


def test_caregivers_are_alerted_only_with_alerts_on_and_only_about_what_needs_it(
        patient, caregiver, plan, dose, checkin, monitor, pushes, app):
    person = patient(name="Robin")
    alerted, _ = caregiver(person, alerts=True, name="Ari")
    not_alerted, _ = caregiver(person, alerts=False, name="Noa")
    plan(person, substances={"kratom": {"daily_limit": {"amount": 1, "unit": "g"}}})
    dose(person, NOW - HOUR, 2)                       # a warning: the caregivers are not alerted
    monitor()
    assert [token for token, *_ in pushes()] == [person.phone]
    checkin(person, NOW, side_effects=["dark_urine"])  # high: the caregiver with alerts is
    monitor(NOW + MINUTE)
    sent = pushes()[1:]
    assert [(token, body, data["type"]) for token, _, body, data in sent] == [
        (person.phone, "An important update needs your attention", "prompt"),
        (alerted.phone, "Please check on someone you support now", "alert")]
    assert pushes(not_alerted.phone) == []
    with app.app_context():
        for push in db.session.scalars(sa.select(LocalPush)):
            assert_discreet(push.title, push.body, push.data, push.collapse_key)


def test_no_alert_reaches_a_caregiver_after_the_share_is_revoked_or_alerts_are_turned_off(
        patient, caregiver, checkin, monitor, pushes, client):
    person = patient()
    revoked, revoked_share = caregiver(person, alerts=True)
    turned_off, turned_off_share = caregiver(person, alerts=True)
    checkin(person, NOW, side_effects=["dark_urine"])
    monitor()
    assert len(pushes(revoked.phone)) == 1 and len(pushes(turned_off.phone)) == 1

    client.delete(f"/v1/shares/{revoked_share['id']}", headers=revoked.headers)     # the caregiver leaves
    response = client.patch(f"/v1/shares/{turned_off_share['id']}", json={"alerts": False}, headers=person.headers)
    assert response.status_code == 200, response.json
    checkin(person, NOW + DAY, side_effects=["yellow_skin_or_eyes"])                # a new high prompt
    monitor(NOW + DAY)
    assert len(pushes(person.phone)) == 2
    assert len(pushes(revoked.phone)) == 1 and len(pushes(turned_off.phone)) == 1


def test_a_share_revoked_after_the_prompt_was_raised_but_before_it_was_pushed_gets_nothing(
        patient, caregiver, checkin, monitor, pushes, client, app):
    from backend.events.drain import drain_events

    person = patient()
    carer, share = caregiver(person, alerts=True)
    checkin(person, NOW, side_effects=["dark_urine"])
    with app.app_context():
        drain_events(NOW)                             # raised, not yet pushed …
        db.session.commit()
    client.delete(f"/v1/shares/{share['id']}", headers=person.headers)   # … when the share ends
    monitor()
    assert [token for token, *_ in pushes()] == [person.phone]


@pytest.fixture
def flaky_transport(use_transport):
    return lambda failing: use_transport(FlakyTransport(failing))


@pytest.mark.parametrize("revoked", [False, True], ids=["share-live", "share-revoked"])
def test_a_caregiver_alert_retried_after_an_fcm_error_respects_a_revocation_in_between(
        patient, caregiver, checkin, monitor, client, app, clock, flaky_transport, revoked):
    person = patient()
    carer, share = caregiver(person, alerts=True)
    transport = flaky_transport({carer.phone})
    checkin(person, NOW, side_effects=["dark_urine"])
    monitor()
    assert sorted(transport.sent) == sorted([person.phone, carer.phone])
    if revoked:
        client.delete(f"/v1/shares/{share['id']}", headers=person.headers)
    clock.move_to(NOW + 10 * MINUTE, tick=False)              # past the retry backoff
    with app.app_context():
        jobs.retry_pushes()
    with app.app_context():
        statuses = {d.purpose: d.status for d in db.session.scalars(sa.select(PushDelivery))}
    if revoked:
        assert transport.sent.count(carer.phone) == 1
        assert statuses == {"prompt": "sent", "alert": "expired"}
    else:
        assert transport.sent.count(carer.phone) == 2
        assert statuses == {"prompt": "sent", "alert": "sent"}


def test_a_plan_change_based_on_an_old_version_is_a_412(client, patient):
    person = patient()
    seen = client.get("/v1/plan", headers=person.headers).headers["ETag"]
    first = client.put("/v1/plan", json={"escalation_percent": 30}, headers={**person.headers, "If-Match": seen})
    assert first.status_code == 200 and first.headers["ETag"] != seen
    stale = client.put("/v1/plan", json={"escalation_percent": 50}, headers={**person.headers, "If-Match": seen})
    assert_problem(stale, 412)
    assert stale.headers["ETag"] == first.headers["ETag"]
    assert client.get("/v1/plan", headers=person.headers).json["escalation_percent"] == 30
    assert client.put("/v1/plan", json={"escalation_percent": 50}, headers=person.headers).status_code == 200
