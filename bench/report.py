"""Report benchmark: the clinician report for a year of a heavy user, over HTTP, among other patients.

A patient with 3,000 check-ins, 2,500 doses, two check-in reminders a day and a hundred
monitoring prompts over a year, and a report link covering that year with every scope, among
OTHER_PATIENTS other patients with a year of their own (a fifth to the whole of the patient's
density; about a million rows in all), each with a report link that clinicians opened now and
then. Everyone's rows are inserted in the order they were recorded, so the patient's lie
scattered among the others' on disk as they do in production. Measured:

1. Render time. `GET /r/<token>` over HTTP from the app served as the Dockerfile serves it
   (gunicorn with backend/gunicorn_conf.py, production configuration: the guess budget's counters
   in Redis, the redacting access log), against bench/bare_app.py served the same way, whose
   `GET /report-replay` sends the very statements one render sent, on the same driver and engine
   settings: its reads, fetched whole (a hundred rows at a time); its writes (the access-log entry
   under a new id, the link's last view) and the commit; and answers with the same page. So both
   sides do the same database work and move the same bytes over the same HTTP stack; the
   difference is the app's own work (look-up, budget, grouping per local day, the template). One
   request at a time on a keep-alive connection, the two alternating; medians compared. Aim:
   render ≤ 2× its queries. Beside the times, the CPU per request of each server and its
   PostgreSQL backends. In-process, the render split into gathering the data and the template.
2. Weight. The page and every asset it loads (all served by the app itself). Aim: < 400 KB.

    python -m bench report
"""

import datetime as dt
import gzip
import heapq
import http.client
import itertools
import pickle
import random
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from bench.support import (app_config, cpu_seconds, fresh_database, gunicorn, machine_load, print_table,
                           production_env, results_of, scale_note, scaled, with_children, write_results)

CHECKINS = scaled(3000, 200)
DOSES = scaled(2500, 150)
PROMPTS = scaled(100, 10)
OTHER_PATIENTS = scaled(300, 3)
VIEWS_PER_LINK = 50     # earlier openings of each report link over the year, in the access log
DAYS = 365
RUNS = scaled(30, 4)    # timed renders and replays each, after WARMUP of each
WARMUP = 3
TIMEZONE = "America/New_York"
PAGE_BUDGET = 400 * 1024
INSERT_CHUNK = 5000

SIDE_EFFECTS = ["constipation", "dry_mouth", "drowsiness", "nausea", "dark_urine"]
WITHDRAWAL = ["yawning", "craving", "irritability", "sweating"]
SUBSTANCES = [("kratom", "leaf_powder", "g", (1.5, 4.0)), ("kratom", "capsule", "g", (1.0, 2.0)),
              ("adhd_stimulant", "tablet", "mg", (5, 20)), ("alcohol", "drink", "drink", (1, 3))]
SUBSTANCE_WEIGHTS = [60, 10, 20, 10]
RULES = [("daily_limit", "warning"), ("escalation", "warning"), ("combination", "high"),
         ("withdrawal", "warning"), ("liver", "high"), ("worsening", "info")]


