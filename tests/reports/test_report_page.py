"""The clinician report page at /r/<token>: what it shows, within which scopes and range, per local
day; its headers; the one plain page for every unusable link; the access log; throttled guessing.

The page is rendered in a real browser in test_report_browser.py; here it is read as HTML."""

import datetime as dt
import json
import re
import uuid

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.monitoring.models import Prompt
from backend.reminders.models import ReminderOccurrence, ReminderSchedule
from backend.sharing.models import AccessLogEntry, ReportLink
from backend.reports.report import build_report
from backend.web.routes import CONTENT_SECURITY_POLICY
from tests.reports.conftest import NOW, access_log

UTC = dt.timezone.utc
NOTE = "Walked the dog to the lighthouse twice"  # text that appears nowhere else
DOSE_NOTE = "Took it with a marmalade sandwich"
WEEK = {"since": "2026-11-18T00:00:00Z", "until": "2026-11-25T00:00:00Z"}  # 18–24 Nov, seven UTC days
ALL_SCOPES = ["checkins", "doses", "notes", "prompts"]
UNAVAILABLE = "This report is no longer available"


def make_link(client, person, **fields):
    response = client.post("/v1/report-links", json=fields, headers=person.headers)
    assert response.status_code == 201, response.json
    return response.json


def path_of(link):
    return "/r/" + link["url"].rsplit("/r/", 1)[1]


def view(client, link_or_path, address="192.0.2.10"):
    path = link_or_path if isinstance(link_or_path, str) else path_of(link_or_path)
    return client.get(path, environ_base={"REMOTE_ADDR": address})


def report_data(response):
    """The chart data the page embeds for its script."""
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', response.text, re.S)
    assert match, "no report-data block"
    return json.loads(match.group(1))


def chart(data, chart_id):
    [found] = [c for c in data["charts"] if c["id"] == chart_id]
    return found


def values(data, chart_id, label):
    [series] = [s for s in chart(data, chart_id)["series"] if s["label"] == label]
    return dict(zip(data["days"], series["values"]))


@pytest.fixture
def week_of_data(alice, create_checkin, create_dose):
    """Alice (in UTC) logs check-ins on the 20th (two), 21st and 23rd and doses on the 20th–22nd."""
    create_checkin(alice, recorded_at="2026-11-20T08:00:00Z", pain=4, enjoyment_interference=3,
                   activity_interference=5, focus=1, hyperactivity=0, impulsivity=2, restlessness=3, mood=6,
                   sleep_hours=7.5, side_effects=["constipation"], note=NOTE)
    create_checkin(alice, recorded_at="2026-11-20T20:00:00Z", pain=6, enjoyment_interference=5,
                   activity_interference=7, focus=3, mood=4)
    create_checkin(alice, recorded_at="2026-11-21T08:00:00Z", pain=2, enjoyment_interference=None,
                   activity_interference=None, focus=None, mood=8, sleep_hours=6,
                   side_effects=["dark_urine", "constipation"], withdrawal_symptoms=["yawning", "craving"])
    create_checkin(alice, recorded_at="2026-11-23T08:00:00Z", pain=8, enjoyment_interference=8,
                   activity_interference=8, focus=4, mood=2, side_effects=["yellow_skin_or_eyes"])
    create_checkin(alice, recorded_at="2026-11-10T08:00:00Z", pain=9, note="Before the range")  # outside WEEK
    create_dose(alice, taken_at="2026-11-20T09:00:00Z", amount=2.5, note=DOSE_NOTE)
    create_dose(alice, taken_at="2026-11-20T15:00:00Z", amount=3, product="Red Bali")
    create_dose(alice, taken_at="2026-11-22T09:00:00Z", amount=2)
    create_dose(alice, taken_at="2026-11-21T07:30:00Z", substance_kind="adhd_stimulant", form="tablet",
                product="methylphenidate", amount=10, unit="mg")
    return alice


# What the report shows

