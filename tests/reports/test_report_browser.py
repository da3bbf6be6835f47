"""The clinician report in a real browser: Debian's headless Chromium, driven by Playwright.

The app is served for real (werkzeug, on a free port, against the test database); the data and
the links are made through its API. The browser must draw every chart with one point per local
day that has data, make no request anywhere but this server, break no rule of the page's CSP,
and show the plain "no longer available" page for revoked, expired and unknown links. A heavy
user's 90 days print on at most three A4 pages, and the page reads on a 390 px phone with nothing
wider than the screen. Screenshots (and PDFs of the printed page) go to test-artifacts/.
"""

import datetime as dt
import re
import secrets
import uuid
import zoneinfo
from pathlib import Path

import requests

from backend.extensions import db
from backend.monitoring.models import Prompt
from backend.reminders.models import ReminderOccurrence, ReminderSchedule
from backend.sharing.services import create_report_link
from backend.sqltypes import utcnow
from tests.browser import browser  # noqa: F401  (fixture)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEZONE = "America/New_York"  # behind UTC: its evenings are already the next day in UTC
UNAVAILABLE = "This report is no longer available"
# A4 inside 12 mm margins is 703 CSS px: symptom charts print two to a line, dose charts three.
PRINT_WIDTHS = {"line": 343, "bars": 223}
MAX_PAGES = 3
PHONE = {"width": 390, "height": 844}