def main():
    started, load_before = time.perf_counter(), machine_load()
    with fresh_database("report") as url, tempfile.TemporaryDirectory(prefix="careloop-bench-report-") as workdir:
        bench = ReportBench(url, Path(workdir))
        load_seconds = bench.seed()
        bench.record()
        render = bench.measure()
        weight = bench.weigh()
        render.update(bench.split_in_process())
        bench.close()
    results = results_of("report", started, load_before, {
        "data": {"checkins": CHECKINS, "doses": DOSES, "prompts": PROMPTS, "days": DAYS,
                 "reminder_occurrences": bench.occurrences, "other_patients": OTHER_PATIENTS,
                 "rows": bench.rows, "load_s": round(load_seconds, 1),
                 "load_order": "everyone's rows in the order they were recorded"},
        "render": render,
        "weight": weight,
    })
    path = write_results("report", results)

    print()
    print_table([[name, f"{render[f'{side}_median_ms']:.1f}", f"{render[f'{side}_min_ms']:.1f}",
                  f"{render[f'{side}_python_cpu_ms']:.2f}", f"{render[f'{side}_postgres_cpu_ms']:.2f}"]
                 for name, side in (("bare replay of its statements", "queries"), ("app: GET /r/<token>", "render"))],
                ["report over HTTP", "median ms", "min ms", "CPU ms/req: gunicorn", "postgres"])
    print("\nreport")
    print_table([
        ["render a year's report over HTTP, ms (render/its queries)", f"queries {render['queries_median_ms']:.1f}",
         f"render {render['render_median_ms']:.1f}", f"{render['ratio_render_over_queries']:.2f}", "≤ 2"],
        ["  server CPU ms/request (render/its queries)", f"queries {render['queries_cpu_ms']:.2f}",
         f"render {render['render_cpu_ms']:.2f}", f"{render['cpu_ratio_render_over_queries']:.2f}", ""],
        ["  of an in-process render: gather data / template, ms", f"{render['gather_median_ms']:.1f}",
         f"{render['template_median_ms']:.1f}", "", ""],
        ["page + assets, KB", f"page {weight['page_bytes'] / 1024:.0f}",
         f"total {weight['total_bytes'] / 1024:.0f}", f"{weight['total_bytes'] / PAGE_BUDGET:.2f}",
         "< 400 KB"],
        ["  gzip-compressed, KB", "", f"total {weight['total_gzip_bytes'] / 1024:.0f}", "", ""],
    ], ["benchmark", "baseline", "measured", "ratio", "aim"])
    print(f"  render/queries: median of paired runs {render['median_paired_ratio']:.2f}, fastest runs "
          f"{render['ratio_of_fastest']:.2f} ({render['render_min_ms']:.1f} / {render['queries_min_ms']:.1f} ms)")
    print(f"  {render['statements']} statements per render ({render['selects']} reads, the rest writes), "
          f"replayed alike; {render['points']} chart points; {bench.rows:,} rows of {OTHER_PATIENTS + 1} patients "
          f"loaded in {load_seconds:.0f} s")
    print(f"  machine load per core {load_before} → {results['machine_load_per_core']['end']}; results in {path}")
    if scale_note():
        print(scale_note())
    return results


