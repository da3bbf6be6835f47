"""The report's safety summary, first on page 1, and what the issue found wrong with the report:
forms mixed across units and added together, instruments collected and never shown, the daily
pain item unused; the day-after view; positive screens in the viewer summary too."""

import re

import pytest

from tests.reports.test_report_page import WEEK, chart, make_link, report_data, values, view

# Eight weeks, 30 Sep – 24 Nov: the last four against the four before.
EIGHT_WEEKS = {"since": "2026-09-30T00:00:00Z", "until": "2026-11-25T00:00:00Z"}


def line(page, row_id):
    """The text of one line of the safety summary, tags stripped."""
    row = page[page.index(f'id="{row_id}"'):]
    text = re.sub(r"</t[hd]>", " ", row[row.index(">") + 1:row.index("</tr>")])
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip()


def set_plan(client, person, substances):
    response = client.put("/v1/plan", json={"substances": substances}, headers=person.headers)
    assert response.status_code == 200, response.json


@pytest.fixture
def heavy_week(client, alice, create_checkin, create_dose):
    """Leaf, capsules and a 7-OH concentrate (logged under "other"), an opioid, a benzodiazepine and
    alcohol; emergency and liver signs; PHQ-2, GAD-2, sleep quality and the daily pain item."""
    set_plan(client, alice, {"kratom": {"daily_limit": {"amount": 5, "unit": "g"}}})
    doses = [
        ("2026-11-20T09:00:00Z", "kratom", "leaf_powder", 4, "g"),
        ("2026-11-20T15:00:00Z", "kratom", "leaf_powder", 2500, "mg"),   # the 20th: 6.5 g of leaf
        ("2026-11-20T12:00:00Z", "opioid", "tablet", 10, "mg"),          # 3 h after kratom
        ("2026-11-21T09:00:00Z", "kratom", "capsule", 12, "capsule"),
        ("2026-11-21T10:00:00Z", "kratom", "concentrate_7oh", 30, "mg"),  # never added to the leaf's grams
        ("2026-11-22T09:00:00Z", "other", "concentrate_7oh", 20, "mg"),   # 7-OH is 7-OH, whatever the kind
        ("2026-11-22T10:00:00Z", "alcohol", "drink", 2, "drink"),         # an hour after the 7-OH
        ("2026-11-22T20:00:00Z", "benzodiazepine", "tablet", 5, "mg"),    # 11 h after: outside the 6 h window
        ("2026-11-23T09:00:00Z", "kratom", "leaf_powder", 4, "g"),
    ]
    for taken_at, kind, form, amount, unit in doses:
        create_dose(alice, taken_at=taken_at, substance_kind=kind, form=form, amount=amount, unit=unit, product=None)
    create_checkin(alice, recorded_at="2026-11-21T08:00:00Z", pain=2, pain_today=9, enjoyment_interference=6,
                   activity_interference=7, sleep_quality=1, phq2_interest=2, phq2_mood=2, gad2_nervous=1,
                   gad2_worry=1, side_effects=["seizure"])
    create_checkin(alice, recorded_at="2026-11-22T08:00:00Z", pain=4, pain_today=None, side_effects=[
        "itching", "pale_stools"], phq2_interest=0, phq2_mood=1, withdrawal_symptoms=["yawning"],
        withdrawal_severity={"yawning": 3})
    create_checkin(alice, recorded_at="2026-11-23T08:00:00Z", pain=5, side_effects=["slowed_breathing"])
    return alice


def test_forms_are_rows_of_their_own_per_unit_never_added(client, heavy_week):
    """Reproduced: 30 mg of 7-OH was added to 4 g of leaf as one kratom total, and the forms column
    listed leaf, capsule and 7-OH against a row in grams."""
    response = view(client, make_link(client, heavy_week, **WEEK))
    data = report_data(response)
    bars = [c["id"] for c in data["charts"] if c["kind"] == "bars"]
    assert bars == ["dose-kratom-capsule-capsule", "dose-kratom-concentrate_7oh-mg", "dose-kratom-leaf_powder-g",
                    "dose-alcohol-drink-drink", "dose-benzodiazepine-tablet-mg", "dose-opioid-tablet-mg"]
    assert values(data, "dose-kratom-leaf_powder-g", "Kratom, leaf powder, g")["2026-11-21"] is None
    assert values(data, "dose-kratom-leaf_powder-g", "Kratom, leaf powder, g")["2026-11-20"] == 6.5
    seven_oh = values(data, "dose-kratom-concentrate_7oh-mg", "Kratom, 7-OH concentrate, mg")
    # 7-OH is kratom's whatever kind it was logged under ("other" on the 22nd), as the limit rule counts it.
    assert (seven_oh["2026-11-21"], seven_oh["2026-11-22"]) == (30, 20)
    table = response.text[response.text.index('<table class="doses">'):]
    rows = re.findall(r'<tr><th scope="row">([^<]+) <span class="n">\(([^)]+)\)</span></th>', table)
    assert rows[:3] == [("Kratom, capsule", "capsule"), ("Kratom, 7-OH concentrate", "mg"),
                        ("Kratom, leaf powder", "g")]
    # The plan's 5 g limit covers each form on its own: grams of leaf, never capsules.
    assert chart(data, "dose-kratom-leaf_powder-g")["limit"] == 5
    assert chart(data, "dose-kratom-capsule-capsule")["limit"] is None