def test_the_report_shows_header_trends_per_local_day_and_doses(client, week_of_data):
    alice = week_of_data
    link = make_link(client, alice, label="Dr. Rivera's clinic", scopes=ALL_SCOPES, **WEEK)
    response = view(client, link)
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    page = response.text
    assert "<h1>Alice</h1>" in page
    assert "Wed 18 Nov 2026 – Tue 24 Nov 2026 (7 days)" in page
    assert "Europe/London" not in page and ">UTC (every" in page
    assert "2026-11-25 08:00 UTC" in page  # generated at, in the patient's zone
    assert "Dr. Rivera&#39;s clinic" in page
    assert '<th scope="row">Check-ins</th><td><strong>4</strong> on 3 of 7 days</td>' in page

    data = report_data(response)
    assert data["days"] == [f"2026-11-{day}" for day in range(18, 25)]
    assert [c["id"] for c in data["charts"]] == [
        "pain", "adhd", "mood", "sleep", "dose-kratom-leaf_powder-g", "dose-adhd_stimulant-tablet-mg"]
    # Means of the day's check-ins; PEG only where all three items were answered.
    assert values(data, "pain", "Pain") == {
        "2026-11-18": None, "2026-11-19": None, "2026-11-20": 5.0, "2026-11-21": 2.0, "2026-11-22": None,
        "2026-11-23": 8.0, "2026-11-24": None}
    assert values(data, "pain", "PEG score")["2026-11-20"] == 5.0  # (4+3+5)/3 and (6+5+7)/3
    assert values(data, "pain", "PEG score")["2026-11-21"] is None
    assert values(data, "adhd", "Trouble focusing")["2026-11-20"] == 2.0
    assert values(data, "adhd", "Hyperactivity")["2026-11-20"] == 0.0
    assert values(data, "sleep", "Sleep hours")["2026-11-21"] == 6.0
    assert values(data, "dose-kratom-leaf_powder-g", "Kratom, leaf powder, g") == {
        "2026-11-18": None, "2026-11-19": None, "2026-11-20": 5.5, "2026-11-21": None, "2026-11-22": 2.0,
        "2026-11-23": None, "2026-11-24": None}
    assert values(data, "dose-adhd_stimulant-tablet-mg", "ADHD stimulant, tablet, mg")["2026-11-21"] == 10.0
    assert chart(data, "dose-kratom-leaf_powder-g")["limit"] is None  # no personal limit in the plan
    assert "Green Malay, Red Bali" in page
    assert "Before the range" not in page


def test_liver_warning_signs_are_flagged_with_their_dates(client, week_of_data):
    page = view(client, make_link(client, week_of_data, **WEEK)).text
    alert = page[page.index('id="liver-warning-signs"'):page.index('id="doses"')]
    assert "Liver warning signs reported" in alert
    assert re.search(r"<strong>dark urine</strong>: <time datetime=\"2026-11-21\">Sat 21 Nov 2026</time>", alert)
    assert re.search(r"<strong>yellow skin or eyes</strong>: <time datetime=\"2026-11-23\">", alert)
    # Liver signs are not buried among the ordinary side effects.
    side_effects = page[page.index("<h3>Side effects</h3>"):page.index("<h3>Withdrawal symptoms</h3>")]
    assert "constipation" in side_effects and "dark urine" not in side_effects
    withdrawal = page[page.index("<h3>Withdrawal symptoms</h3>"):page.index("</section>", page.index('id="reported-symptoms"'))]
    assert "craving" in withdrawal and "yawning" in withdrawal


def test_no_liver_alert_when_none_was_reported(client, alice, create_checkin):
    create_checkin(alice, side_effects=["constipation"])
    page = view(client, make_link(client, alice, **WEEK)).text
    assert 'id="liver-warning-signs"' not in page
    signs = page[page.index('id="safety-signs"'):]
    assert signs[:signs.index("</tr>")].endswith("none reported</td>")