class ReportBench:
    def __init__(self, url, workdir):
        from backend import create_app

        self.url, self.workdir = url, workdir
        self.app = create_app(app_config(url))
        self.client = self.app.test_client()
        self.occurrences = self.rows = 0

    # -- data -----------------------------------------------------------------------------------

    def seed(self):
        """The patient and the others: accounts, plans, schedules and report links through the
        services; then every table's rows of everyone merged in time order and inserted in chunks
        (SQLAlchemy Core), then vacuumed. Returns the seconds it took."""
        import sqlalchemy as sa

        from backend.accounts.services import update_profile, user_for_firebase_uid
        from backend.checkins.models import CheckIn
        from backend.doses.models import Dose
        from backend.extensions import db
        from backend.monitoring.models import Prompt
        from backend.monitoring.plan import replace_plan
        from backend.reminders.models import ReminderOccurrence, ReminderSchedule
        from backend.sharing.models import AccessLogEntry
        from backend.sharing.services import create_report_link

        began = time.perf_counter()
        now = dt.datetime.now(dt.timezone.utc)
        year_ago = now - dt.timedelta(days=DAYS)
        rng = random.Random(11)
        with self.app.app_context():
            people = []
            for n in range(1 + OTHER_PATIENTS):
                user, _ = user_for_firebase_uid(f"bench-report-patient-{n}", display_name=f"Bench Patient {n}")
                update_profile(user, {"timezone": TIMEZONE})
                replace_plan(user, {"substances": {"kratom": {"daily_limit": {"amount": 8, "unit": "g"}}}})
                schedule = ReminderSchedule(id=uuid.uuid4(), user_id=user.id, kind="checkin", times=["09:00", "21:00"],
                                            days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], active=True,
                                            created_at=year_ago, updated_at=year_ago)
                db.session.add(schedule)
                link, token = create_report_link(user, {
                    "scopes": ["checkins", "doses", "notes", "prompts"], "since": year_ago, "until": now,
                    "expires_in_days": 90, "label": "Benchmark clinic"}, now=now - dt.timedelta(days=1))
                # The measured patient has the whole year at full density; the others a fifth to all of it.
                people.append(Patient(user.id, schedule.id, link.id, 1.0 if n == 0 else rng.uniform(0.2, 1.0),
                                      random.Random(1000 + n)))
                if n == 0:
                    self.patient_id, self.token = user.id, token
            db.session.commit()

            tables = ((CheckIn, "recorded_at", Patient.checkins), (Dose, "taken_at", Patient.doses),
                      (ReminderOccurrence, "due_at", Patient.occurrences), (Prompt, "created_at", Patient.prompts),
                      (AccessLogEntry, "at", Patient.views))
            with db.engine.begin() as connection:
                for model, instant, rows_of in tables:
                    merged = heapq.merge(*(rows_of(person, year_ago) for person in people),
                                         key=lambda row, instant=instant: row[instant])
                    while chunk := list(itertools.islice(merged, INSERT_CHUNK)):
                        connection.execute(sa.insert(model.__table__), chunk)
                        self.rows += len(chunk)
                        if model is ReminderOccurrence:
                            self.occurrences += sum(row["user_id"] == self.patient_id for row in chunk)
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute("VACUUM (ANALYZE)")
        return time.perf_counter() - began

    # -- 1. render time -------------------------------------------------------------------------

    def record(self):
        """One render in-process, its statements recorded (with their parameters) for the bare
        side's replay, its page for the bare side's answer."""
        import sqlalchemy as sa

        from backend.extensions import db

        statements = []

        def note(conn, cursor, statement, parameters, context, executemany):
            statements.append((statement, parameters))

        with self.app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", note)
        try:
            html = self.render_in_process()
        finally:
            sa.event.remove(engine, "before_cursor_execute", note)
        self.statements = statements
        self.selects = sum(s.lstrip().upper().startswith("SELECT") for s, _ in statements)
        self.points = sum(len(re.findall(r"-?\d+(?:\.\d+)?", series))
                          for series in re.findall(r'"values":\s*\[([^\]]*)\]', html))
        (self.workdir / "statements.pickle").write_bytes(pickle.dumps(statements))
        (self.workdir / "page.html").write_text(html)

    def measure(self):
        renders, replays = Timings("render"), Timings("queries")
        app_env = production_env(f"{self.url}?application_name=bench-report-app")
        bare_env = production_env(f"{self.url}?application_name=bench-report-bare",
                                  BENCH_REPORT_STATEMENTS=str(self.workdir / "statements.pickle"),
                                  BENCH_REPORT_PAGE=str(self.workdir / "page.html"))
        with gunicorn("backend:create_app()", app_env, ready_path="/healthz") as app_server, \
                gunicorn("bench.bare_app:create_app()", bare_env) as bare_server, \
                psycopg.connect(self.url, autocommit=True) as monitor:
            sides = {"render": (Page(app_server.port, f"/r/{self.token}"), app_server, "bench-report-app", renders),
                     "queries": (Page(bare_server.port, "/report-replay"), bare_server, "bench-report-bare", replays)}
            for n in range(WARMUP + RUNS):
                # Alternate which goes first, so that load from elsewhere hits both alike.
                for name in (("render", "queries") if n % 2 == 0 else ("queries", "render")):
                    page, server, application, timings = sides[name]
                    before = server_cpu(server, monitor, application)
                    seconds, size = page.get()
                    if n >= WARMUP:
                        timings.add(seconds, server_cpu(server, monitor, application), before)
                    timings.size = size
            for page, *_ in sides.values():
                page.close()

        def ms(values):
            return round(statistics.median(values) * 1000, 2)

        result = {"runs": RUNS, "statements": len(self.statements), "selects": self.selects, "points": self.points,
                  "server": "gunicorn -c python:backend.gunicorn_conf (the Dockerfile's), CARELOOP_ENV=production",
                  "baseline": "bench/bare_app.py GET /report-replay: the render's statements (reads, writes, commit) "
                              "on SQLAlchemy Core, answering with the same page",
                  "render_bytes": renders.size, "queries_bytes": replays.size}
        for timings in (renders, replays):
            result.update(timings.summary())
        result.update({
            "ratio_render_over_queries": round(statistics.median(renders.times) / statistics.median(replays.times), 2),
            # Less sensitive to a busy machine: each render against the replay next to it, and
            # the fastest of each (the least disturbed).
            "median_paired_ratio": round(statistics.median(r / q for r, q in zip(renders.times, replays.times)), 2),
            "ratio_of_fastest": round(min(renders.times) / min(replays.times), 2),
            "cpu_ratio_render_over_queries": round(renders.cpu_ms() / replays.cpu_ms(), 2),
            "read_statements": [s for s, _ in self.statements if s.lstrip().upper().startswith("SELECT")],
            "write_statements": [s for s, _ in self.statements if not s.lstrip().upper().startswith("SELECT")],
        })
        if abs(renders.size - replays.size) > 1024:
            raise RuntimeError(f"the two sides answer {renders.size} and {replays.size} bytes: not the same page")
        return result

    def render_in_process(self):
        response = self.client.get(f"/r/{self.token}")
        if response.status_code != 200:
            raise RuntimeError(f"report failed: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return response.get_data(as_text=True)

    def split_in_process(self):
        """Renders in two timed parts, in-process: gathering the data (look-up, queries, grouping,
        access log) and the template; rolled back, so they leave nothing behind."""
        from flask import render_template

        from backend.api import request_client
        from backend.extensions import db
        from backend.reports import view_report

        gathers, templates = [], []
        for n in range(WARMUP + RUNS):
            with self.app.test_request_context(f"/r/{self.token}"):
                began = time.perf_counter()
                report = view_report(self.token, request_client())
                gathered = time.perf_counter()
                render_template("web/report.html", report=report)
                done = time.perf_counter()
                db.session.rollback()
            if n >= WARMUP:
                gathers.append(gathered - began)
                templates.append(done - gathered)
        return {"gather_median_ms": round(statistics.median(gathers) * 1000, 2),
                "template_median_ms": round(statistics.median(templates) * 1000, 2)}

    # -- 2. weight ------------------------------------------------------------------------------

    def weigh(self):
        html = (self.workdir / "page.html").read_text()
        assets = re.findall(r'(?:src|href)="(/r/assets/[^"]+)"', html)
        sizes = {}
        for asset in assets:
            response = self.client.get(asset)
            if response.status_code != 200:
                raise RuntimeError(f"asset {asset}: {response.status_code}")
            sizes[asset.split("?")[0]] = (len(response.data), len(gzip.compress(response.data)))
            response.close()
        body = html.encode()
        total = len(body) + sum(size for size, _ in sizes.values())
        return {
            "page_bytes": len(body), "page_gzip_bytes": len(gzip.compress(body)),
            "assets": {path: {"bytes": size, "gzip_bytes": packed} for path, (size, packed) in sizes.items()},
            "total_bytes": total,
            "total_gzip_bytes": len(gzip.compress(body)) + sum(packed for _, packed in sizes.values()),
            "under_budget": total < PAGE_BUDGET,
        }

    def close(self):
        from backend import close_app

        close_app(self.app)


class Patient:
    """One patient's rows of each table, generated lazily in time order (so that everyone's can
    be merged by time without holding them all)."""

    def __init__(self, user_id, schedule_id, link_id, density, rng):
        self.user_id, self.schedule_id, self.link_id, self.density, self.rng = (
            user_id, schedule_id, link_id, density, rng)

    def instants(self, count, year_ago):
        count = max(1, round(count * self.density))
        for n in range(count):
            yield n, year_ago + dt.timedelta(days=DAYS) * (n + self.rng.random()) / count

    def checkins(self, year_ago):
        rng = self.rng
        for n, at in self.instants(CHECKINS, year_ago):
            yield {
                "id": uuid.uuid4(), "user_id": self.user_id, "recorded_at": at, "created_at": at, "updated_at": at,
                "pain": rng.randint(2, 9), "enjoyment_interference": rng.randint(1, 9),
                "activity_interference": rng.randint(1, 9), "focus": rng.randint(0, 4),
                "hyperactivity": rng.randint(0, 4), "impulsivity": rng.randint(0, 4),
                "restlessness": rng.randint(0, 4), "mood": rng.randint(1, 9),
                "sleep_hours": round(rng.uniform(4, 9), 1) if n % 8 == 0 else None,
                "side_effects": rng.sample(SIDE_EFFECTS, rng.choice([0, 0, 1, 2])) if n % 50 else ["dark_urine"],
                "withdrawal_symptoms": rng.sample(WITHDRAWAL, rng.choice([0, 0, 0, 1, 2])),
                "note": "Slept badly, better after lunch." if n % 3 == 0 else None,
            }

    def doses(self, year_ago):
        rng = self.rng
        for n, at in self.instants(DOSES, year_ago):
            kind, form, unit, (low, high) = rng.choices(SUBSTANCES, SUBSTANCE_WEIGHTS)[0]
            yield {"id": uuid.uuid4(), "user_id": self.user_id, "taken_at": at, "created_at": at, "updated_at": at,
                   "substance_kind": kind, "form": form, "product": "Green Malay" if kind == "kratom" else None,
                   "amount": round(rng.uniform(low, high), 1), "unit": unit,
                   "note": "With food" if n % 10 == 0 else None}

    def occurrences(self, year_ago):
        rng = self.rng
        for day in range(DAYS):
            for hour in (9, 21):
                due = (year_ago + dt.timedelta(days=day)).replace(hour=hour, minute=0, second=0, microsecond=0)
                status = rng.choices(["answered", "missed", "sent", "expired"], [75, 15, 8, 2])[0]
                yield {"id": uuid.uuid4(), "schedule_id": self.schedule_id, "user_id": self.user_id,
                       "kind": "checkin", "local_date": due.date(), "local_time": f"{hour:02}:00", "due_at": due,
                       "send_after": due, "status": status, "sent_at": due if status != "expired" else None,
                       "snooze_count": 0, "created_at": due}

    def prompts(self, year_ago):
        for n, at in self.instants(PROMPTS, year_ago):
            rule, severity = self.rng.choice(RULES)
            yield {"id": uuid.uuid4(), "user_id": self.user_id, "rule": rule, "subject": "kratom",
                   "severity": severity, "dedupe_key": f"{rule}:{n}",
                   "message": f"Observed: {rule.replace('_', ' ')} on day {n}. "
                   "Consider talking this over with your clinician or pharmacist.", "evidence": {},
                   "created_at": at, "push_status": "sent", "push_after": at, "alert_caregivers": False}

    def views(self, year_ago):
        """Earlier openings of the patient's report link, in the access log."""
        for _, at in self.instants(VIEWS_PER_LINK, year_ago):
            yield {"id": uuid.uuid4(), "patient_id": self.user_id, "viewer_id": None, "report_link_id": self.link_id,
                   "viewer_label": "Report link: Benchmark clinic", "data_kind": "report", "at": at,
                   "ip_address": "192.0.2.10", "user_agent": "Mozilla/5.0 (bench)"}


class Page:
    """GET one path again and again on one keep-alive connection."""

    def __init__(self, port, path):
        self.path = path
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self):
        """Returns (seconds, body bytes) of one 200 answer, read to the end."""
        for attempt in (1, 2):
            began = time.perf_counter()
            try:
                self.connection.request("GET", self.path)
                response = self.connection.getresponse()
                body = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()  # the server closed an idle keep-alive connection
                if attempt == 2:
                    raise
        seconds = time.perf_counter() - began
        if response.status != 200:
            raise RuntimeError(f"GET {self.path[:12]}…: {response.status} {body[:300]!r}")
        return seconds, len(body)

    def close(self):
        self.connection.close()


