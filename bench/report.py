"""Report benchmark: the clinician report for a year of a heavy user.

A patient with 3,000 check-ins, 2,500 doses, two check-in reminders a day and a hundred
monitoring prompts over a year, and a report link covering that year with every scope. Measured:

1. Render time. `GET /r/<token>` through the app in-process (look-up, one query per table,
   grouping per local day in Python, the access-log row and its commit, the template), against
   the report's queries alone: the very statements one render sent, replayed on a bare psycopg
   cursor with their parameters and fetched. Renders and replays alternate, medians compared.
   Aim: render ≤ 3× its queries.
2. Weight. The page and every asset it loads (all served by the app itself). Aim: < 400 KB.

    python -m bench report
"""

import datetime as dt
import gzip
import random
import re
import statistics
import time
import uuid

import psycopg

from bench.support import DEV_ENV, fresh_database, machine_load, print_table, write_results

CHECKINS = 3000
DOSES = 2500
PROMPTS = 100
DAYS = 365
RUNS = 30        # timed renders and replays each, after WARMUP of each
WARMUP = 3
TIMEZONE = "America/New_York"
PAGE_BUDGET = 400 * 1024


def main():
    started, load_before = time.perf_counter(), machine_load()
    with fresh_database("report") as url:
        bench = ReportBench(url)
        bench.seed()
        render = bench.measure()
        weight = bench.weigh()
        bench.close()
    results = {
        "benchmark": "report",
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine_load_per_core": {"start": load_before, "end": machine_load()},
        "data": {"checkins": CHECKINS, "doses": DOSES, "prompts": PROMPTS, "days": DAYS,
                 "reminder_occurrences": bench.occurrences},
        "render": render,
        "weight": weight,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    path = write_results("report", results)

    print("\nreport")
    print_table([
        ["render a year's report, ms (render/its queries)", f"queries {render['queries_median_ms']:.1f}",
         f"render {render['render_median_ms']:.1f}", f"{render['ratio_render_over_queries']:.2f}", "≤ 3"],
        ["  of the render: gather data / template, ms", f"{render['gather_median_ms']:.1f}",
         f"{render['template_median_ms']:.1f}", "", ""],
        ["page + assets, KB", f"page {weight['page_bytes'] / 1024:.0f}",
         f"total {weight['total_bytes'] / 1024:.0f}", f"{weight['total_bytes'] / PAGE_BUDGET:.2f}",
         "< 400 KB"],
        ["  gzip-compressed, KB", "", f"total {weight['total_gzip_bytes'] / 1024:.0f}", "", ""],
    ], ["benchmark", "baseline", "measured", "ratio", "aim"])
    print(f"  render/queries: median of paired runs {render['median_paired_ratio']:.2f}, fastest runs "
          f"{render['ratio_of_fastest']:.2f} ({render['render_min_ms']:.1f} / {render['queries_min_ms']:.1f} ms)")
    print(f"  {render['statements']} statements per render ({render['selects']} reads); "
          f"{render['points']} chart points; results in {path}")
    return results


class ReportBench:
    def __init__(self, url):
        from backend import create_app

        self.url = url
        self.app = create_app({**DEV_ENV, "DATABASE_URL": url, "RATELIMIT_ENABLED": False})
        self.client = self.app.test_client()
        self.statements = []
        self.occurrences = 0

    # -- data -----------------------------------------------------------------------------------

    def seed(self):
        """A year of a heavy user's data, written through the models (bulk inserts)."""
        import sqlalchemy as sa

        from backend.accounts.services import update_profile, user_for_firebase_uid
        from backend.checkins.models import CheckIn
        from backend.doses.models import Dose
        from backend.extensions import db
        from backend.monitoring.models import Prompt
        from backend.monitoring.plan import replace_plan
        from backend.reminders.models import ReminderOccurrence, ReminderSchedule
        from backend.sharing.services import create_report_link

        rng = random.Random(11)
        now = dt.datetime.now(dt.timezone.utc)
        year_ago = now - dt.timedelta(days=DAYS)
        with self.app.app_context():
            user, _ = user_for_firebase_uid("bench-report-patient", display_name="Bench Patient")
            update_profile(user, {"timezone": TIMEZONE})
            replace_plan(user, {"substances": {"kratom": {"daily_limit": {"amount": 8, "unit": "g"}}}})

            def instant(n, count):
                return year_ago + dt.timedelta(days=DAYS) * (n + rng.random()) / count

            side_effects = ["constipation", "dry_mouth", "drowsiness", "nausea", "dark_urine"]
            withdrawal = ["yawning", "craving", "irritability", "sweating"]
            db.session.execute(sa.insert(CheckIn), [{
                "id": uuid.uuid4(), "user_id": user.id, "recorded_at": instant(n, CHECKINS),
                "pain": rng.randint(2, 9), "enjoyment_interference": rng.randint(1, 9),
                "activity_interference": rng.randint(1, 9), "focus": rng.randint(0, 4),
                "hyperactivity": rng.randint(0, 4), "impulsivity": rng.randint(0, 4),
                "restlessness": rng.randint(0, 4), "mood": rng.randint(1, 9),
                "sleep_hours": round(rng.uniform(4, 9), 1) if n % 8 == 0 else None,
                "side_effects": rng.sample(side_effects, rng.choice([0, 0, 1, 2])) if n % 50 else ["dark_urine"],
                "withdrawal_symptoms": rng.sample(withdrawal, rng.choice([0, 0, 0, 1, 2])),
                "note": "Slept badly, better after lunch." if n % 3 == 0 else None,
            } for n in range(CHECKINS)])
            substances = [("kratom", "leaf_powder", "g", (1.5, 4.0)), ("kratom", "capsule", "g", (1.0, 2.0)),
                          ("adhd_stimulant", "tablet", "mg", (5, 20)), ("alcohol", "drink", "drink", (1, 3))]
            weights = [60, 10, 20, 10]
            doses = []
            for n in range(DOSES):
                kind, form, unit, (low, high) = rng.choices(substances, weights)[0]
                doses.append({"id": uuid.uuid4(), "user_id": user.id, "taken_at": instant(n, DOSES),
                              "substance_kind": kind, "form": form, "product": "Green Malay" if kind == "kratom"
                              else None, "amount": round(rng.uniform(low, high), 1), "unit": unit,
                              "note": "With food" if n % 10 == 0 else None})
            db.session.execute(sa.insert(Dose), doses)

            schedule = ReminderSchedule(id=uuid.uuid4(), user_id=user.id, kind="checkin", times=["09:00", "21:00"],
                                        days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], active=True,
                                        created_at=year_ago, updated_at=year_ago)
            db.session.add(schedule)
            db.session.flush()
            occurrences = []
            for day in range(DAYS):
                for hour in (9, 21):
                    due = (year_ago + dt.timedelta(days=day)).replace(hour=hour, minute=0, second=0, microsecond=0)
                    status = rng.choices(["answered", "missed", "sent", "expired"], [75, 15, 8, 2])[0]
                    occurrences.append({"id": uuid.uuid4(), "schedule_id": schedule.id, "user_id": user.id,
                                        "kind": "checkin", "local_date": due.date(), "local_time": f"{hour:02}:00",
                                        "due_at": due, "send_after": due, "status": status,
                                        "sent_at": due if status != "expired" else None, "snooze_count": 0,
                                        "created_at": due})
            db.session.execute(sa.insert(ReminderOccurrence), occurrences)
            self.occurrences = len(occurrences)
            rules = [("daily_limit", "warning"), ("escalation", "warning"), ("combination", "high"),
                     ("withdrawal", "warning"), ("liver", "high"), ("worsening", "info")]
            db.session.execute(sa.insert(Prompt), [{
                "id": uuid.uuid4(), "user_id": user.id, "rule": rule, "subject": "kratom", "severity": severity,
                "dedupe_key": f"{rule}:{n}", "message": f"Observed: {rule.replace('_', ' ')} on day {n}. "
                "Consider talking this over with your clinician or pharmacist.", "evidence": {},
                "created_at": instant(n, PROMPTS), "push_status": "sent", "push_after": instant(n, PROMPTS),
            } for n, (rule, severity) in ((n, rng.choice(rules)) for n in range(PROMPTS))])

            _, self.token = create_report_link(user, {
                "scopes": ["checkins", "doses", "notes", "prompts"], "since": year_ago, "until": now,
                "expires_in_days": 90, "label": "Benchmark clinic"})
            db.session.commit()
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute("VACUUM (ANALYZE)")

    # -- 1. render time -------------------------------------------------------------------------

    def measure(self):
        import sqlalchemy as sa

        from backend.extensions import db

        with self.app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", self._record)
        self.recording = True
        html = self.render()
        self.recording = False
        reads = [(s, p) for s, p in self.statements if s.lstrip().upper().startswith("SELECT")]
        self.page = html
        self.points = sum(len(re.findall(r"-?\d+(?:\.\d+)?", series))
                          for series in re.findall(r'"values":\s*\[([^\]]*)\]', html))

        renders, replays, gathers, templates = [], [], [], []
        with psycopg.connect(self.url) as connection:
            for n in range(WARMUP + RUNS):
                # Alternate which goes first, so that load from elsewhere hits both alike.
                if n % 2:
                    replay = self.timed(self.replay, connection, reads)
                    render = self.timed(self.render)
                else:
                    render = self.timed(self.render)
                    replay = self.timed(self.replay, connection, reads)
                gather, template = self.split()
                if n >= WARMUP:
                    renders.append(render)
                    replays.append(replay)
                    gathers.append(gather)
                    templates.append(template)
        sa.event.remove(engine, "before_cursor_execute", self._record)

        def ms(values):
            return round(statistics.median(values) * 1000, 2)

        return {
            "runs": RUNS, "statements": len(self.statements), "selects": len(reads), "points": self.points,
            "render_median_ms": ms(renders), "queries_median_ms": ms(replays),
            "gather_median_ms": ms(gathers), "template_median_ms": ms(templates),
            "ratio_render_over_queries": round(statistics.median(renders) / statistics.median(replays), 2),
            # Less sensitive to a busy machine: each render against the replay next to it, and
            # the fastest of each (the least disturbed).
            "median_paired_ratio": round(statistics.median(r / q for r, q in zip(renders, replays)), 2),
            "ratio_of_fastest": round(min(renders) / min(replays), 2),
            "render_min_ms": round(min(renders) * 1000, 2), "queries_min_ms": round(min(replays) * 1000, 2),
            "render_ms": [round(t * 1000, 2) for t in renders],
            "queries_ms": [round(t * 1000, 2) for t in replays],
            "read_statements": [statement for statement, _ in reads],
        }

    @staticmethod
    def timed(function, *args):
        began = time.perf_counter()
        function(*args)
        return time.perf_counter() - began

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if self.recording:
            self.statements.append((statement, parameters))

    def render(self):
        response = self.client.get(f"/r/{self.token}")
        if response.status_code != 200:
            raise RuntimeError(f"report failed: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return response.get_data(as_text=True)

    @staticmethod
    def replay(connection, reads):
        """The render's read statements, as the database and driver alone answer them."""
        with connection.cursor() as cursor:
            for statement, parameters in reads:
                cursor.execute(statement, parameters)
                cursor.fetchall()
        connection.rollback()

    def split(self):
        """One render in two timed parts: gathering the data (queries, grouping, access log) and
        the template; rolled back, so it leaves nothing behind."""
        from flask import render_template

        from backend.extensions import db
        from backend.api import request_client
        from backend.reports import view_report

        with self.app.test_request_context(f"/r/{self.token}"):
            began = time.perf_counter()
            report = view_report(self.token, request_client())
            gathered = time.perf_counter()
            render_template("web/report.html", report=report)
            done = time.perf_counter()
            db.session.rollback()
        return gathered - began, done - gathered

    # -- 2. weight ------------------------------------------------------------------------------

    def weigh(self):
        assets = re.findall(r'(?:src|href)="(/r/assets/[^"]+)"', self.page)
        sizes = {}
        for asset in assets:
            response = self.client.get(asset)
            if response.status_code != 200:
                raise RuntimeError(f"asset {asset}: {response.status_code}")
            sizes[asset.split("?")[0]] = (len(response.data), len(gzip.compress(response.data)))
            response.close()
        page = self.page.encode()
        total = len(page) + sum(size for size, _ in sizes.values())
        return {
            "page_bytes": len(page), "page_gzip_bytes": len(gzip.compress(page)),
            "assets": {path: {"bytes": size, "gzip_bytes": packed} for path, (size, packed) in sizes.items()},
            "total_bytes": total,
            "total_gzip_bytes": len(gzip.compress(page)) + sum(packed for _, packed in sizes.values()),
            "under_budget": total < PAGE_BUDGET,
        }

    def close(self):
        from backend.extensions import db

        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