def test_days_with_and_without_each_substance_are_plain_averages(app, client, week_of_data):
    link = make_link(client, week_of_data, **WEEK)
    page = view(client, link).text
    assert "These are observations, not conclusions" in page
    with app.test_request_context():
        stored = db.session.get(ReportLink, uuid.UUID(link["id"]))
        report = build_report(week_of_data.user, stored, NOW)
    by_substance = {block["substance"]: {row["label"]: row for row in block["rows"]}
                    for block in report["with_without"]["tables"]}
    # Kratom on the 20th and 22nd; check-ins on the 20th, 21st and 23rd.
    assert by_substance["Kratom"]["Pain"] == {"label": "Pain", "with": 5.0, "with_days": 1,
                                              "without": 5.0, "without_days": 2,
                                              # the day after: the 21st and 23rd follow kratom days
                                              "next_with": 5.0, "next_with_days": 2,
                                              "next_without": 5.0, "next_without_days": 1}
    assert by_substance["Kratom"]["Mood"]["next_with"] == 5.0  # (8 + 2) / 2
    assert by_substance["Kratom"]["Mood"]["next_without"] == 5.0  # the 20th: (6 + 4) / 2
    assert by_substance["Kratom"]["Mood"]["with"] == 5.0
    assert by_substance["Kratom"]["Mood"]["without"] == 5.0  # (8 + 2) / 2
    assert by_substance["ADHD stimulant"]["Mood"] == {"label": "Mood", "with": 8.0, "with_days": 1,
                                                      "without": 3.5, "without_days": 2,
                                                      "next_with": None, "next_with_days": 0,
                                                      "next_without": 5.0, "next_without_days": 3}
    assert by_substance["ADHD stimulant"]["Sleep hours"]["without_days"] == 1


def test_the_personal_daily_limit_from_the_plan_is_drawn(client, alice, create_dose):
    plan = {"substances": {"kratom": {"daily_limit": {"amount": 5, "unit": "g"}}}}
    assert client.put("/v1/plan", json=plan, headers=alice.headers).status_code == 200
    create_dose(alice, taken_at="2026-11-20T09:00:00Z", amount=4, unit="g")
    create_dose(alice, taken_at="2026-11-20T15:00:00Z", amount=1500, unit="mg")  # added up in g, as the rule does
    create_dose(alice, taken_at="2026-11-21T09:00:00Z", amount=3, unit="g")
    response = view(client, make_link(client, alice, **WEEK))
    data = report_data(response)
    kratom = chart(data, "dose-kratom-leaf_powder-g")
    assert kratom["limit"] == 5
    assert values(data, "dose-kratom-leaf_powder-g", "Kratom, leaf powder, g")["2026-11-20"] == 5.5
    assert [c["id"] for c in data["charts"] if c["kind"] == "bars"] == ["dose-kratom-leaf_powder-g"]  # one, in g
    assert "dashed line: own daily limit, 5" in response.text
    assert '<td data-label="own limit">5; over on 1</td>' in response.text


def test_check_in_reminder_adherence_is_counted_by_outcome(app, client, alice):
    with app.app_context():
        user_id = alice.user.id
        schedule = ReminderSchedule(id=uuid.uuid4(), user_id=user_id, kind="checkin", times=["09:00"],
                                    days=["mon"], active=True)
        dose_schedule = ReminderSchedule(id=uuid.uuid4(), user_id=user_id, kind="dose", times=["09:00"],
                                         days=["mon"], active=True)
        db.session.add_all([schedule, dose_schedule])
        outcomes = [("answered", {}), ("answered", {}), ("answered", {}), ("missed", {}), ("missed", {}),
                    ("sent", {"sent_at": NOW - dt.timedelta(days=3)}),           # ignored
                    ("pending", {"snooze_count": 1}), ("expired", {})]
        for n, (status, fields) in enumerate(outcomes):
            due = dt.datetime(2026, 11, 18, 9, tzinfo=UTC) + dt.timedelta(hours=12 * n)
            db.session.add(ReminderOccurrence(schedule_id=schedule.id, user_id=user_id, kind="checkin",
                                              local_date=due.date(), local_time=f"{due:%H:%M}", due_at=due,
                                              send_after=due, status=status, **fields))
        outside = dt.datetime(2026, 11, 10, 9, tzinfo=UTC)
        db.session.add(ReminderOccurrence(schedule_id=schedule.id, user_id=user_id, kind="checkin",
                                          local_date=outside.date(), local_time="09:00", due_at=outside,
                                          send_after=outside, status="missed"))
        db.session.add(ReminderOccurrence(schedule_id=dose_schedule.id, user_id=user_id, kind="dose",
                                          local_date=dt.date(2026, 11, 20), local_time="09:00",
                                          due_at=dt.datetime(2026, 11, 20, 9, tzinfo=UTC),
                                          send_after=dt.datetime(2026, 11, 20, 9, tzinfo=UTC), status="missed"))
        db.session.commit()
    page = view(client, make_link(client, alice, **WEEK)).text
    line = page[page.index('id="safety-adherence"'):]
    line = line[:line.index("</tr>")]
    rows = re.findall(r"([a-z]+) <strong>(\d+)</strong> \((\d+)%\)", line)
    assert rows == [("answered", "3", "38"), ("missed", "2", "25"), ("ignored", "1", "12"),
                    ("snoozed", "1", "12"), ("expired", "1", "12")]
    assert line.endswith("of 8 due</td>")
    # The dose reminder is counted apart, under the doses scope.
    assert '<th scope="row">Dose reminders</th><td>missed <strong>1</strong> of 1 due</td>' in page