def test_a_limit_that_names_its_forms_covers_those_alone(client, heavy_week):
    set_plan(client, heavy_week, {"kratom": {
        "daily_limit": {"amount": 8, "unit": "g", "forms": ["leaf_powder"]},
        "daily_limits": [{"amount": 25, "unit": "mg", "forms": ["concentrate_7oh"]},
                         {"amount": 10, "unit": "capsule", "forms": ["capsule"]}]}})
    response = view(client, make_link(client, heavy_week, **WEEK))
    data = report_data(response)
    assert {c["id"]: c["limit"] for c in data["charts"] if c["id"].startswith("dose-kratom")} == {
        "dose-kratom-capsule-capsule": 10, "dose-kratom-concentrate_7oh-mg": 25, "dose-kratom-leaf_powder-g": 8}
    assert line(response.text, "safety-limits") == (
        "Over own daily limit Kratom, capsule (limit 10 capsule): 1 of 1 day taken, 21 Nov; "
        "Kratom, 7-OH concentrate (limit 25 mg): 1 of 2 days taken, 21 Nov; "
        "Kratom, leaf powder (limit 8 g): 0 of 2 days taken")


def test_the_safety_summary_comes_first_and_says_what_matters(client, heavy_week):
    page = view(client, make_link(client, heavy_week, scopes=["checkins", "doses", "prompts"], **WEEK)).text
    assert page.index('id="safety"') < page.index('id="liver-warning-signs"') < page.index('id="doses"')
    # The plan's limit names no form: each form is compared with it on its own, in its own unit.
    assert line(page, "safety-limits") == (
        "Over own daily limit Kratom, 7-OH concentrate (limit 5000 mg): 0 of 2 days taken; "
        "Kratom, leaf powder (limit 5 g): 1 of 2 days taken, 20 Nov")
    assert line(page, "safety-7oh") == "7-OH concentrate 2 days: 21 Nov, 22 Nov"
    # Kratom + opioid 3 h apart on the 20th; 7-OH (logged as "other") + alcohol on the 22nd; the
    # benzodiazepine 11 h after is outside the plan's 6 h window.
    assert line(page, "safety-combinations") == (
        "Kratom with an opioid, sedative or alcohol 2 days within 6 h of each other "
        "(Alcohol: 1 day; Opioid: 1 day): 20 Nov, 22 Nov")
    assert line(page, "safety-signs") == (
        "Emergency and liver signs slowed breathing: 1 day, 23 Nov; seizure: 1 day, 21 Nov; "
        "liver warning signs on 1 day (box below)")
    assert line(page, "safety-screens") == (
        "Positive screens (3+) PHQ-2 (depression): 1 day of 2 answered, 21 Nov; latest 1 (22 Nov); "
        "GAD-2 (anxiety): 0 days of 1 answered; latest 2 (21 Nov)")
    for row_id in ("safety-limits", "safety-7oh", "safety-combinations", "safety-signs", "safety-screens"):
        assert re.search(rf'<tr class="flag" id="{row_id}">', page), row_id
    assert 'id="safety-adherence"' in page and "High-severity prompts" in page


def test_the_liver_box_shows_exactly_the_rules_signs(client, heavy_week):
    page = view(client, make_link(client, heavy_week, **WEEK)).text
    box = page[page.index('id="liver-warning-signs"'):page.index("</section>", page.index('id="liver-warning-signs"'))]
    assert "<strong>itching</strong>" in box and "<strong>pale stools</strong>" in box
    assert "seizure" not in box
    side_effects = page[page.index("<h3>Side effects</h3>"):page.index("<h3>Withdrawal symptoms</h3>")]
    assert "itching" not in side_effects and "seizure" not in side_effects  # in the summary, not buried
    withdrawal = page[page.index("<h3>Withdrawal symptoms</h3>"):]
    assert re.search(r'<th scope="row">yawning</th><td>1</td><td>3</td>', withdrawal)  # its worst rating


