"""The monitoring rules through the API and the monitor job: each fires on its boundary case and
stays silent just below it; local days, units, deleted and corrected records, replays, cooldown."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

import jobs
from backend.events.drain import drain_events
from backend.events.models import Event
from backend.extensions import db
from backend.monitoring.models import Prompt
from backend.checkins.vocabulary import LIVER_WARNING_SIGNS
from tests.monitoring.conftest import KRATOM_LIMIT, rules_of
from tests.support import NOW, local, utc

HOUR, MINUTE, DAY = dt.timedelta(hours=1), dt.timedelta(minutes=1), dt.timedelta(days=1)


def kratom_limit(amount=8, unit="g", **more):
    return {"kratom": {"daily_limit": {"amount": amount, "unit": unit}, **more}}


# 1 ─ daily limit ----------------------------------------------------------------------------------

def test_daily_total_equal_to_the_limit_is_silent_and_just_above_it_fires(patient, plan, dose, monitor, prompts):
    person = patient()
    plan(person, substances=kratom_limit(8))
    dose(person, utc(2026, 11, 25, 8), 3)
    dose(person, utc(2026, 11, 25, 10), 5)
    monitor()
    assert prompts(person) == []

    dose(person, utc(2026, 11, 25, 11), 0.001, "g")
    monitor()
    [prompt] = prompts(person)
    assert (prompt["rule"], prompt["subject"], prompt["severity"]) == ("daily_limit", "kratom", "warning")
    assert prompt["evidence"] == {"date": "2026-11-25", "form": "leaf_powder", "total": 8.001, "unit": "g", "limit": 8}
    assert "kratom (leaf powder)" in prompt["message"]
    assert "8.001 g" in prompt["message"] and "8 g" in prompt["message"]


def test_grams_and_milligrams_add_up_exactly_at_the_limit(patient, plan, dose, monitor, prompts):
    # 100 mg + 200 mg is 0.30000000000000004 g in binary floating point: still not above 0.3 g.
    person = patient()
    plan(person, substances={"nsaid": {"daily_limit": {"amount": 0.3, "unit": "g"}}})
    tablet = {"substance_kind": "nsaid", "form": "tablet"}
    dose(person, utc(2026, 11, 25, 8), 100, "mg", **tablet)
    dose(person, utc(2026, 11, 25, 9), 200, "mg", **tablet)
    monitor()
    assert prompts(person) == []
    dose(person, utc(2026, 11, 25, 10), 500, "mcg", **tablet)
    monitor()
    [prompt] = prompts(person)
    assert prompt["evidence"]["total"] == pytest.approx(0.3005)


def test_a_limit_in_milligrams_counts_doses_logged_in_grams(patient, plan, dose, monitor, prompts):
    person = patient()
    plan(person, substances={"adhd_stimulant": {"daily_limit": {"amount": 40, "unit": "mg"}}})
    dose(person, utc(2026, 11, 25, 7), 20, "mg", substance_kind="adhd_stimulant", form="tablet")
    dose(person, utc(2026, 11, 25, 11), 0.021, "g", substance_kind="adhd_stimulant", form="tablet")
    monitor()
    [prompt] = prompts(person)
    assert (prompt["rule"], prompt["subject"]) == ("daily_limit", "adhd_stimulant")
    assert prompt["evidence"]["total"] == pytest.approx(41)


def test_capsules_are_never_added_to_grams(patient, plan, dose, monitor, prompts):
    grams, capsules = patient(), patient()
    plan(grams, substances=kratom_limit(8, "g"))
    dose(grams, utc(2026, 11, 25, 8), 6)
    dose(grams, utc(2026, 11, 25, 9), 12, "capsule", form="capsule")
    plan(capsules, substances=kratom_limit(4, "capsule"))
    dose(capsules, utc(2026, 11, 25, 8), 3, "capsule", form="capsule")
    dose(capsules, utc(2026, 11, 25, 9), 30, "g")
    monitor()
    assert prompts(grams) == [] and prompts(capsules) == []

    dose(capsules, utc(2026, 11, 25, 10), 2, "capsule", form="capsule")
    monitor()
    [prompt] = prompts(capsules)
    assert prompt["evidence"] == {"date": "2026-11-25", "form": "capsule", "total": 5, "unit": "capsule", "limit": 4}


def test_23_30_and_00_30_local_are_two_days(patient, plan, dose, monitor, prompts):
    # In New York both instants fall on 24 November UTC; locally they are the 23rd and the 24th.
    zone = "America/New_York"
    person = patient(zone)
    plan(person, substances=kratom_limit(5))
    dose(person, local(zone, 2026, 11, 23, 23, 30), 4)
    dose(person, local(zone, 2026, 11, 24, 0, 30), 4)
    monitor()
    assert prompts(person) == []

    dose(person, local(zone, 2026, 11, 24, 22, 0), 1.5)
    monitor()
    [prompt] = prompts(person)
    assert prompt["evidence"]["date"] == "2026-11-24"
    assert prompt["evidence"]["total"] == 5.5


def test_the_25_hour_day_of_a_dst_change_is_one_local_day(patient, plan, dose, monitor, prompts, clock):
    zone = "America/New_York"                       # clocks go back at 02:00 on 1 November 2026
    clock.move_to(utc(2026, 11, 2, 12), tick=False)
    person = patient(zone)
    plan(person, substances=kratom_limit(5))
    dose(person, local(zone, 2026, 11, 1, 0, 15), 3)
    dose(person, local(zone, 2026, 11, 1, 23, 45), 3)   # 24 h 30 min later, the same local day
    monitor()
    [prompt] = prompts(person)
    assert prompt["evidence"]["date"] == "2026-11-01"


def test_deleted_doses_do_not_count(patient, plan, dose, monitor, prompts, client):
    person = patient()
    plan(person, substances=kratom_limit(8))
    first = dose(person, utc(2026, 11, 25, 8), 5)
    client.delete(f"/v1/doses/{first['id']}", headers=person.headers)
    dose(person, utc(2026, 11, 25, 9), 5)
    monitor()
    assert prompts(person) == []

    # Deleted before the monitor saw it: its own event finds nothing to evaluate.
    second = dose(person, utc(2026, 11, 25, 10), 5)
    client.delete(f"/v1/doses/{second['id']}", headers=person.headers)
    monitor()
    assert prompts(person) == []


# 2 ─ minimum interval -----------------------------------------------------------------------------

@pytest.mark.parametrize("gap_minutes, fires", [(240, False), (239, True)])
def test_doses_exactly_the_minimum_interval_apart_are_allowed(patient, plan, dose, monitor, prompts,
                                                              gap_minutes, fires):
    person = patient()
    plan(person, substances={"kratom": {"min_interval_minutes": 240}})
    first = dose(person, utc(2026, 11, 25, 6))
    second = dose(person, utc(2026, 11, 25, 6) + gap_minutes * MINUTE)
    monitor()
    found = prompts(person)
    if not fires:
        assert found == []
        return
    [prompt] = found
    assert (prompt["rule"], prompt["subject"], prompt["severity"]) == ("min_interval", "kratom", "warning")
    assert prompt["evidence"] == {"dose_ids": [first["id"], second["id"]], "minutes_apart": 239,
                                  "min_interval_minutes": 240}


def test_a_backfilled_earlier_dose_too_close_to_a_later_one_fires(patient, plan, dose, monitor, prompts):
    person = patient()
    plan(person, substances={"kratom": {"min_interval_minutes": 240}})
    later = dose(person, utc(2026, 11, 25, 10))
    monitor()
    earlier = dose(person, utc(2026, 11, 25, 7))          # logged afterwards, taken 3 h before
    monitor()
    [prompt] = prompts(person)
    assert prompt["evidence"]["dose_ids"] == [earlier["id"], later["id"]]
    assert prompt["evidence"]["minutes_apart"] == 180


def test_the_interval_is_per_substance(patient, plan, dose, monitor, prompts):
    person = patient()
    plan(person, substances={"kratom": {"min_interval_minutes": 240}})
    dose(person, utc(2026, 11, 25, 6))
    dose(person, utc(2026, 11, 25, 7), 10, "mg", substance_kind="nsaid", form="tablet")
    monitor()
    assert prompts(person) == []


# 3 ─ escalation -----------------------------------------------------------------------------------

def log_daily(dose, person, first_day, days, grams, unit="g"):
    for n in range(days):
        day = first_day + n * DAY
        dose(person, day.replace(hour=8), grams, unit)


@pytest.mark.parametrize("recent_grams, fires", [(5.0, True), (4.99, False)])
def test_escalation_at_exactly_25_percent_fires_and_just_below_is_silent(patient, dose, monitor, prompts,
                                                                         recent_grams, fires):
    person = patient()
    today = NOW.replace(hour=0)
    log_daily(dose, person, today - 27 * DAY, 21, 4)                 # the 21 days before: 4 g a day
    log_daily(dose, person, today - 6 * DAY, 7, recent_grams * 1000, "mg")   # the last 7 days
    monitor()
    found = prompts(person)
    if not fires:
        assert found == []
        return
    [prompt] = found
    assert (prompt["rule"], prompt["subject"], prompt["severity"]) == ("escalation", "kratom", "warning")
    assert prompt["evidence"] == {"form": "leaf_powder", "unit": "g", "recent_mean": 5.0, "prior_mean": 4.0,
                                  "recent_days": 7, "prior_days": 21, "percent_rise": 25}


def test_escalation_needs_enough_data(patient, dose, monitor, prompts):
    person = patient()
    today = NOW.replace(hour=0)
    log_daily(dose, person, today - 18 * DAY, 11, 4)                 # 11 of the 21 days before
    log_daily(dose, person, today - 6 * DAY, 7, 10)
    monitor()
    assert prompts(person) == []


def test_escalation_threshold_follows_the_plan(patient, plan, dose, monitor, prompts):
    person = patient()
    plan(person, escalation_percent=50)
    today = NOW.replace(hour=0)
    log_daily(dose, person, today - 27 * DAY, 21, 4)
    log_daily(dose, person, today - 6 * DAY, 6, 6)
    log_daily(dose, person, today, 1, 5)                              # the week's mean: 41 / 7 g, under 6 g
    monitor()
    assert prompts(person) == []
    dose(person, today.replace(hour=10), 1)                           # now 42 / 7 = 6 g: 50 % above 4 g
    monitor()
    [prompt] = prompts(person)
    assert prompt["evidence"]["percent_rise"] == 50


# 4 ─ risky combinations ---------------------------------------------------------------------------

PARTNERS = {"opioid": (10, "mg", "tablet"), "benzodiazepine": (5, "mg", "tablet"), "alcohol": (2, "drink", "drink")}


@pytest.mark.parametrize("partner", sorted(PARTNERS))
@pytest.mark.parametrize("gap, fires", [(6 * HOUR, True), (6 * HOUR + MINUTE, False)])
@pytest.mark.parametrize("kratom_first", [True, False], ids=["kratom-first", "partner-first"])
def test_kratom_within_6_hours_of_a_sedating_substance_is_high(patient, dose, monitor, prompts, partner, gap,
                                                               fires, kratom_first):
    person = patient()
    amount, unit, form = PARTNERS[partner]
    start = utc(2026, 11, 25, 4)
    kratom_at, partner_at = (start, start + gap) if kratom_first else (start + gap, start)
    kratom = dose(person, kratom_at)
    other = dose(person, partner_at, amount, unit, substance_kind=partner, form=form)
    monitor()
    found = prompts(person)
    if not fires:
        assert found == []
        return
    [prompt] = found
    assert (prompt["rule"], prompt["subject"], prompt["severity"]) == ("combination", partner, "high")
    assert prompt["evidence"] == {"date": "2026-11-25", "pairs": [[kratom["id"], other["id"]]], "hours_apart": [6.0]}
    assert "emergency services" in prompt["message"]


def test_kratom_with_an_adhd_stimulant_is_a_warning(patient, dose, monitor, prompts):
    person = patient()
    dose(person, utc(2026, 11, 25, 8), 20, "mg", substance_kind="adhd_stimulant", form="tablet")
    dose(person, utc(2026, 11, 25, 10, 30))
    monitor()
    [prompt] = prompts(person)
    assert (prompt["rule"], prompt["subject"], prompt["severity"]) == ("combination", "adhd_stimulant", "warning")
    assert prompt["evidence"]["hours_apart"] == [2.5]
    assert "heart rate and blood pressure" in prompt["message"]


def test_two_substances_without_kratom_are_not_a_kratom_combination(patient, dose, monitor, prompts):
    person = patient()
    dose(person, utc(2026, 11, 25, 8), 10, "mg", substance_kind="opioid", form="tablet")
    dose(person, utc(2026, 11, 25, 9), 2, "drink", substance_kind="alcohol", form="drink")
    monitor()
    assert prompts(person) == []


@pytest.mark.parametrize("substance_kind", ["kratom", "other"])
def test_any_concentrated_7oh_product_is_high(patient, dose, monitor, prompts, substance_kind):
    person = patient()
    logged = dose(person, utc(2026, 11, 25, 9), 15, "mg", substance_kind=substance_kind, form="concentrate_7oh")
    monitor()
    [prompt] = prompts(person)
    assert (prompt["rule"], prompt["severity"]) == ("concentrated_7oh", "high")
    assert prompt["evidence"] == {"date": "2026-11-25", "dose_ids": [logged["id"]]}
    assert "emergency services" in prompt["message"]
    assert "FDA recommended scheduling it" in prompt["message"] and "July 2025" in prompt["message"]
    assert "far more strongly at the opioid receptor than mitragynine" in prompt["message"]
    assert "pharmacist about naloxone" in prompt["message"]


def test_leaf_kratom_alone_raises_nothing(patient, dose, monitor, prompts):
    person = patient()
    dose(person, utc(2026, 11, 25, 9), 3, "g", form="extract")
    monitor()
    assert prompts(person) == []


# 5 ─ worsening ------------------------------------------------------------------------------------

def peg(value):
    """The daily pain item (the worsening rule's) and the weekly PEG items, all at `value`."""
    return {"pain_today": value, "pain": value, "enjoyment_interference": value, "activity_interference": value}


def adhd(value):
    return {"focus": value, "hyperactivity": value, "impulsivity": value, "restlessness": value}


def daily_checkins(checkin, person, first_day, days, **answers):
    for n in range(days):
        checkin(person, (first_day + n * DAY).replace(hour=9), **answers)


@pytest.mark.parametrize("days_worse, fires", [(3, True), (2, False)])
def test_pain_above_the_14_day_baseline_on_3_days_running_fires(patient, checkin, monitor, prompts, days_worse,
                                                                 fires):
    person = patient()
    today = NOW.replace(hour=0)
    first_worse = today - (days_worse - 1) * DAY
    daily_checkins(checkin, person, first_worse - 14 * DAY, 14 + 3 - days_worse, **peg(4))
    daily_checkins(checkin, person, first_worse, days_worse, **peg(5))
    monitor()
    found = prompts(person)
    if not fires:
        assert found == []
        return
    [prompt] = found
    assert (prompt["rule"], prompt["subject"], prompt["severity"]) == ("worsening", "pain", "warning")
    assert prompt["evidence"] == {"baseline": 4.0, "recent": [5.0, 5.0, 5.0], "last_day": "2026-11-25"}


def test_adhd_symptoms_worse_than_baseline_fire_for_the_adhd_score(patient, checkin, monitor, prompts):
    person = patient()
    today = NOW.replace(hour=0)
    daily_checkins(checkin, person, today - 16 * DAY, 14, **peg(4), **adhd(1))
    daily_checkins(checkin, person, today - 2 * DAY, 3, **peg(4), **adhd(2))
    monitor()
    assert rules_of(prompts(person)) == [("worsening", "adhd", "warning")]


def test_worsening_needs_a_baseline(patient, checkin, monitor, prompts):
    person = patient()
    today = NOW.replace(hour=0)
    daily_checkins(checkin, person, today - 8 * DAY, 6, **peg(2))     # 6 days of baseline: under half of 14
    daily_checkins(checkin, person, today - 2 * DAY, 3, **peg(9))
    monitor()
    assert prompts(person) == []


# 6 ─ withdrawal -----------------------------------------------------------------------------------

@pytest.mark.parametrize("symptoms, fires", [
    (["sweating", "yawning", "craving"], True),
    (["sweating", "yawning"], False),
])
def test_three_withdrawal_symptoms_in_one_checkin_fire(patient, checkin, monitor, prompts, symptoms, fires):
    person = patient()
    logged = checkin(person, utc(2026, 11, 25, 9), withdrawal_symptoms=symptoms)
    monitor()
    found = prompts(person)
    if not fires:
        assert found == []
        return
    [prompt] = found
    assert (prompt["rule"], prompt["subject"], prompt["severity"]) == ("withdrawal", "symptoms", "warning")
    assert prompt["evidence"] == {"checkin_id": logged["id"], "symptoms": symptoms, "score": 3.5}


@pytest.mark.parametrize("counts, fires", [((0, 1, 2), True), ((1, 1, 2), False), ((2, 1, 2), False)])
def test_withdrawal_symptoms_rising_over_three_checkins_fire(patient, checkin, monitor, prompts, counts, fires):
    person = patient()
    words = ["anxiety", "tremor", "insomnia"]
    logged = [checkin(person, utc(2026, 11, 23 + n, 9), withdrawal_symptoms=words[:count])
              for n, count in enumerate(counts)]
    monitor()
    found = prompts(person)
    if not fires:
        assert found == []
        return
    [prompt] = found
    assert (prompt["rule"], prompt["subject"]) == ("withdrawal", "rising")
    assert prompt["evidence"] == {"checkin_ids": [c["id"] for c in logged], "scores": [0, 0.5, 1.5]}


# 7 ─ liver warning signs --------------------------------------------------------------------------

@pytest.mark.parametrize("signs", [[sign] for sign in LIVER_WARNING_SIGNS] + [
    ["yellow_skin_or_eyes", "upper_right_belly_pain"], ["nausea", "unusual_fatigue", "fever"], ["nausea"], []])
def test_each_liver_warning_sign_of_the_vocabulary_means_seek_medical_care_today(patient, checkin, monitor, prompts,
                                                                                signs):
    # Exactly the vocabulary's list, the one the report's liver box shows: pale stools and itching too.
    person = patient()
    checkin(person, utc(2026, 11, 25, 9), side_effects=signs, pain=3)
    monitor()
    found = prompts(person)
    seen = [sign for sign in signs if sign in LIVER_WARNING_SIGNS]
    if not seen:
        assert found == []
        return
    [prompt] = found
    assert (prompt["rule"], prompt["severity"]) == ("liver", "high")
    assert "seek medical care today" in prompt["message"]
    assert prompt["evidence"]["signs"] == seen


@pytest.mark.parametrize("side_effects, fires", [
    (["slowed_breathing"], True),
    (["drowsiness", "dizziness"], False),
])
def test_slowed_breathing_points_to_emergency_services(patient, checkin, monitor, prompts, side_effects, fires):
    person = patient()
    logged = checkin(person, utc(2026, 11, 25, 9), side_effects=side_effects)
    monitor()
    found = prompts(person)
    if not fires:
        assert found == []
        return
    [prompt] = found
    assert (prompt["rule"], prompt["subject"], prompt["severity"]) == ("emergency", "slowed_breathing", "high")
    assert "call emergency services" in prompt["message"]
    assert "pharmacist about naloxone" in prompt["message"]
    assert prompt["evidence"] == {"checkin_id": logged["id"], "signs": ["slowed_breathing"]}


def test_liver_signs_twice_in_one_day_prompt_once(patient, checkin, monitor, prompts):
    person = patient()
    checkin(person, utc(2026, 11, 25, 8), side_effects=["dark_urine"])
    monitor()
    checkin(person, utc(2026, 11, 25, 11), side_effects=["dark_urine", "yellow_skin_or_eyes"])
    monitor()
    assert rules_of(prompts(person)) == [("liver", "liver", "high")]


# 8 ─ missed check-ins -----------------------------------------------------------------------------

@pytest.fixture
def missed_checkins(app, clock):
    """Run the hourly missed-check-ins job, then the monitor job (which pushes), at `when`."""
    def run(when):
        clock.move_to(when, tick=False)
        with app.app_context():
            jobs.check_missed_checkins()
            jobs.monitor()
    return run


@pytest.fixture
def checkin_reminder(client):
    def create(person, **fields):
        body = {"id": str(uuid.uuid4()), "kind": "checkin", "times": ["20:00"], **fields}
        response = client.post("/v1/reminders", json=body, headers=person.headers)
        assert response.status_code == 201, response.json
        return response.json
    return create


def test_48_hours_without_a_checkin_while_reminders_are_on_prompts_and_alerts(
        patient, caregiver, checkin_reminder, checkin, missed_checkins, prompts, pushes, clock):
    person = patient(name="Robin")
    carer, _ = caregiver(person, alerts=True)
    quiet, _ = caregiver(person, alerts=False, name="Quinn")
    checkin_reminder(person)
    last = utc(2026, 11, 25, 20)
    clock.move_to(last, tick=False)
    checkin(person, last, pain=3)
    missed_checkins(last + 47 * HOUR)
    assert prompts(person) == []

    missed_checkins(last + 48 * HOUR)
    [prompt] = prompts(person)
    assert (prompt["rule"], prompt["subject"], prompt["severity"]) == ("missed_checkins", "checkins", "warning")
    assert prompt["evidence"] == {"last_checkin_at": "2026-11-25T20:00:00+00:00"}
    assert pushes(person.phone) == [(person.phone, "Careloop", "You have a new update",
                                     {"type": "prompt", "prompt_id": prompt["id"]})]
    assert pushes(carer.phone) == [(carer.phone, "Careloop", "An update about someone you support needs your attention",
                                    {"type": "alert", "prompt_id": prompt["id"], "patient_id": person.id})]
    assert pushes(quiet.phone) == []

    missed_checkins(last + 49 * HOUR)                  # the same silence: no second prompt
    assert len(prompts(person)) == 1


def test_missed_checkins_count_from_when_reminders_started_without_any_checkin(
        patient, checkin_reminder, missed_checkins, prompts):
    person = patient()
    checkin_reminder(person)                          # at NOW
    missed_checkins(NOW + 47 * HOUR)
    assert prompts(person) == []
    missed_checkins(NOW + 48 * HOUR)
    assert rules_of(prompts(person)) == [("missed_checkins", "checkins", "warning")]


def test_no_missed_checkin_prompt_without_active_checkin_reminders(
        patient, checkin_reminder, checkin, missed_checkins, prompts, client):
    nobody_reminded, paused, dose_only = patient(), patient(), patient()
    reminder = checkin_reminder(paused)
    client.patch(f"/v1/reminders/{reminder['id']}", json={"active": False}, headers=paused.headers)
    checkin_reminder(dose_only, kind="dose")
    for person in (nobody_reminded, paused, dose_only):
        checkin(person, NOW, pain=3)
    missed_checkins(NOW + 100 * HOUR)
    assert [prompts(p) for p in (nobody_reminded, paused, dose_only)] == [[], [], []]


def test_missed_checkin_hours_follow_the_plan(patient, plan, checkin_reminder, missed_checkins, prompts):
    person = patient()
    plan(person, missed_checkin_hours=24)
    checkin_reminder(person)
    missed_checkins(NOW + 23 * HOUR)
    assert prompts(person) == []
    missed_checkins(NOW + 24 * HOUR)
    assert len(prompts(person)) == 1


def test_reminders_switched_on_again_start_a_new_silence(patient, checkin_reminder, missed_checkins, prompts,
                                                        client, clock):
    person = patient()
    first = checkin_reminder(person)                  # at NOW; never a check-in
    missed_checkins(NOW + 48 * HOUR)
    assert len(prompts(person)) == 1
    client.patch(f"/v1/reminders/{first['id']}", json={"active": False}, headers=person.headers)
    clock.move_to(NOW + 50 * HOUR, tick=False)
    checkin_reminder(person)
    missed_checkins(NOW + 97 * HOUR)
    assert len(prompts(person)) == 1
    missed_checkins(NOW + 98 * HOUR)
    assert [p["evidence"] for p in prompts(person)] == [{"last_checkin_at": None}] * 2


@pytest.fixture
def dose_reminder(client):
    def create(person, **fields):
        body = {"id": str(uuid.uuid4()), "kind": "dose", "times": ["13:00"], "confirm_within_minutes": 30, **fields}
        response = client.post("/v1/reminders", json=body, headers=person.headers)
        assert response.status_code == 201, response.json
        return response.json
    return create


def test_an_unconfirmed_dose_reminder_alerts_caregivers_when_the_patient_chose_so(
        patient, caregiver, dose_reminder, reminder_jobs, prompts, pushes):
    person = patient(name="Robin")
    carer, _ = caregiver(person, alerts=True)
    dose_reminder(person, alert_caregivers=True)
    reminder_jobs(utc(2026, 11, 25, 13))
    reminder_jobs(utc(2026, 11, 25, 13, 29))
    assert prompts(person) == []
    reminder_jobs(utc(2026, 11, 25, 13, 30))
    [prompt] = prompts(person)
    assert (prompt["rule"], prompt["severity"]) == ("missed_dose", "warning")
    assert [body for _, _, body, _ in pushes(carer.phone)] == [
        "An update about someone you support needs your attention"]


@pytest.mark.parametrize("confirmed, alert_caregivers", [(True, True), (False, False)])
def test_a_confirmed_or_unshared_dose_reminder_raises_nothing(patient, caregiver, dose_reminder, reminder_jobs,
                                                              prompts, pushes, client, confirmed, alert_caregivers):
    person = patient()
    carer, _ = caregiver(person, alerts=True)
    dose_reminder(person, alert_caregivers=alert_caregivers)
    reminder_jobs(utc(2026, 11, 25, 13))
    if confirmed:
        [occurrence] = client.get("/v1/reminders/occurrences", headers=person.headers).json["items"]
        response = client.post(f"/v1/reminders/occurrences/{occurrence['id']}/ack", headers=person.headers)
        assert response.status_code == 200, response.json
    reminder_jobs(utc(2026, 11, 25, 14))
    assert prompts(person) == []
    assert pushes(carer.phone) == []


# Corrections, replays and cooldown ----------------------------------------------------------------

def test_a_corrected_dose_withdraws_nothing_and_does_not_fire_again(patient, plan, dose, monitor, prompts, pushes,
                                                                    client):
    person = patient()
    plan(person, substances=kratom_limit(8))
    dose(person, utc(2026, 11, 25, 8), 5)
    second = dose(person, utc(2026, 11, 25, 9), 4)
    monitor()
    [prompt] = prompts(person)
    assert len(pushes()) == 1

    for changes in ({"amount": 2}, {"amount": 6}, {"note": "weighed again"}, {"taken_at": "2026-11-25T10:00:00Z"}):
        response = client.patch(f"/v1/doses/{second['id']}", json=changes, headers=person.headers)
        assert response.status_code == 200, response.json
        monitor()
        assert prompts(person) == [prompt]              # still there, unchanged, and not raised again
    assert len(pushes()) == 1


def test_a_correction_into_a_new_situation_does_fire(patient, plan, dose, monitor, prompts, client):
    person = patient()
    plan(person, substances=kratom_limit(8))
    dose(person, utc(2026, 11, 24, 8), 5)
    moved = dose(person, utc(2026, 11, 25, 8), 5)
    monitor()
    assert prompts(person) == []
    client.patch(f"/v1/doses/{moved['id']}", json={"taken_at": "2026-11-24T20:00:00Z"}, headers=person.headers)
    monitor()
    [prompt] = prompts(person)
    assert prompt["evidence"]["date"] == "2026-11-24"


@pytest.fixture
def busy_day(patient, plan, dose, checkin):
    """A day on which every event-driven rule has something to say."""
    def make():
        person = patient()
        plan(person, substances=kratom_limit(8, min_interval_minutes=120))
        dose(person, utc(2026, 11, 25, 6), 5)
        dose(person, utc(2026, 11, 25, 7), 4)                                         # limit, interval
        dose(person, utc(2026, 11, 25, 8), 10, "mg", substance_kind="opioid", form="tablet")   # combination
        dose(person, utc(2026, 11, 25, 9), 5, "mg", form="concentrate_7oh")           # 7-OH
        checkin(person, utc(2026, 11, 25, 10), withdrawal_symptoms=["sweating", "yawning", "craving"],
                side_effects=["dark_urine"])                                          # withdrawal, liver
        return person
    return make


BUSY_DAY_RULES = [("combination", "opioid", "high"), ("concentrated_7oh", "kratom", "high"),
                  ("daily_limit", "kratom", "warning"), ("liver", "liver", "high"),
                  ("min_interval", "kratom", "warning"), ("withdrawal", "symptoms", "warning")]


def test_replaying_events_creates_no_second_prompt_and_no_second_push(busy_day, monitor, prompts, pushes, app):
    person = busy_day()
    monitor()
    assert rules_of(prompts(person)) == BUSY_DAY_RULES
    sent = pushes()
    assert len(sent) == len(BUSY_DAY_RULES)

    with app.app_context():
        # The same rows drained again, as after a crash between handling and marking them done.
        db.session.execute(sa.update(Event).values(processed_at=None, attempts=0))
        db.session.commit()
        assert drain_events(NOW) == 5
        db.session.commit()
        assert drain_events(NOW) == 0
        db.session.commit()
    monitor(NOW + MINUTE)
    monitor(NOW + 2 * MINUTE)
    assert rules_of(prompts(person)) == BUSY_DAY_RULES
    assert pushes() == sent


def test_running_the_handlers_twice_on_one_event_raises_once(busy_day, app):
    from backend import events
    from backend.wiring import EVENT_HANDLERS as HANDLERS

    busy_day()
    with app.app_context():
        rows = db.session.scalars(sa.select(Event).order_by(Event.id)).all()
        for _ in range(2):
            for row in rows:
                event = events.load(row)
                for handler in HANDLERS[type(event)]:
                    handler(event, NOW)
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Prompt)) == len(BUSY_DAY_RULES)