def test_monitoring_prompts_that_fired_are_listed(app, client, alice):
    with app.app_context():
        user_id = alice.user.id
        for n, (rule, severity, message) in enumerate([
                ("liver", "high", "Your check-in notes dark urine. Please seek medical care today."),
                ("daily_limit", "warning", "Your logged kratom adds up to 9 g, above your plan's 8 g."),
                ("daily_limit", "warning", "Your logged kratom adds up to 10 g, above your plan's 8 g."),
                ("escalation", "warning", "Outside the range")]):
            at = NOW - dt.timedelta(days=30 if rule == "escalation" else 2 + n)
            db.session.add(Prompt(user_id=user_id, rule=rule, subject="kratom", severity=severity,
                                  dedupe_key=f"{rule}:{n}", message=message, evidence={}, created_at=at,
                                  acknowledged_at=at if n == 1 else None))
        db.session.commit()
    page = view(client, make_link(client, alice, scopes=["checkins", "prompts"], **WEEK)).text
    section = page[page.index('id="prompts"'):]
    assert "fired 3 times in this range" in section
    assert re.findall(r'<tr class="severity-(\w+)"><th scope="row">([\w ]+)</th><td>\w+</td><td>(\d+)</td>',
                      section) == [("high", "liver", "1"), ("warning", "daily limit", "2")]
    assert "Please seek medical care today." in section and "acknowledged" in section
    assert "Outside the range" not in page

    without = view(client, make_link(client, alice, scopes=["checkins"], **WEEK)).text
    assert 'id="prompts"' not in without and "seek medical care" not in without


# Scopes

def test_notes_are_shown_only_with_the_notes_scope(client, week_of_data):
    with_notes = view(client, make_link(client, week_of_data, scopes=ALL_SCOPES, **WEEK)).text
    assert NOTE in with_notes and DOSE_NOTE in with_notes
    assert "2026-11-20 08:00 · Check-in" in with_notes
    without = view(client, make_link(client, week_of_data, scopes=["checkins", "doses", "prompts"], **WEEK)).text
    assert NOTE not in without and DOSE_NOTE not in without
    assert 'id="notes"' not in without


def test_without_the_doses_scope_there_is_no_dose_data_at_all(client, week_of_data):
    response = view(client, make_link(client, week_of_data, scopes=["checkins", "notes"], **WEEK))
    page = response.text
    assert 'id="doses"' not in page and 'id="with-without"' not in page
    assert "Red Bali" not in page and "methylphenidate" not in page and DOSE_NOTE not in page
    assert "doses logged" not in page
    assert [c["id"] for c in report_data(response)["charts"]] == ["pain", "adhd", "mood", "sleep"]
    assert NOTE in page


def test_without_the_checkins_scope_there_is_no_symptom_data_at_all(client, week_of_data):
    response = view(client, make_link(client, week_of_data, scopes=["doses"], **WEEK))
    page = response.text
    for absent in ('id="symptoms"', 'id="liver-warning-signs"', 'id="reported-symptoms"', 'id="adherence"',
                   'id="with-without"', "constipation", "dark urine", NOTE):
        assert absent not in page
    assert [c["id"] for c in report_data(response)["charts"]] == ["dose-kratom-leaf_powder-g",
                                                                   "dose-adhd_stimulant-tablet-mg"]


# Range and time zone