def test_instruments_are_shown_and_daily_charts_use_pain_today(client, heavy_week):
    response = view(client, make_link(client, heavy_week, **WEEK))
    data = report_data(response)
    pain = values(data, "pain", "Pain")
    assert (pain["2026-11-21"], pain["2026-11-22"]) == (9.0, 4.0)  # pain today where given, else PEG's item
    screens = chart(data, "screens")
    assert (screens["limit"], screens["limit_label"]) == (3, "positive screen")
    assert values(data, "screens", "PHQ-2")["2026-11-21"] == 4.0
    assert values(data, "screens", "GAD-2")["2026-11-21"] == 2.0
    measures = response.text[response.text.index('<section id="measures">'):]
    shown = re.findall(r'<tr><th scope="row">([^<]+)</th>', measures[:measures.index("</section>")])
    assert shown == ["Pain", "PEG score", "PEG enjoyment", "PEG activity", "Sleep quality",
                     "Trouble focusing", "Mood", "PHQ-2", "GAD-2"]


def test_the_day_after_view_is_lagged_by_one_local_day(app, client, make_person, create_checkin, create_dose):
    """In New York, a dose at 23:30 local (04:30 UTC the next day) is that local day's; the day after
    is the next local day."""
    person = make_person("uid-lag-9d3k", timezone="America/New_York", name="Lee")
    create_dose(person, taken_at="2026-11-21T04:30:00Z", substance_kind="opioid", form="tablet", amount=5,
                unit="mg", product=None)                                                     # the 20th, 23:30
    for day, pain in (("19", 2), ("20", 3), ("21", 8), ("22", 4)):
        create_checkin(person, recorded_at=f"2026-11-{day}T15:00:00Z", pain=pain)            # 10:00 local
    link = make_link(client, person, since="2026-11-19T05:00:00Z", until="2026-11-23T05:00:00Z")
    page = view(client, link).text
    section = page[page.index('id="with-without"'):page.index("</section>", page.index('id="with-without"'))]
    assert "observations, not conclusions" in section
    [row] = re.findall(r'<tr><th scope="row">Pain</th>(.*?)</tr>', section, re.S)
    cells = re.findall(r"<td>([^<]+) <span", row)
    # Same day: the 20th (3) against the 19th, 21st and 22nd (2, 8, 4); next day: the 21st (8)
    # against the 20th and 22nd (the 19th's day before is outside the range).
    assert [cell.strip() for cell in cells] == ["3", "4.7", "8", "3.5"]


def test_kratom_trend_compares_four_weeks_per_form_per_logged_day(client, alice, create_dose):
    for n in range(10):  # the four weeks before: 4 g on 10 days
        create_dose(alice, taken_at=f"2026-10-{n + 1:02d}T09:00:00Z", amount=4, unit="g")
    for n in range(20):  # the last four weeks: 6 g on 20 days, and capsules on 2
        create_dose(alice, taken_at=f"2026-11-{n + 1:02d}T09:00:00Z", amount=6, unit="g")
    for day in ("03", "04"):
        create_dose(alice, taken_at=f"2026-11-{day}T10:00:00Z", form="capsule", amount=8, unit="capsule")
    page = view(client, make_link(client, alice, **EIGHT_WEEKS)).text
    assert line(page, "safety-trend") == (
        "Kratom, last 4 weeks vs the 4 before Kratom, capsule (capsule): — → 8 a day taken, on 0 → 2 days; "
        "Kratom, leaf powder (g): 4 → 6 a day taken, on 10 → 20 days (+50%)")


def test_the_viewer_summary_flags_positive_screens(client, heavy_week):
    response = client.get(f"/v1/patients/{heavy_week.id}/summary", headers=heavy_week.headers,
                          query_string={"since": "2026-11-18T00:00:00Z", "until": "2026-11-25T00:00:00Z"})
    assert response.status_code == 200, response.json
    checkins = response.json["checkins"]
    assert checkins["positive_screens"] == ["phq2"]
    assert checkins["screens"] == {"phq2": {"answered": 2, "positive": 1, "latest": 1},
                                   "gad2": {"answered": 1, "positive": 0, "latest": 2}}
    assert checkins["emergency_signs"] == {"seizure": 1, "slowed_breathing": 1}
    assert checkins["liver_warning_signs"] == {"pale_stools": 1, "itching": 1}
    assert checkins["mean_pain_today"] == 9.0 and checkins["mean_sleep_quality"] == 1.0
