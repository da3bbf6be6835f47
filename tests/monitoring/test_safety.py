"""The clinical safety pass (issue 10), each defect reproduced: amounts by form and unit, the dangerous
cases (7-OH under any kind, every sedative, alcohol and benzodiazepine withdrawal, emergency signs),
no floods and no stale alarms, and what the messages say."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from backend.domain import SEDATING_KINDS
from backend.extensions import db
from backend.monitoring.rules import country_of
from backend.push.models import LocalPush
from tests.monitoring.conftest import rules_of
from tests.monitoring.test_prompts_api import ADVICE
from tests.support import NOW, assert_problem, local, utc

HOUR, MINUTE, DAY = dt.timedelta(hours=1), dt.timedelta(minutes=1), dt.timedelta(days=1)
TODAY = NOW.replace(hour=0)
OPIOID = {"substance_kind": "opioid", "form": "tablet"}


def only(found, rule):
    return [p for p in found if p["rule"] == rule]


# Amounts: never add unlike things ----------------------------------------------------------------

def test_7oh_milligrams_are_never_added_to_leaf_grams(patient, plan, dose, monitor, prompts):
    # Before: 5 g of leaf + 30 mg of 7-OH read as "5.03 g kratom", above a 5 g limit.
    person = patient()
    plan(person, substances={"kratom": {"daily_limit": {"amount": 5, "unit": "g"},
                                        "daily_limits": [{"amount": 20, "unit": "mg", "forms": ["concentrate_7oh"]}]}})
    dose(person, utc(2026, 11, 25, 8), 5)
    dose(person, utc(2026, 11, 25, 9), 15, "mg", form="concentrate_7oh")
    monitor()
    assert only(prompts(person), "daily_limit") == []

    dose(person, utc(2026, 11, 25, 10), 15, "mg", form="concentrate_7oh")
    monitor()
    [limit] = only(prompts(person), "daily_limit")
    assert limit["evidence"] == {"date": "2026-11-25", "form": "concentrate_7oh", "total": 30, "unit": "mg",
                                 "limit": 20}
    assert "concentrate" in limit["message"] and "30 mg" in limit["message"]


def test_a_kratom_limit_for_7oh_holds_7oh_logged_under_any_kind(patient, plan, dose, monitor, prompts):
    person = patient()
    plan(person, substances={"kratom": {"daily_limits": [{"amount": 20, "unit": "mg", "forms": ["concentrate_7oh"]}]}})
    dose(person, utc(2026, 11, 25, 8), 15, "mg", form="concentrate_7oh")
    dose(person, utc(2026, 11, 25, 9), 10, "mg", substance_kind="other", form="concentrate_7oh")
    dose(person, utc(2026, 11, 25, 10), 30, "mg", substance_kind="other", form="tablet")
    monitor()
    [limit] = only(prompts(person), "daily_limit")
    assert (limit["evidence"]["form"], limit["evidence"]["total"]) == ("concentrate_7oh", 25)


def test_a_limit_without_forms_holds_each_form_on_its_own(patient, plan, dose, monitor, prompts):
    person = patient()
    plan(person, substances={"kratom": {"daily_limit": {"amount": 8, "unit": "g"}}})
    dose(person, utc(2026, 11, 25, 8), 5)
    dose(person, utc(2026, 11, 25, 9), 5, form="extract")
    monitor()
    assert prompts(person) == []                       # 5 g leaf and 5 g extract: each under 8 g
    dose(person, utc(2026, 11, 25, 10), 4, form="extract")
    monitor()
    [prompt] = prompts(person)
    assert (prompt["evidence"]["form"], prompt["evidence"]["total"]) == ("extract", 9)


def test_a_limit_naming_its_forms_covers_only_those(patient, plan, dose, monitor, prompts):
    person = patient()
    plan(person, substances={"kratom": {"daily_limit": {"amount": 8, "unit": "g", "forms": ["leaf_powder"]}}})
    dose(person, utc(2026, 11, 25, 8), 9, form="extract")
    monitor()
    assert prompts(person) == []
    dose(person, utc(2026, 11, 25, 9), 9)
    monitor()
    [prompt] = prompts(person)
    assert prompt["evidence"]["form"] == "leaf_powder"


def test_old_plans_stay_valid_and_limits_name_known_forms(patient, client, plan):
    person = patient()
    old = plan(person, substances={"kratom": {"daily_limit": {"amount": 8, "unit": "g"}}})
    assert old["substances"] == {"kratom": {"daily_limit": {"amount": 8, "unit": "g"}}}
    for limit, field in (({"amount": 8, "unit": "g", "forms": ["resin"]}, "forms.0"),
                         ({"amount": 8, "unit": "g", "forms": []}, "forms")):
        response = client.put("/v1/plan", json={"substances": {"kratom": {"daily_limits": [limit]}}},
                              headers=person.headers)
        assert_problem(response, 422)
        assert f"substances.kratom.value.daily_limits.0.{field}" in [e["field"] for e in response.json["errors"]]


def test_capsules_a_day_rising_from_4_to_12_is_escalation(patient, dose, monitor, prompts):
    # Before: count units were skipped by the escalation rule, so this raised nothing.
    person = patient()
    for n in range(27, 6, -1):
        dose(person, TODAY - n * DAY + 8 * HOUR, 4, "capsule", form="capsule")
    for n in range(6, -1, -1):
        dose(person, TODAY - n * DAY + 8 * HOUR, 12, "capsule", form="capsule")
    monitor()
    [prompt] = prompts(person)
    assert prompt["rule"] == "escalation"
    assert prompt["evidence"] == {"form": "capsule", "unit": "capsule", "recent_mean": 12, "prior_mean": 4,
                                  "recent_days": 7, "prior_days": 21, "percent_rise": 200}


def test_escalation_compares_per_logged_day_so_a_gap_is_not_a_day_of_no_use(patient, dose, monitor, prompts):
    # Before: 4 g on each of 14 logged days out of 21 read as 2.7 g a day, so 4 g a day now was "50 % more".
    steady = patient()
    for n in range(27, 6, -1):
        if n % 3:                                                # 14 of the 21 days logged
            dose(steady, TODAY - n * DAY + 8 * HOUR, 4)
    for n in range(6, -1, -1):
        dose(steady, TODAY - n * DAY + 8 * HOUR, 4)
    monitor()
    assert prompts(steady) == []


def test_escalation_with_gaps_in_both_windows_compares_the_logged_days(patient, dose, monitor, prompts):
    person = patient()
    for n in range(27, 6, -1):
        if n % 7 not in (0, 3):                                  # 15 of the 21 days logged
            dose(person, TODAY - n * DAY + 8 * HOUR, 4)
    for n in (6, 4, 2, 0):                                       # 4 of the last 7
        dose(person, TODAY - n * DAY + 8 * HOUR, 5)
    monitor()
    [prompt] = prompts(person)
    assert prompt["evidence"] == {"form": "leaf_powder", "unit": "g", "recent_mean": 5, "prior_mean": 4,
                                  "recent_days": 4, "prior_days": 15, "percent_rise": 25}
    assert "on 4 of the last 7 days" in prompt["message"]


def test_escalation_needs_4_logged_days_of_the_last_7(patient, dose, monitor, prompts):
    person = patient()
    for n in range(27, 6, -1):
        dose(person, TODAY - n * DAY + 8 * HOUR, 4)
    for n in (5, 2, 0):
        dose(person, TODAY - n * DAY + 8 * HOUR, 10)
    monitor()
    assert prompts(person) == []


def test_7oh_is_its_own_escalation_series_in_milligrams(patient, dose, monitor, prompts):
    # Before: 7-OH logged under "other" was not counted, and under "kratom" its milligrams were added to
    # the grams of leaf, so a switch from leaf to 7-OH read as less use.
    person = patient()
    for n in range(27, 6, -1):
        dose(person, TODAY - n * DAY + 8 * HOUR, 10, "mg", form="concentrate_7oh", substance_kind="other")
    for n in range(6, -1, -1):
        dose(person, TODAY - n * DAY + 8 * HOUR, 15, "mg", form="concentrate_7oh", substance_kind="other")
        dose(person, TODAY - n * DAY + 9 * HOUR, 2)              # leaf too, never added in
    monitor()
    [prompt] = only(prompts(person), "escalation")
    assert prompt["evidence"] == {"form": "concentrate_7oh", "unit": "mg", "recent_mean": 15, "prior_mean": 10,
                                  "recent_days": 7, "prior_days": 21, "percent_rise": 50}
    assert "15 mg a day" in prompt["message"]


# A form that may be 7-OH: a question, never a change -----------------------------------------------

@pytest.mark.parametrize("product", ["7-OH tabs", "7OH", "Blue 7 oh", "7-Hydroxy shot", "HYDROXY", "Hydroxy-Mitra",
                                     "hydroxymitragynine 30", "Pseudo", "MIT pseudoindoxyl", "7.oh"])
def test_a_product_named_like_7oh_under_another_form_asks_to_confirm_the_form(patient, dose, monitor, prompts,
                                                                               client, product):
    person = patient()
    logged = dose(person, utc(2026, 11, 25, 9), 1, "tablet", substance_kind="other", form="tablet", product=product)
    monitor()
    [prompt] = prompts(person)
    assert (prompt["rule"], prompt["severity"]) == ("form_check", "info")
    assert prompt["evidence"] == {"dose_id": logged["id"], "reason": "name", "form": "tablet"}
    assert "please correct the dose's form" in prompt["message"] and "nothing was changed" in prompt["message"]
    assert client.get(f"/v1/doses/{logged['id']}", headers=person.headers).json["form"] == "tablet"


@pytest.mark.parametrize("product, kind, form", [
    ("Hydroxyzine", "sedative", "tablet"), ("Pseudoephedrine", "other", "tablet"), ("Green Malay", "kratom", "capsule"),
    ("7-OH tabs", "kratom", "concentrate_7oh")])
def test_other_names_and_a_7oh_form_ask_nothing(patient, dose, monitor, prompts, product, kind, form):
    person = patient()
    dose(person, utc(2026, 11, 25, 9), 1, "tablet", substance_kind=kind, form=form, product=product)
    monitor()
    assert only(prompts(person), "form_check") == []


@pytest.mark.parametrize("amount, unit, asks", [(500, "mg", True), (999, "mg", True), (80_000, "mcg", True),
                                                (1000, "mg", False), (0.5, "g", False)])
def test_kratom_in_milligrams_under_a_gram_asks_to_confirm_the_form(patient, dose, monitor, prompts, amount, unit,
                                                                    asks):
    person = patient()
    dose(person, utc(2026, 11, 25, 9), amount, unit, form="leaf_powder")
    monitor()
    found = only(prompts(person), "form_check")
    assert [p["evidence"]["reason"] for p in found] == (["amount"] if asks else [])


def test_the_form_question_is_asked_once_per_product_and_form(patient, dose, monitor, prompts):
    person = patient()
    for hour in (8, 12, 16):
        dose(person, utc(2026, 11, 25, hour), 1, "tablet", substance_kind="other", form="tablet", product="7OH")
        monitor(utc(2026, 11, 25, hour))
    dose(person, utc(2026, 11, 25, 17), 1, "capsule", substance_kind="other", form="capsule", product="7OH")
    monitor(utc(2026, 11, 25, 17))
    assert [p["evidence"]["form"] for p in prompts(person)] == ["capsule", "tablet"]


# The dangerous cases ------------------------------------------------------------------------------

def test_7oh_logged_under_other_with_an_opioid_is_a_combination(patient, dose, monitor, prompts):
    # Before: the combination rule keyed on substance_kind, so only the 7-OH prompt was raised.
    person = patient()
    seven_oh = dose(person, utc(2026, 11, 25, 8), 15, "mg", substance_kind="other", form="concentrate_7oh")
    opioid = dose(person, utc(2026, 11, 25, 9), 10, "mg", **OPIOID)
    monitor()
    found = prompts(person)
    assert rules_of(found) == [("combination", "opioid", "high"), ("concentrated_7oh", "kratom", "high")]
    [combination] = only(found, "combination")
    assert combination["evidence"] == {"date": "2026-11-25", "pairs": [[seven_oh["id"], opioid["id"]]],
                                       "hours_apart": [1.0]}
    assert "a concentrated 7-OH product and an opioid" in combination["message"]


@pytest.mark.parametrize("kind", SEDATING_KINDS)
def test_kratom_with_any_sedating_kind_is_the_breathing_combination(patient, dose, monitor, prompts, kind):
    person = patient()
    dose(person, utc(2026, 11, 25, 8))
    dose(person, utc(2026, 11, 25, 10), 1, "tablet", substance_kind=kind, form="tablet")
    monitor()
    [prompt] = prompts(person)
    assert (prompt["rule"], prompt["subject"], prompt["severity"]) == ("combination", kind, "high")
    message = prompt["message"]
    assert "slow breathing dangerously" in message and "pharmacist about naloxone" in message
    assert "call emergency services now" in message
    cdc = ("most kratom-related overdose deaths studied by the cdc also involved other substances, most often "
           "opioids")
    # CDC MMWR 68(14), 2019 is about other substances, most often opioids: not said of alcohol.
    assert (cdc in message.lower()) == (kind != "alcohol")
    assert "most kratom-related deaths involved such combinations" not in message


def test_the_stimulant_combination_lists_the_emergency_signs(patient, dose, monitor, prompts):
    person = patient()
    dose(person, utc(2026, 11, 25, 8), 20, "mg", substance_kind="adhd_stimulant", form="tablet")
    dose(person, utc(2026, 11, 25, 9), 15, "mg", substance_kind="other", form="concentrate_7oh")
    monitor()
    [prompt] = only(prompts(person), "combination")
    assert (prompt["subject"], prompt["severity"]) == ("adhd_stimulant", "warning")
    assert "Chest pain, fainting or a seizure are emergencies: call emergency services" in prompt["message"]


def test_adhd_like_withdrawal_symptoms_alone_never_fire(patient, checkin, monitor, prompts):
    # Before: anxiety, restlessness and irritability (which ADHD alone produces) made 3 symptoms.
    person = patient()
    adhd_like = ["anxiety", "restlessness", "irritability"]
    checkin(person, utc(2026, 11, 23, 9), withdrawal_symptoms=adhd_like[:1])
    checkin(person, utc(2026, 11, 24, 9), withdrawal_symptoms=adhd_like[:2])
    checkin(person, utc(2026, 11, 25, 9), withdrawal_severity={name: 4 for name in adhd_like})
    monitor()
    assert prompts(person) == []


@pytest.mark.parametrize("answers, score", [
    ({"withdrawal_symptoms": ["yawning", "runny_eyes_or_nose"]}, 3.0),            # two specific signs
    ({"withdrawal_severity": {"diarrhoea": 4}}, 3.0),                               # one severe specific sign
    ({"withdrawal_symptoms": ["anxiety", "restlessness", "irritability", "sweating"]}, 2.5),
    ({"withdrawal_severity": {"yawning": 1, "runny_eyes_or_nose": 1, "anxiety": 2}}, 2.0),   # mild ones
    ({"withdrawal_severity": {"yawning": 2, "runny_eyes_or_nose": 1, "anxiety": 2}}, 2.75),
])
def test_specific_signs_and_rated_severity_weigh_in_the_withdrawal_score(patient, checkin, monitor, prompts,
                                                                          answers, score):
    person = patient()
    logged = checkin(person, utc(2026, 11, 25, 9), **answers)
    monitor()
    found = prompts(person)
    if score < 3:
        assert found == []
        return
    [prompt] = found
    assert (prompt["rule"], prompt["severity"]) == ("withdrawal", "warning")
    assert prompt["evidence"] == {"checkin_id": logged["id"], "symptoms": logged["withdrawal_symptoms"],
                                  "score": score}


@pytest.mark.parametrize("kind, days_before, high", [("alcohol", 13, True), ("benzodiazepine", 1, True),
                                                     ("alcohol", 15, False), ("opioid", 1, False)])
def test_withdrawal_after_alcohol_or_a_benzodiazepine_points_to_same_day_care(
        patient, caregiver, dose, checkin, monitor, prompts, pushes, kind, days_before, high):
    person = patient()
    carer, _ = caregiver(person, alerts=True)
    dose(person, NOW - days_before * DAY, 1, "tablet", substance_kind=kind, form="tablet")
    checkin(person, NOW, withdrawal_symptoms=["tremor", "sweating", "nausea"])
    monitor()
    [prompt] = only(prompts(person), "withdrawal")
    if not high:
        assert prompt["severity"] == "warning" and "seizure" not in prompt["message"]
        assert pushes(carer.phone) == []
        return
    assert prompt["severity"] == "high"
    assert prompt["evidence"]["seizure_risk"] == [kind]
    assert "can cause seizures" in prompt["message"] and "Please get medical care today" in prompt["message"]
    assert [body for _, _, body, _ in pushes(carer.phone)] == ["Please check on someone you support now"]


@pytest.mark.parametrize("kind, fires", [("alcohol", True), ("benzodiazepine", True), ("opioid", False)])
def test_after_alcohol_or_a_benzodiazepine_tremor_and_sweating_weigh_as_specific_signs(
        patient, dose, checkin, monitor, prompts, kind, fires):
    person = patient()
    dose(person, NOW - DAY, 1, "tablet", substance_kind=kind, form="tablet")
    checkin(person, NOW, withdrawal_symptoms=["tremor", "sweating"])
    monitor()
    found = only(prompts(person), "withdrawal")
    assert [(p["severity"], p["evidence"]["score"]) for p in found] == ([("high", 3.0)] if fires else [])


@pytest.mark.parametrize("sign", ["seizure", "chest_pain", "fainting", "slowed_breathing"])
def test_each_emergency_sign_means_call_emergency_services(patient, checkin, monitor, prompts, sign):
    person = patient()
    logged = checkin(person, utc(2026, 11, 25, 11, 30), side_effects=[sign, "dizziness"])
    monitor()
    [prompt] = prompts(person)
    assert (prompt["rule"], prompt["subject"], prompt["severity"]) == ("emergency", sign, "high")
    assert "call emergency services now" in prompt["message"]
    assert prompt["evidence"] == {"checkin_id": logged["id"], "signs": [sign]}
    assert ("naloxone" in prompt["message"]) == (sign == "slowed_breathing")


def test_in_a_us_zone_the_numbers_are_911_and_988_elsewhere_the_local_ones(patient, checkin, monitor, prompts):
    assert [country_of(z) for z in ("America/New_York", "Pacific/Honolulu", "US/Eastern", "America/Toronto",
                                    "Europe/Berlin", "UTC")] == ["US", "US", "US", "CA", "DE", None]
    us, berlin = patient("America/Los_Angeles"), patient("Europe/Berlin")
    for person in (us, berlin):
        checkin(person, NOW, side_effects=["seizure"], withdrawal_symptoms=["yawning", "runny_eyes_or_nose"])
    monitor()
    by_rule = {p["rule"]: p["message"] for p in prompts(us)}
    assert "call emergency services (911) now" in by_rule["emergency"]
    assert "call or text 988" in by_rule["withdrawal"]
    by_rule = {p["rule"]: p["message"] for p in prompts(berlin)}
    assert "call emergency services now" in by_rule["emergency"]
    assert "988" not in by_rule["withdrawal"] and "your local emergency number" in by_rule["withdrawal"]


def test_worsening_reads_the_daily_pain_item_not_the_weekly_peg(patient, checkin, monitor, prompts):
    # Before: the rule averaged PEG, which asks about the past week, over overlapping days.
    weekly, daily = patient(), patient()
    for n in range(16, -1, -1):
        worse = n <= 2
        checkin(weekly, TODAY - n * DAY + 9 * HOUR, pain_today=4, pain=6 if worse else 4,
                enjoyment_interference=6 if worse else 4, activity_interference=6 if worse else 4)
        checkin(daily, TODAY - n * DAY + 9 * HOUR, pain_today=6 if worse else 4, pain=4, enjoyment_interference=4,
                activity_interference=4)
    monitor()
    assert prompts(weekly) == []
    [prompt] = prompts(daily)
    assert (prompt["rule"], prompt["subject"]) == ("worsening", "pain")
    assert prompt["evidence"]["recent"] == [6, 6, 6] and "pain today" in prompt["message"]


# No floods, no stale alarms -------------------------------------------------------------------------

def test_a_week_of_the_same_combination_is_one_prompt_a_day_high_only_the_first_time(
        patient, caregiver, dose, monitor, prompts, pushes, client):
    # Before: an opioid 3 times a day and kratom twice for a week made 21 high prompts and 21 caregiver
    # pushes, each through quiet hours.
    zone = "Europe/Berlin"
    person = patient(zone)
    carer, _ = caregiver(person, alerts=True)
    client.patch("/v1/me", json={"quiet_hours": {"start": "22:00", "end": "07:00"}}, headers=person.headers)
    for day in range(18, 25):
        for hour, kind in ((7, "opioid"), (8, "kratom"), (15, "opioid"), (22, "kratom"), (23, "opioid")):
            at = local(zone, 2026, 11, day, hour, 30)
            if kind == "opioid":
                dose(person, at, 10, "mg", **OPIOID)
            else:
                dose(person, at, 3)
            monitor(at)
        monitor(local(zone, 2026, 11, day + 1, 7, 0))           # quiet hours over
    found = only(prompts(person), "combination")
    assert [p["severity"] for p in reversed(found)] == ["high"] + ["warning"] * 6
    assert [len(p["evidence"]["pairs"]) for p in found] == [2] * 7          # 08:30 with 07:30, 22:30 with 23:30
    assert "2 times on Tue 24 Nov" in found[0]["message"] and "as in the past week" in found[0]["message"]
    assert len(pushes(person.phone)) == 7
    assert len(pushes(carer.phone)) == 1


def test_the_days_digest_lists_each_pair_and_is_pushed_once(patient, caregiver, dose, monitor, prompts, pushes):
    person = patient()
    carer, _ = caregiver(person, alerts=True)
    kratom = dose(person, utc(2026, 11, 25, 6))
    first = dose(person, utc(2026, 11, 25, 7), 10, "mg", **OPIOID)
    monitor(utc(2026, 11, 25, 7))
    second = dose(person, utc(2026, 11, 25, 9), 10, "mg", **OPIOID)
    monitor(utc(2026, 11, 25, 9))
    [prompt] = prompts(person)
    assert prompt["severity"] == "high"
    assert prompt["evidence"] == {"date": "2026-11-25", "pairs": [[kratom["id"], first["id"]],
                                                                  [kratom["id"], second["id"]]],
                                  "hours_apart": [1.0, 3.0]}
    assert "kratom and an opioid within 6 hours of each other 2 times on Wed 25 Nov" in prompt["message"]
    assert len(pushes(person.phone)) == 1 and len(pushes(carer.phone)) == 1


def test_a_phone_that_pulled_the_days_digest_pulls_it_again_brought_up_to_date(patient, dose, monitor, client):
    def pull(since):
        response = client.get("/v1/sync", query_string={"last_pulled_at": since, "schema_version": 2},
                              headers=person.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json

    person = patient()
    dose(person, utc(2026, 11, 25, 6))
    dose(person, utc(2026, 11, 25, 7), 10, "mg", **OPIOID)
    monitor(utc(2026, 11, 25, 7))
    first = pull("null")
    [prompt] = first["changes"]["prompts"]["created"] + first["changes"]["prompts"]["updated"]
    dose(person, utc(2026, 11, 25, 9), 10, "mg", **OPIOID)
    monitor(utc(2026, 11, 25, 9))
    later = pull(first["timestamp"])
    [again] = later["changes"]["prompts"]["updated"]
    assert again["id"] == prompt["id"] and "2 times" in again["message"]


def test_a_7oh_digest_lists_the_days_doses(patient, dose, monitor, prompts, pushes):
    person = patient()
    doses = [dose(person, utc(2026, 11, 25, hour), 15, "mg", form="concentrate_7oh") for hour in (7, 9)]
    monitor(utc(2026, 11, 25, 9))
    [prompt] = prompts(person)
    assert (prompt["severity"], prompt["evidence"]) == ("high", {"date": "2026-11-25",
                                                                 "dose_ids": [d["id"] for d in doses]})
    assert "2 times on Wed 25 Nov (07:00, 09:00)" in prompt["message"]
    assert len(pushes(person.phone)) == 1


def test_a_combination_known_more_than_a_week_ago_is_high_again(patient, dose, monitor, prompts, clock):
    person = patient()
    for day in (10, 18):
        clock.move_to(utc(2026, 11, day, 9), tick=False)
        dose(person, utc(2026, 11, day, 8))
        dose(person, utc(2026, 11, day, 9), 10, "mg", **OPIOID)
        monitor(utc(2026, 11, day, 9))
    assert [p["severity"] for p in prompts(person)] == ["high", "high"]


@pytest.mark.parametrize("hours_late, late", [(6, False), (6.02, True), (72, True)])
def test_a_combination_logged_late_is_noted_not_sounded(patient, caregiver, dose, monitor, prompts, pushes, client,
                                                        hours_late, late):
    # Before: a dose pair logged 3 days after the fact said "call emergency services now" and alerted.
    person = patient()
    carer, _ = caregiver(person, alerts=True)
    client.patch("/v1/me", json={"quiet_hours": {"start": "11:00", "end": "13:00"}}, headers=person.headers)
    taken = NOW - dt.timedelta(hours=hours_late)
    dose(person, taken - HOUR)
    dose(person, taken, 10, "mg", **OPIOID)
    monitor()                                                   # at noon, in quiet hours
    [prompt] = prompts(person)
    assert (prompt["rule"], prompt["severity"]) == ("combination", "high")     # for the record and the clinician
    if not late:
        assert "call emergency services now" in prompt["message"]
        assert [body for _, _, body, _ in pushes(person.phone)] == ["An important update needs your attention"]
        assert len(pushes(carer.phone)) == 1
        return
    assert prompt["evidence"]["seen_hours_later"] == round(hours_late)
    assert "now" not in prompt["message"] and "If it happens again" in prompt["message"]
    assert pushes() == []                                       # not through quiet hours …
    monitor(NOW + HOUR)
    assert [body for _, _, body, _ in pushes()] == ["You have a new update"]   # … and not urgent, nor to the carer


def test_a_combination_logged_late_does_not_quiet_the_next_one_as_it_happens(patient, caregiver, dose, monitor,
                                                                             prompts, pushes):
    person = patient()
    carer, _ = caregiver(person, alerts=True)
    dose(person, NOW - 3 * DAY)
    dose(person, NOW - 3 * DAY + HOUR, 10, "mg", **OPIOID)
    monitor()
    dose(person, NOW + HOUR)
    dose(person, NOW + 2 * HOUR, 10, "mg", **OPIOID)
    monitor(NOW + 2 * HOUR)
    late, live = reversed(prompts(person))
    assert (late["severity"], live["severity"]) == ("high", "high")
    assert "as in the past week" not in live["message"] and "call emergency services now" in live["message"]
    assert [body for _, _, body, _ in pushes(carer.phone)] == ["Please check on someone you support now"]


def test_liver_signs_logged_late_still_say_seek_care_without_alarm(patient, caregiver, checkin, monitor, prompts,
                                                                   pushes):
    person = patient()
    carer, _ = caregiver(person, alerts=True)
    checkin(person, NOW - 2 * DAY, side_effects=["dark_urine"])
    monitor()
    [prompt] = prompts(person)
    assert (prompt["rule"], prompt["severity"]) == ("liver", "high")
    assert "If you still have them, please seek medical care today" in prompt["message"]
    assert pushes(carer.phone) == []


def test_each_missed_dose_the_person_asked_about_is_alerted(patient, caregiver, client, reminder_jobs, prompts,
                                                             pushes):
    # Before: two missed dose reminders 12 h apart gave one alert (the 24 h cooldown swallowed the second).
    person = patient()
    carer, _ = caregiver(person, alerts=True)
    response = client.post("/v1/reminders", headers=person.headers, json={
        "id": str(uuid.uuid4()), "kind": "dose", "times": ["08:00", "20:00"], "confirm_within_minutes": 30,
        "alert_caregivers": True})
    assert response.status_code == 201, response.json
    for when in (utc(2026, 11, 26, 8), utc(2026, 11, 26, 8, 30), utc(2026, 11, 26, 20), utc(2026, 11, 26, 20, 30)):
        reminder_jobs(when)
    found = prompts(person)
    assert [p["rule"] for p in found] == ["missed_dose", "missed_dose"]
    assert [body for _, _, body, _ in pushes(carer.phone)] == [
        "An update about someone you support needs your attention"] * 2
    message = found[0]["message"]
    assert "If you chose to" not in message
    assert "As you chose for this reminder, the people you share alerts with are told" in message


@pytest.mark.parametrize("named, urgent_text, routine_text", [
    (False, "Please check on someone you support now", "An update about someone you support needs your attention"),
    (True, "Please check on Robin now", "An update about Robin needs your attention"),
])
def test_caregiver_texts_are_urgent_or_routine_and_name_the_person_only_if_they_chose(
        patient, caregiver, checkin, monitor, pushes, client, app, named, urgent_text, routine_text):
    import jobs

    person = patient(name="Robin")
    carer, _ = caregiver(person, alerts=True)
    client.patch("/v1/me", json={"name_in_caregiver_alerts": named}, headers=person.headers)
    checkin(person, NOW, side_effects=["chest_pain"])
    monitor()
    response = client.post("/v1/reminders", json={"id": str(uuid.uuid4()), "kind": "checkin", "times": ["20:00"]},
                           headers=person.headers)
    assert response.status_code == 201
    monitor(NOW + 100 * HOUR)
    with app.app_context():
        jobs.check_missed_checkins()
    monitor(NOW + 100 * HOUR)
    assert [body for _, _, body, _ in pushes(carer.phone)] == [urgent_text, routine_text]
    with app.app_context():
        keys = db.session.scalars(sa.select(LocalPush.collapse_key).where(LocalPush.token == carer.phone)
                                  .order_by(LocalPush.id)).all()
    assert keys == [f"alert-{person.id}-urgent", f"alert-{person.id}"]   # the routine one replaces nothing urgent


def test_no_new_message_advises_a_dose(patient, dose, checkin, monitor, prompts):
    person = patient("America/Chicago")
    dose(person, NOW - 2 * HOUR, 500, "mg", product="7-OH gummies")
    dose(person, NOW - HOUR, 1, "drink", substance_kind="alcohol", form="drink")
    dose(person, NOW - HOUR, 1, "tablet", substance_kind="gabapentinoid", form="tablet")
    checkin(person, NOW, side_effects=["seizure", "itching"], withdrawal_symptoms=["tremor", "sweating", "yawning"])
    monitor()
    found = prompts(person)
    assert {p["rule"] for p in found} == {"form_check", "combination", "withdrawal", "liver", "emergency"}
    for prompt in found:
        assert not ADVICE.search(prompt["message"]), prompt["message"]