def test_days_are_the_patients_local_days(client, make_person, clock, create_checkin, create_dose):
    """In New York, 03:00 UTC is still the evening before: it belongs to that local day."""
    person = make_person("uid-nyc-5t6y", timezone="America/New_York", name="Nia")
    create_checkin(person, recorded_at="2026-11-20T03:00:00Z", pain=2, side_effects=["fever"])  # 19th, 22:00
    create_checkin(person, recorded_at="2026-11-20T15:00:00Z", pain=8)                           # 20th, 10:00
    create_dose(person, taken_at="2026-11-21T04:30:00Z", amount=3)                               # 20th, 23:30
    create_dose(person, taken_at="2026-11-20T14:00:00Z", amount=1)                               # 20th, 09:00
    link = make_link(client, person, since="2026-11-19T05:00:00Z", until="2026-11-22T05:00:00Z")
    response = view(client, link)
    data = report_data(response)
    assert data["days"] == ["2026-11-19", "2026-11-20", "2026-11-21"]
    assert values(data, "pain", "Pain") == {"2026-11-19": 2.0, "2026-11-20": 8.0, "2026-11-21": None}
    assert values(data, "dose-kratom-leaf_powder-g", "Kratom, leaf powder, g") == {
        "2026-11-19": None, "2026-11-20": 4.0, "2026-11-21": None}
    assert "America/New_York" in response.text
    assert "<strong>fever</strong>: <time datetime=\"2026-11-19\">" in response.text


def test_without_a_fixed_range_the_report_covers_at_most_the_90_days_before_viewing(client, alice, create_checkin):
    create_checkin(alice, recorded_at=(NOW - dt.timedelta(days=100)).isoformat(), pain=9)
    create_checkin(alice, recorded_at=(NOW - dt.timedelta(days=89)).isoformat(), pain=3)
    create_checkin(alice, recorded_at=(NOW - dt.timedelta(hours=1)).isoformat(), pain=4)
    data = report_data(view(client, make_link(client, alice)))
    assert len(data["days"]) == 90
    assert (data["days"][0], data["days"][-1]) == ("2026-08-28", "2026-11-25")
    pain = values(data, "pain", "Pain")
    assert [value for value in pain.values() if value is not None] == [3.0, 4.0]


def test_without_a_fixed_range_the_report_starts_on_the_first_record(client, alice, create_checkin, create_dose):
    """30 days of data are drawn over 30 days, not over 90 of which 60 are empty."""
    create_checkin(alice, recorded_at=(NOW - dt.timedelta(days=100)).isoformat(), pain=9)  # too old to count
    create_dose(alice, taken_at=(NOW - dt.timedelta(days=29, hours=3)).isoformat(), amount=2)
    create_checkin(alice, recorded_at=(NOW - dt.timedelta(days=20)).isoformat(), pain=3)
    response = view(client, make_link(client, alice, scopes=["checkins", "doses"]))
    data = report_data(response)
    assert (data["days"][0], data["days"][-1], len(data["days"])) == ("2026-10-27", "2026-11-25", 30)
    assert "(30 days, from the first record)" in response.text
    # Only what is shared counts: without doses, the range starts at the check-in.
    data = report_data(view(client, make_link(client, alice, scopes=["checkins"])))
    assert (data["days"][0], len(data["days"])) == ("2026-11-05", 21)


def test_a_report_of_nothing_logged_covers_today(client, alice):
    response = view(client, make_link(client, alice))
    assert report_data(response)["days"] == ["2026-11-25"]
    assert "No check-ins in this range." in response.text


def test_a_fixed_range_reaching_into_the_future_ends_today(client, alice, create_checkin):
    create_checkin(alice, recorded_at="2026-11-24T08:00:00Z", pain=4)
    data = report_data(view(client, make_link(client, alice, since="2026-11-20T00:00:00Z",
                                              until="2026-12-20T00:00:00Z")))
    assert data["days"] == [f"2026-11-{day}" for day in range(20, 26)]


# Headers, assets, and nothing inline

def assert_page_headers(response):
    headers = response.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'none'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Robots-Tag"] == "noindex, nofollow"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert '<meta name="robots" content="noindex">' in response.text


def test_the_report_and_the_unavailable_page_set_strict_headers(client, alice):
    report = view(client, make_link(client, alice))
    assert report.status_code == 200
    assert_page_headers(report)
    unavailable = view(client, "/r/" + "x" * 32)
    assert unavailable.status_code == 404
    assert_page_headers(unavailable)