class Patient:
    """A person logging 40 days of data through the live server, and what the report should draw."""

    def __init__(self, person, base_url):
        self.person, self.base_url = person, base_url
        self.http = requests.Session()
        self.http.headers.update(person.headers)
        self.days = {name: set() for name in (
            "pain", "peg_score", "adhd", "mood", "sleep_hours", "kratom", "adhd_stimulant")}

    def post(self, path, body):
        response = self.http.post(self.base_url + path, json=body, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def log_forty_days(self):
        tz = zoneinfo.ZoneInfo(TIMEZONE)
        today = dt.datetime.now(tz).date()

        def at(day, hour):
            return dt.datetime.combine(day, dt.time(hour), tz).isoformat()

        for back in range(1, 41):
            day = today - dt.timedelta(days=back)
            if back % 3:  # a check-in on two days out of three
                full = back % 5 != 0  # every fifth one answers only the pain item
                body = {"id": str(uuid.uuid4()), "recorded_at": at(day, 9), "pain": back % 11}
                if full:
                    body.update(enjoyment_interference=4, activity_interference=6, focus=back % 5,
                                hyperactivity=1, impulsivity=2, restlessness=back % 4, mood=back % 10)
                    self.days["peg_score"].add(day)
                    self.days["adhd"].add(day)
                    self.days["mood"].add(day)
                if back % 2 == 0:
                    body["sleep_hours"] = 5 + back % 4
                    self.days["sleep_hours"].add(day)
                if back == 10:
                    body["side_effects"] = ["dark_urine"]
                self.post("/v1/checkins", body)
                self.days["pain"].add(day)
                if back % 7 == 0:  # a second check-in that evening: still one point that day
                    self.post("/v1/checkins", {"id": str(uuid.uuid4()), "recorded_at": at(day, 21), "pain": 3})
            if back <= 30 and back % 4:
                for hour in (10, 16):
                    self.post("/v1/doses", {"id": str(uuid.uuid4()), "taken_at": at(day, hour),
                                            "substance_kind": "kratom", "form": "leaf_powder", "amount": 2.5,
                                            "unit": "g"})
                self.days["kratom"].add(day)
            if 5 <= back <= 20:
                self.post("/v1/doses", {"id": str(uuid.uuid4()), "taken_at": at(day, 8),
                                        "substance_kind": "adhd_stimulant", "form": "tablet", "amount": 10,
                                        "unit": "mg"})
                self.days["adhd_stimulant"].add(day)

    def set_kratom_limit(self, grams):
        plan = {"substances": {"kratom": {"daily_limit": {"amount": grams, "unit": "g"}}}}
        response = self.http.put(self.base_url + "/v1/plan", json=plan, timeout=10)
        assert response.status_code == 200, response.text

    def expected_points(self, range_days):
        """Non-empty points per chart and series, as the page should draw them; the limit line
        has one on every day of the range."""
        count = {name: len(days) for name, days in self.days.items()}
        return {
            "pain": [count["pain"], count["peg_score"]],
            "adhd": [count["adhd"]] * 4,
            "mood": [count["mood"]],
            "sleep": [count["sleep_hours"]],
            "dose-adhd_stimulant-tablet-mg": [count["adhd_stimulant"]],
            "dose-kratom-leaf_powder-g": [count["kratom"], range_days],
        }


def report_path(link):
    return "/r/" + link["url"].rsplit("/r/", 1)[1]


CHART_STATE = """() => Object.fromEntries(Object.entries(window.careloopCharts).map(([id, plot]) => {
    const canvas = plot.ctx.canvas;
    const pixels = plot.ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let inked = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
    return [id, {
        points: plot.data.slice(1).map(values => values.filter(v => v !== null && v !== undefined).length),
        labels: plot.series.slice(1).map(series => series.label),
        days: plot.data[0].length,
        width: plot.width,
        inked: inked,
        dataPoints: document.querySelector(`[data-chart="${id}"]`).dataset.points,
    }];
}))"""


def watch(page):
    """Record the page's requests, console errors and CSP violations."""
    seen = {"requested": [], "console_errors": []}
    page.set_default_timeout(15_000)
    page.on("request", lambda request: seen["requested"].append(request.url))
    page.on("console", lambda message: message.type == "error" and seen["console_errors"].append(message.text))
    page.add_init_script("""
        window.cspViolations = [];
        document.addEventListener("securitypolicyviolation",
            event => window.cspViolations.push(event.violatedDirective + " " + event.blockedURI));
    """)
    return seen


def open_report(page, url, charts):
    response = page.goto(url)
    assert response.status == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    page.wait_for_function(f"window.careloopCharts && Object.keys(window.careloopCharts).length === {charts}")
    page.wait_for_load_state("networkidle")
    return response


def assert_clean(page, seen, live_server):
    assert page.evaluate("window.cspViolations") == []
    assert seen["console_errors"] == []
    origin = live_server + "/"
    requested = seen["requested"]
    assert requested and all(url.startswith(origin) or url.startswith("data:") for url in requested), requested
    assert any("/r/assets/vendor/uplot/uPlot.iife.min.js" in url for url in requested)


def print_pdf(page, name):
    """Print the page as Chromium prints it to A4 (charts redrawn for paper); the number of pages."""
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = page.pdf(path=str(ARTIFACTS / name), format="A4", print_background=True)
    page.emulate_media(media="screen")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


# Every element that reaches past the right edge of the window (or makes the page scroll sideways).
OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const wide = [];
    for (const element of document.body.querySelectorAll("*")) {
        const box = element.getBoundingClientRect();
        if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5)) {
            wide.push(`${element.tagName.toLowerCase()}.${element.className} ${Math.round(box.left)}–${Math.round(box.right)}`);
        }
    }
    return {width, scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 20)};
}"""


def test_the_report_draws_every_chart_from_this_server_alone(app, live_server, browser, make_person):
    person = make_person(f"uid-browser-{uuid.uuid4().hex[:8]}", timezone=TIMEZONE, name="Robin Browser")
    patient = Patient(person, live_server)
    patient.log_forty_days()
    patient.set_kratom_limit(4)
    link = patient.post("/v1/report-links", {"label": "Clinic", "scopes": ["checkins", "doses", "notes",
                                                                           "prompts"]})

    # The viewer's zone differs from the patient's: the dates drawn must not move.
    context = browser.new_context(viewport={"width": 1100, "height": 900}, timezone_id="Asia/Tokyo",
                                  locale="en-GB")
    page = context.new_page()
    seen = watch(page)
    open_report(page, live_server + report_path(link), charts=6)
    charts = page.evaluate(CHART_STATE)

    # The range starts on the day of the first record, 40 days ago, and ends today.
    range_days = 41
    expected = patient.expected_points(range_days=range_days)
    assert {chart_id: state["points"] for chart_id, state in charts.items()} == expected
    for chart_id, state in charts.items():
        assert state["days"] == range_days, chart_id  # every local day of the range is on the axis
        assert state["dataPoints"] == ",".join(map(str, expected[chart_id]))
        assert state["inked"] > 2000, f"{chart_id} looks blank"
        assert state["width"] > 400
    assert charts["pain"]["labels"] == ["Pain", "PEG score"]
    assert charts["adhd"]["labels"] == ["Trouble focusing", "Hyperactivity", "Impulsivity", "Restlessness"]
    assert charts["dose-kratom-leaf_powder-g"]["labels"] == ["Kratom, leaf powder, g", "own daily limit"]
    assert page.locator("#liver-warning-signs").is_visible()
    assert "dark urine" in page.locator("#liver-warning-signs").inner_text()
    assert page.get_by_role("heading", name="Robin Browser").is_visible()
    assert page.get_by_role("heading", name="Safety summary", exact=True).is_visible()
    overflow = page.evaluate(OVERFLOW)
    assert overflow["wide"] == [], overflow

    # Printing: every chart is redrawn to its column of an A4 page.
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    widths = page.evaluate("Object.fromEntries(Object.entries(window.careloopCharts).map(([id, plot]) => [id, plot.width]))")
    assert widths == {chart_id: PRINT_WIDTHS["bars" if chart_id.startswith("dose-") else "line"] for chart_id in charts}
    page.emulate_media(media="screen")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert print_pdf(page, "report.pdf") <= 2
    # Back on screen, the charts fit their columns again.
    overflow = page.evaluate(OVERFLOW)
    assert overflow["scrollWidth"] <= overflow["width"] and overflow["wide"] == [], overflow

    screenshot = ARTIFACTS / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"\nreport screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000
    assert_clean(page, seen, live_server)
    context.close()


def log_heavy_ninety_days(app, client, person):
    """90 days of a heavy user, through the API: three check-ins a day with every instrument, leaf,
    capsules, extract and a 7-OH concentrate, an opioid, a benzodiazepine, a gabapentinoid, alcohol
    and a stimulant, many symptoms, notes; and the prompts and reminders such a person collects."""
    tz = zoneinfo.ZoneInfo(TIMEZONE)
    today = dt.datetime.now(tz).date()
    side_effects = ["constipation", "nausea", "dizziness", "drowsiness", "dry_mouth", "headache", "sweating",
                    "loss_of_appetite", "insomnia", "itching"]
    withdrawal = ["yawning", "runny_eyes_or_nose", "gooseflesh", "aching", "anxiety", "restlessness",
                  "irritability", "craving", "insomnia", "sweating", "diarrhoea", "hot_and_cold_flushes"]

    def post(path, body):
        response = client.post(path, json={"id": str(uuid.uuid4()), **body}, headers=person.headers)
        assert response.status_code == 201, response.json

    def at(day, hour, minute=0):
        return dt.datetime.combine(day, dt.time(hour, minute), tz).isoformat()

    for back in range(1, 91):
        day = today - dt.timedelta(days=back)
        post("/v1/checkins", {
            "recorded_at": at(day, 8), "pain_today": 3 + back % 6, "pain": 4 + back % 5,
            "enjoyment_interference": 3 + back % 6, "activity_interference": 2 + back % 7, "focus": back % 5,
            "hyperactivity": back % 3, "impulsivity": (back + 1) % 5, "restlessness": back % 4, "mood": 2 + back % 7,
            "sleep_hours": 4 + back % 5, "sleep_quality": back % 5,
            "side_effects": [side_effects[back % 10], side_effects[(back * 3) % 10]] if back % 2 else [],
            "withdrawal_symptoms": withdrawal[back % 12:back % 12 + 3],
            "withdrawal_severity": {symptom: 1 + back % 4 for symptom in withdrawal[back % 12:back % 12 + 3]},
            **({"phq2_interest": back % 4, "phq2_mood": (back + 1) % 4, "gad2_nervous": back % 3,
                "gad2_worry": (back + 2) % 4} if back % 7 == 0 else {}),
            **({"note": f"Morning {back}: stiff back, took the bus to work and rested after lunch."}
               if back % 3 == 0 else {})})
        post("/v1/checkins", {"recorded_at": at(day, 14), "pain_today": 5 + back % 4, "focus": (back + 2) % 5,
                              "restlessness": (back + 1) % 4, "mood": 3 + back % 6})
        post("/v1/checkins", {"recorded_at": at(day, 21), "pain_today": 4 + back % 5, "mood": 4 + back % 5,
                              **({"side_effects": ["dark_urine"]} if back in (12, 13) else {}),
                              **({"side_effects": ["slowed_breathing"]} if back == 30 else {}),
                              **({"side_effects": ["chest_pain"]} if back == 45 else {})})
        for hour in (9, 14, 19):
            post("/v1/doses", {"taken_at": at(day, hour), "substance_kind": "kratom", "form": "leaf_powder",
                               "product": ["Red Bali", "Green Malay", "White Borneo"][back % 3],
                               "amount": 3 + (back % 4) * 0.5 + (2 if back < 28 else 0), "unit": "g",
                               **({"note": "Stronger batch than usual"} if back % 11 == 0 and hour == 9 else {})})
        if back % 2:
            post("/v1/doses", {"taken_at": at(day, 11), "substance_kind": "kratom", "form": "capsule",
                               "amount": 4 + back % 3, "unit": "capsule"})
        if back % 5 == 0:
            post("/v1/doses", {"taken_at": at(day, 16), "substance_kind": "kratom", "form": "extract",
                               "amount": 250, "unit": "mg"})
        if back % 9 == 0:
            post("/v1/doses", {"taken_at": at(day, 22), "substance_kind": "other", "form": "concentrate_7oh",
                               "product": "7-OH tabs", "amount": 15, "unit": "mg"})
        for hour in (8, 20):
            post("/v1/doses", {"taken_at": at(day, hour, 30), "substance_kind": "opioid", "form": "tablet",
                               "product": "tramadol", "amount": 50, "unit": "mg"})
        post("/v1/doses", {"taken_at": at(day, 23), "substance_kind": "benzodiazepine", "form": "tablet",
                           "amount": 0.5, "unit": "mg"})
        for hour in (7, 15, 22):
            post("/v1/doses", {"taken_at": at(day, hour), "substance_kind": "gabapentinoid", "form": "capsule",
                               "amount": 300, "unit": "mg"})
        if day.weekday() >= 4:
            post("/v1/doses", {"taken_at": at(day, 20), "substance_kind": "alcohol", "form": "drink",
                               "amount": 3, "unit": "drink"})
        if day.weekday() < 5:
            post("/v1/doses", {"taken_at": at(day, 7, 30), "substance_kind": "adhd_stimulant", "form": "tablet",
                               "product": "methylphenidate", "amount": 20, "unit": "mg"})
    plan = {"substances": {"kratom": {"daily_limit": {"amount": 12, "unit": "g"}}}}
    assert client.put("/v1/plan", json=plan, headers=person.headers).status_code == 200

    with app.app_context():
        user_id = uuid.UUID(person.id)
        schedule = ReminderSchedule(id=uuid.uuid4(), user_id=user_id, kind="checkin", times=["09:00"],
                                    days=["mon"], active=True)
        db.session.add(schedule)
        now = dt.datetime.now(dt.timezone.utc)
        for back in range(1, 91):
            due = now - dt.timedelta(days=back)
            db.session.add(ReminderOccurrence(
                schedule_id=schedule.id, user_id=user_id, kind="checkin", local_date=due.date(),
                local_time="09:00", due_at=due, send_after=due, status="answered" if back % 4 else "missed"))
        rules = [("combination", "high", "You logged kratom and an opioid 0.5 hours apart. Together they can slow "
                  "breathing dangerously. Ask a pharmacist about naloxone."),
                 ("daily_limit", "warning", "Your logged kratom (leaf powder) adds up to 14 g, above the daily "
                  "limit of 12 g in your plan. Consider talking this over with your clinician or pharmacist."),
                 ("withdrawal", "warning", "Your check-in lists 3 withdrawal symptoms. Consider talking this over "
                  "with your clinician or pharmacist."),
                 ("concentrated_7oh", "high", "You logged a concentrated 7-OH product. The FDA recommended "
                  "scheduling 7-OH in July 2025.")]
        for n in range(60):
            rule, severity, message = rules[n % 4]
            created = now - dt.timedelta(days=1 + n * 1.4)
            db.session.add(Prompt(user_id=user_id, rule=rule, subject="kratom", severity=severity,
                                  dedupe_key=f"{rule}:{n}", message=message, evidence={}, created_at=created))
        db.session.commit()


def test_a_heavy_users_ninety_days_print_on_three_pages_and_read_on_a_phone(
        app, client, live_server, browser, make_person):
    """Reproduced on the report before this pass: this person's report printed on 15 A4 pages
    (every section forced onto a new one) and its doses table was 747 px wide on a 390 px screen."""
    person = make_person(f"uid-heavy-{uuid.uuid4().hex[:8]}", timezone=TIMEZONE, name="Jordan Heavy")
    log_heavy_ninety_days(app, client, person)
    link = client.post("/v1/report-links", json={"label": "Pain clinic", "scopes": [
        "checkins", "doses", "notes", "prompts"]}, headers=person.headers).json
    url = live_server + report_path(link)
    # pain, ADHD, mood, screens, sleep; kratom leaf, capsule, extract and 7-OH (logged as "other"),
    # alcohol, stimulant, benzodiazepine, gabapentinoid, opioid
    charts = 5 + 9

    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    page = context.new_page()
    seen = watch(page)
    open_report(page, url, charts)
    assert page.evaluate("window.careloopCharts.pain.data[0].length") == 90  # the default range at most
    pages = print_pdf(page, "report-heavy.pdf")
    print(f"\nheavy 90-day report: {pages} A4 pages")
    assert pages <= MAX_PAGES
    assert_clean(page, seen, live_server)
    context.close()

    phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                locale="en-US")
    page = phone.new_page()
    seen = watch(page)
    open_report(page, url, charts)
    overflow = page.evaluate(OVERFLOW)
    assert overflow["scrollWidth"] <= overflow["width"] == PHONE["width"], overflow
    assert overflow["wide"] == [], overflow
    widths = page.evaluate("Object.values(window.careloopCharts).map(plot => plot.width)")
    assert all(200 <= width <= PHONE["width"] for width in widths), widths
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / "report-phone-first-screen.png"))
    assert_clean(page, seen, live_server)
    phone.close()


def test_revoked_expired_and_unknown_links_show_the_plain_page(app, live_server, browser, make_person):
    person = make_person(f"uid-browser-{uuid.uuid4().hex[:8]}", name="Sam Gone")
    http = requests.Session()
    http.headers.update(person.headers)
    revoked = http.post(live_server + "/v1/report-links", json={}, timeout=10).json()
    assert http.delete(f"{live_server}/v1/report-links/{revoked['id']}", timeout=10).status_code == 204
    with app.app_context():
        _, expired_token = create_report_link(person.user, {"scopes": ["checkins"], "expires_in_days": 1},
                                              now=utcnow() - dt.timedelta(days=2))
        db.session.commit()

    page = browser.new_page()
    page.set_default_timeout(15_000)
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    contents = []
    for path in (report_path(revoked), f"/r/{expired_token}", f"/r/{secrets.token_urlsafe(24)}"):
        response = page.goto(live_server + path)
        assert response.status == 404
        assert page.get_by_role("heading").inner_text() == UNAVAILABLE
        assert page.evaluate("typeof window.careloopCharts") == "undefined"
        assert "Sam Gone" not in page.content()
        contents.append(page.content())
    assert len(set(contents)) == 1
    assert all(url.startswith(live_server + "/") or url.startswith("data:") for url in requested), requested
    page.close()
