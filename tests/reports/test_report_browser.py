"""The clinician report in a real browser: Debian's headless Chromium, driven by Playwright.

The app is served for real (werkzeug, on a free port, against the test database); the data and
the links are made through its API. The browser must draw every chart with one point per local
day that has data, make no request anywhere but this server, break no rule of the page's CSP,
and show the plain "no longer available" page for revoked, expired and unknown links.
A screenshot (and a PDF of the printed page) goes to test-artifacts/.
"""

import datetime as dt
import secrets
import threading
import uuid
import zoneinfo
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from backend.extensions import db
from backend.sharing.services import create_report_link
from backend.sqltypes import utcnow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEZONE = "America/New_York"  # behind UTC: its evenings are already the next day in UTC
UNAVAILABLE = "This report is no longer available"
A4_CHART_WIDTH = 680


def require_browser():
    """`make test` installs Debian's chromium; without it this test fails (a skip would prove nothing)."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not _playwright_installed():
        missing.append("playwright (pip install -e '.[test]')")
    if missing:
        pytest.fail("the browser test needs " + " and ".join(missing))


def _playwright_installed():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def live_server(app):
    """The app served over HTTP on a free local port, for the length of one test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


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
            "pain": [count["peg_score"], count["pain"]],
            "adhd": [count["adhd"]] * 4,
            "mood": [count["mood"]],
            "sleep": [count["sleep_hours"]],
            "dose-adhd_stimulant-mg": [count["adhd_stimulant"]],
            "dose-kratom-g": [count["kratom"], range_days],
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
    page.set_default_timeout(15_000)
    requested, console_errors = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.add_init_script("""
        window.cspViolations = [];
        document.addEventListener("securitypolicyviolation",
            event => window.cspViolations.push(event.violatedDirective + " " + event.blockedURI));
    """)

    response = page.goto(live_server + report_path(link))
    assert response.status == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    page.wait_for_function("window.careloopCharts && Object.keys(window.careloopCharts).length === 6")
    page.wait_for_load_state("networkidle")
    charts = page.evaluate(CHART_STATE)

    expected = patient.expected_points(range_days=90)
    assert {chart_id: state["points"] for chart_id, state in charts.items()} == expected
    for chart_id, state in charts.items():
        assert state["days"] == 90, chart_id  # every local day of the default range is on the axis
        assert state["dataPoints"] == ",".join(map(str, expected[chart_id]))
        assert state["inked"] > 2000, f"{chart_id} looks blank"
        assert state["width"] > 600
    assert charts["pain"]["labels"] == ["PEG score", "Pain"]
    assert charts["adhd"]["labels"] == ["Trouble focusing", "Hyperactivity", "Impulsivity", "Restlessness"]
    assert charts["dose-kratom-g"]["labels"] == ["Kratom, g", "daily limit"]
    assert page.locator("#liver-warning-signs").is_visible()
    assert "dark urine" in page.locator("#liver-warning-signs").inner_text()
    assert page.get_by_role("heading", name="Robin Browser").is_visible()

    # Printing: every chart is redrawn to fit A4, each major section starts a page.
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    widths = page.evaluate("Object.values(window.careloopCharts).map(plot => plot.width)")
    assert widths == [A4_CHART_WIDTH] * 6
    assert page.evaluate("getComputedStyle(document.getElementById('doses')).breakBefore") == "page"
    ARTIFACTS.mkdir(exist_ok=True)
    page.pdf(path=str(ARTIFACTS / "report.pdf"), format="A4")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    page.emulate_media(media="screen")

    screenshot = ARTIFACTS / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"\nreport screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000

    assert page.evaluate("window.cspViolations") == []
    assert console_errors == []
    origin = live_server + "/"
    assert requested and all(url.startswith(origin) or url.startswith("data:") for url in requested), requested
    assert any("/r/assets/vendor/uplot/uPlot.iife.min.js" in url for url in requested)
    context.close()


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