def test_a_warning_for_the_same_subject_waits_for_the_cooldown(patient, plan, dose, monitor, prompts):
    person = patient()
    plan(person, substances={"kratom": {"min_interval_minutes": 120}})
    day = utc(2026, 11, 25, 6)
    for minutes in (0, 60):                                           # prompt at 07:00
        dose(person, day + minutes * MINUTE)
        monitor(day + minutes * MINUTE)
    assert len(prompts(person)) == 1
    for minutes in (600, 660):                                        # 16:00 and 17:00: a new pair, in cooldown
        dose(person, day + minutes * MINUTE)
        monitor(day + minutes * MINUTE)
    assert len(prompts(person)) == 1
    late = day + 24 * HOUR + HOUR                                     # 24 h after the first prompt
    dose(person, late - 30 * MINUTE)
    dose(person, late)
    monitor(late)
    assert [p["evidence"]["minutes_apart"] for p in prompts(person)] == [30, 60]


def test_cooldown_hours_follow_the_plan_and_other_subjects_are_not_held(patient, plan, dose, monitor, prompts):
    person = patient()
    plan(person, cooldown_hours=2, substances={"kratom": {"min_interval_minutes": 120},
                                               "nsaid": {"min_interval_minutes": 120}})
    start = utc(2026, 11, 25, 6)
    for minutes, kind in ((0, "kratom"), (30, "kratom"), (40, "nsaid"), (50, "nsaid"),
                          (150, "kratom"), (170, "kratom")):
        dose(person, start + minutes * MINUTE, 2, "g", substance_kind=kind)
        monitor(start + minutes * MINUTE)
    # kratom 06:30, nsaid 06:50 (another subject), kratom 08:50 (2 h 20 min after the first).
    assert [(p["subject"], p["created_at"]) for p in prompts(person)] == [
        ("kratom", "2026-11-25T08:50:00Z"), ("nsaid", "2026-11-25T06:50:00Z"), ("kratom", "2026-11-25T06:30:00Z")]


def test_high_severity_has_no_cooldown(patient, checkin, monitor, prompts):
    person = patient()
    checkin(person, utc(2026, 11, 25, 20), side_effects=["dark_urine"])
    monitor(utc(2026, 11, 25, 20))
    checkin(person, utc(2026, 11, 26, 8), side_effects=["dark_urine"])      # 12 hours later, the next day
    monitor(utc(2026, 11, 26, 8))
    assert rules_of(prompts(person)) == [("liver", "liver", "high")] * 2


def test_the_plan_in_effect_when_the_event_is_handled_is_the_one_applied(patient, plan, dose, monitor, prompts):
    person = patient()
    dose(person, utc(2026, 11, 25, 8), 6)
    monitor()
    assert prompts(person) == []
    plan(person, substances={"kratom": {"daily_limit": KRATOM_LIMIT}})
    dose(person, utc(2026, 11, 25, 9), 3)
    monitor()
    assert rules_of(prompts(person)) == [("daily_limit", "kratom", "warning")]