class Timings:
    """One side's request times and the CPU its server and database backends spent on them."""

    def __init__(self, name):
        self.name, self.times, self.size = name, [], 0
        self.cpu = {"python": 0.0, "postgres": 0.0}

    def add(self, seconds, after, before):
        self.times.append(seconds)
        for kind in self.cpu:
            self.cpu[kind] += sum(used - before[kind].get(pid, 0.0) for pid, used in after[kind].items())

    def cpu_ms(self):
        return sum(self.cpu.values()) * 1000 / len(self.times)

    def summary(self):
        return {f"{self.name}_median_ms": round(statistics.median(self.times) * 1000, 2),
                f"{self.name}_min_ms": round(min(self.times) * 1000, 2),
                f"{self.name}_python_cpu_ms": round(self.cpu["python"] * 1000 / len(self.times), 3),
                f"{self.name}_postgres_cpu_ms": round(self.cpu["postgres"] * 1000 / len(self.times), 3),
                f"{self.name}_cpu_ms": round(self.cpu_ms(), 3),
                f"{self.name}_ms": [round(t * 1000, 2) for t in self.times]}


def server_cpu(server, monitor, application_name):
    """CPU seconds so far of a gunicorn server's processes and of its PostgreSQL backends."""
    backends = [pid for pid, in monitor.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name])]
    return {"python": cpu_seconds(with_children(server.pid)), "postgres": cpu_seconds(backends)}