def test_the_page_has_no_inline_script_or_style_and_its_assets_are_served_here(client, week_of_data):
    page = view(client, make_link(client, week_of_data, scopes=ALL_SCOPES, **WEEK)).text
    scripts = re.findall(r"<script([^>]*)>", page)
    assert len(scripts) == 3
    for attributes in scripts:
        assert 'type="application/json"' in attributes or re.search(r' src="/r/assets/[^"]+"', attributes)
    assert "<style" not in page and not re.search(r"<[^>]+\sstyle=", page)
    assert not re.search(r"<[^>]+\son[a-z]+=", page)  # no event-handler attributes
    assets = re.findall(r'(?:src|href)="(/r/assets/[^"]+)"', page)
    assert len(assets) == 4
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "max-age=86400" in response.headers["Cache-Control"]
        response.close()
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page)


# Links that do not work

def test_revoked_expired_and_unknown_links_get_the_same_plain_page(client, clock, week_of_data):
    alice = week_of_data
    revoked = make_link(client, alice)
    assert client.delete(f"/v1/report-links/{revoked['id']}", headers=alice.headers).status_code == 204
    expired = make_link(client, alice, expires_in_days=1)
    clock.move_to(NOW + dt.timedelta(days=2), tick=False)
    responses = [view(client, revoked), view(client, expired), view(client, "/r/" + "A" * 32),
                 view(client, "/r/" + "b" * 200)]
    assert {response.status_code for response in responses} == {404}
    assert len({response.data for response in responses}) == 1
    page = responses[0].text
    assert UNAVAILABLE in page
    assert "Alice" not in page and "report-data" not in page and "<script" not in page
    assert all(lasting_headers(r) == lasting_headers(responses[0]) for r in responses)


def lasting_headers(response):
    """The headers, less the rate limiter's counters and the request's own id."""
    return {k: v for k, v in response.headers.items()
            if not k.startswith(("X-RateLimit", "Retry-After", "X-Request-Id"))}


def test_viewing_appends_to_the_access_log_and_stamps_the_link(app, client, alice):
    link = make_link(client, alice, label="Dr. Rivera's clinic")
    response = client.get(path_of(link), environ_base={"REMOTE_ADDR": "198.51.100.4"},
                          headers={"User-Agent": "ClinicBrowser/1.0"})
    assert response.status_code == 200
    [entry] = access_log(client, alice)
    assert entry["data_kind"] == "report"
    assert entry["report_link_id"] == link["id"]
    assert entry["who"] == "Report link: Dr. Rivera's clinic"
    assert entry["viewer_id"] is None
    assert entry["at"] == "2026-11-25T08:00:00Z"
    assert (entry["ip_address"], entry["user_agent"]) == ("198.51.100.4", "ClinicBrowser/1.0")
    [listed] = client.get("/v1/report-links", headers=alice.headers).json["items"]
    assert listed["last_viewed_at"] == "2026-11-25T08:00:00Z"

    view(client, link)
    assert len(access_log(client, alice)) == 2


def test_an_unusable_link_writes_nothing(app, client, alice):
    link = make_link(client, alice)
    assert client.delete(f"/v1/report-links/{link['id']}", headers=alice.headers).status_code == 204
    assert view(client, link).status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AccessLogEntry)) == 0
        assert db.session.get(ReportLink, uuid.UUID(link["id"])).last_viewed_at is None


# Guessing

def test_guessing_tokens_is_throttled_per_address_but_reading_a_report_is_not(client, alice):
    link = make_link(client, alice)
    for _ in range(30):  # re-reading a report never counts
        assert view(client, link, address="198.51.100.20").status_code == 200
    for n in range(20):
        assert view(client, f"/r/guess-{n}", address="203.0.113.7").status_code == 404
    throttled = view(client, "/r/guess-21", address="203.0.113.7")
    assert throttled.status_code == 429
    assert throttled.content_type == "text/html; charset=utf-8"
    assert "Too many attempts" in throttled.text
    assert_page_headers(throttled)
    # Once over the limit, an address learns nothing more, not even from a good token…
    assert view(client, link, address="203.0.113.7").status_code == 429
    # …while everyone else reads on.
    assert view(client, link, address="198.51.100.20").status_code == 200
    assert view(client, "/r/guess-22", address="203.0.113.8").status_code == 404
