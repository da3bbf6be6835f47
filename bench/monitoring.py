"""Monitoring benchmark: the cost of running the rules on an event does not grow with history.

Three groups of PEOPLE_PER_GROUP people in one fresh PostgreSQL database. Person i of every group
follows profile i: their own time zone, substances and habits (kratom in leaf, capsules, extract
or now and then a 7-OH product, two to five times a day; for some an ADHD stimulant on weekdays,
drinks at weekends, a prescribed opioid, gabapentin, a benzodiazepine at night, an NSAID; one to
three check-ins a day) and their own plan, checked by the plan's own schema (daily limits per
form, minimum intervals, combination windows, withdrawal thresholds, cooldowns; a fifth keep
the defaults). The groups differ only in how much history their people have: 10 days, 30 days
(a month: every rule's window is full) or 10 years, before the same last 10 days. Everyone's
doses, check-ins and handled events are inserted in the order they happened, so a person's rows
lie scattered among everyone else's on disk, as in production.

A round puts EVENTS_PER_PERSON events per person of one group in the outbox, interleaved across
the group's people (DoseChanged and CheckInChanged on records of the last 10 days, so every rule
an event wakes does its full work, and deduplication finds the prompts already raised), and
times one monitor job run (jobs.monitor: drain_events in committed batches, then
send_prompt_pushes through the local transport) that empties the outbox. Rounds rotate between
the groups; each takes the same records of the same profiles; medians are compared. Aim: 10
years / 10 days ≈ 1 and 10 years / 30 days ≈ 1, because every rule reads a bounded window through
the (user_id, instant) indexes and the outbox claim reads a partial index of pending events.

Beside the times, figures machine load does not move: SQL statements per event, and the shared
buffers touched by the plans of every SELECT that one dose event and one check-in event of
profile 0 run (EXPLAIN (ANALYZE, BUFFERS), in the job's own transaction, right before each
statement runs).

    python -m bench monitoring
"""

import dataclasses
import datetime as dt
import heapq
import json
import random
import statistics
import time
import uuid
import zoneinfo

from bench.support import (StatementClock, app_config, fresh_database, machine_load, print_table, results_of,
                           scale_note, scaled, write_results)

YEARS_DAYS, RECENT_DAYS = 3650, 10
PEOPLE_PER_GROUP = scaled(30, 3)
EVENTS_PER_PERSON = 10            # per round: EVENTS_PER_PERSON × PEOPLE_PER_GROUP events
ROUNDS = scaled(15, 3)            # timed rounds per group, after one warm-up round each
HISTORIC_PROMPTS_PER_WEEK = 3
INSERT_CHUNK = 5000
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix",
         "Europe/London", "Europe/Berlin", "Australia/Sydney")
WITHDRAWAL = ("anxiety", "yawning", "sweating", "restlessness", "craving", "insomnia", "irritability", "runny_nose",
              "muscle_aches", "diarrhea")
SIDE_EFFECTS = ("constipation", "dry_mouth", "drowsiness", "nausea", "itching")
# The rules read windows of up to 28 days (escalation), so 10 days leave them part empty: the
# month, whose windows are full, is the like-for-like baseline; 10 days is the one the issue names.
GROUPS = {"10_days": RECENT_DAYS, "30_days": 30, "10_years": YEARS_DAYS + RECENT_DAYS}
EVENTS_PER_ROUND = EVENTS_PER_PERSON * PEOPLE_PER_GROUP


def main():
    started, load_before = time.perf_counter(), machine_load()
    profiles = [Profile.make(n) for n in range(PEOPLE_PER_GROUP)]
    with fresh_database("monitoring") as url:
        bench = Bench(url, profiles)
        bench.load()
        for group in bench.groups.values():
            bench.warm_up(group)                        # raises each history's prompts once
        names = list(GROUPS)
        for n in range(ROUNDS):
            for name in names[n % 3:] + names[:n % 3]:      # each takes each place in turn
                bench.round(bench.groups[name], n)
        for group in bench.groups.values():
            bench.explain(group)
        bench.close()

    short, month, long = (bench.groups[name].summary() for name in GROUPS)
    results = results_of("monitoring", started, load_before, {
        "people_per_group": PEOPLE_PER_GROUP, "events_per_round": EVENTS_PER_ROUND, "rounds": ROUNDS,
        "profiles": [profile.describe() for profile in profiles],
        "load_s": round(bench.load_seconds, 1), "rows": bench.rows,
        "short": short, "month": month, "long": long,
        "ratio_events_per_s_long_over_short": round(long["events_per_s"] / short["events_per_s"], 3),
        "ratio_sql_ms_per_event_long_over_short": round(long["sql_ms_per_event"] / short["sql_ms_per_event"], 3),
        "ratio_python_cpu_per_event_long_over_short": round(
            long["python_cpu_ms_per_event"] / short["python_cpu_ms_per_event"], 3),
        "ratio_buffers_per_event_long_over_short": round(
            long["explained"]["buffers_per_event"] / short["explained"]["buffers_per_event"], 3),
        "ratio_events_per_s_long_over_month": round(long["events_per_s"] / month["events_per_s"], 3),
        "ratio_python_cpu_per_event_long_over_month": round(
            long["python_cpu_ms_per_event"] / month["python_cpu_ms_per_event"], 3),
    })
    path = write_results("monitoring", results)

    print("\nEXPLAIN (ANALYZE, BUFFERS) of what one dose event and one check-in event of profile 0 run "
          f"({long['doses']:,} doses, {long['checkins']:,} check-ins of history in their group):")
    for line in bench.groups["10_years"].plan_lines:
        print("    " + line)
    print()
    print_table([[name, f"{r['doses']:,}", f"{r['checkins']:,}", f"{r['events_per_s']:.0f}",
                  f"{r['ms_per_event']:.2f}", f"{r['sql_ms_per_event']:.2f}", f"{r['statements_per_event']:.1f}",
                  f"{r['explained']['buffers_per_event']:.1f}"]
                 for name, r in (("10 days", short), ("30 days", month), ("10 years", long))],
                [f"history ({PEOPLE_PER_GROUP} people each)", "doses", "check-ins", "events/s", "ms/event",
                 "SQL ms/event", "statements/event", "buffers/event"])
    print("\nmonitoring")
    print_table([
        ["rule evaluation, events/s (10 years/10 days)", f"10 days {short['events_per_s']:.0f}",
         f"10 years {long['events_per_s']:.0f}", f"{results['ratio_events_per_s_long_over_short']:.2f}", "≈ 1"],
        ["  its SQL, ms/event (10 years/10 days)", f"10 days {short['sql_ms_per_event']:.2f}",
         f"10 years {long['sql_ms_per_event']:.2f}", f"{results['ratio_sql_ms_per_event_long_over_short']:.2f}",
         "≈ 1"],
        ["  our process CPU, ms/event", f"10 days {short['python_cpu_ms_per_event']:.2f}",
         f"10 years {long['python_cpu_ms_per_event']:.2f}",
         f"{results['ratio_python_cpu_per_event_long_over_short']:.2f}", "≈ 1"],
        ["  buffers its plans touch per event", f"10 days {short['explained']['buffers_per_event']:.1f}",
         f"10 years {long['explained']['buffers_per_event']:.1f}",
         f"{results['ratio_buffers_per_event_long_over_short']:.2f}", "≈ 1"],
        ["rule evaluation, events/s (10 years/30 days, full windows)", f"30 days {month['events_per_s']:.0f}",
         f"10 years {long['events_per_s']:.0f}", f"{results['ratio_events_per_s_long_over_month']:.2f}", "≈ 1"],
        ["  our process CPU, ms/event", f"30 days {month['python_cpu_ms_per_event']:.2f}",
         f"10 years {long['python_cpu_ms_per_event']:.2f}",
         f"{results['ratio_python_cpu_per_event_long_over_month']:.2f}", "≈ 1"],
    ], ["benchmark", "baseline", "measured", "ratio", "aim"])
    print(f"  {3 * PEOPLE_PER_GROUP} people, {len({p.zone for p in profiles})} time zones, "
          f"{sum(p.plan is not None for p in profiles)} of {PEOPLE_PER_GROUP} profiles with a plan of their own; "
          f"{bench.rows:,} rows loaded in {bench.load_seconds:.0f} s")
    print(f"  machine load per core {load_before} → {results['machine_load_per_core']['end']}")
    print(f"  {path.relative_to(path.parents[2])}, {results['duration_s']:.0f} s")
    if scale_note():
        print(scale_note())
    return results


# -- who the people are ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Profile:
    """What one person takes and logs, and the plan they set; the same in every group."""

    n: int
    zone: str
    kratom_form: str               # leaf_powder, capsule or extract
    kratom_doses: int              # a day
    kratom_amount: tuple           # (low, high) in the form's unit
    seven_oh: bool                 # now and then a concentrated 7-OH product
    others: tuple                  # other substance kinds they take
    checkins_per_day: int
    plan: dict | None

    @classmethod
    def make(cls, n):
        from backend.monitoring.schemas import PlanSchema

        rng = random.Random(f"profile-{n}")
        form = rng.choices(("leaf_powder", "capsule", "extract"), (70, 20, 10))[0]
        amount = {"leaf_powder": (1.5, 4.0), "capsule": (2, 6), "extract": (0.2, 0.6)}[form]
        others = tuple(kind for kind, share in (("adhd_stimulant", 0.5), ("alcohol", 0.4), ("opioid", 0.15),
                                                ("gabapentinoid", 0.15), ("benzodiazepine", 0.1), ("nsaid", 0.3))
                       if rng.random() < share)
        profile = cls(n=n, zone=ZONES[n % len(ZONES)], kratom_form=form, kratom_doses=rng.randint(2, 5),
                      kratom_amount=amount, seven_oh=rng.random() < 0.1, others=others,
                      checkins_per_day=rng.randint(1, 3), plan=None)
        plan = None if rng.random() < 0.2 else profile.make_plan(rng)
        if plan is not None:
            PlanSchema().load(plan)  # a plan the API would take
        return dataclasses.replace(profile, plan=plan)

    def make_plan(self, rng):
        unit = {"leaf_powder": "g", "capsule": "capsule", "extract": "g"}[self.kratom_form]
        kratom = {"daily_limit": {"amount": rng.choice((6, 8, 10, 12, 15)) if unit == "g" else rng.choice((12, 16, 20)),
                                  "unit": unit}}
        if rng.random() < 0.5:
            kratom["min_interval_minutes"] = rng.choice((120, 180, 240, 300))
        if self.seven_oh:
            kratom["daily_limits"] = [{"amount": rng.choice((15, 30)), "unit": "mg", "forms": ["concentrate_7oh"]}]
        substances = {"kratom": kratom}
        if "alcohol" in self.others and rng.random() < 0.6:
            substances["alcohol"] = {"daily_limit": {"amount": rng.choice((2, 3, 4)), "unit": "drink"}}
        if "opioid" in self.others:
            substances["opioid"] = {"daily_limit": {"amount": 30, "unit": "mg"}, "min_interval_minutes": 360}
        if "adhd_stimulant" in self.others and rng.random() < 0.5:
            substances["adhd_stimulant"] = {"daily_limit": {"amount": 40, "unit": "mg"}}
        plan = {"substances": substances}
        for key, choices in (("escalation_percent", (20, 25, 30, 40)), ("combination_window_hours", (4, 6, 8)),
                             ("withdrawal_symptom_count", (2, 3, 4)), ("cooldown_hours", (12, 24, 48)),
                             ("worsening_days", (3, 4)), ("baseline_days", (14, 21))):
            if rng.random() < 0.5:
                plan[key] = rng.choice(choices)
        return plan

    def describe(self):
        return {"zone": self.zone, "kratom": f"{self.kratom_form} × {self.kratom_doses}/day", "7-OH": self.seven_oh,
                "others": list(self.others), "checkins_per_day": self.checkins_per_day, "plan": self.plan}

    def day(self, day, rng, tz, now):
        """This profile's doses and check-ins of one local day (up to now), as (instant, table, row)."""
        def at(hour, minute):
            instant = dt.datetime.combine(day, dt.time(hour, minute), tz).astimezone(dt.timezone.utc)
            return instant if instant <= now else None

        unit = {"leaf_powder": "g", "capsule": "capsule", "extract": "g"}[self.kratom_form]
        plan = []
        for k, hour in enumerate(sorted(rng.sample(range(7, 22), self.kratom_doses))):
            low, high = self.kratom_amount
            amount = round(rng.uniform(low, high), 1) if unit == "g" else float(rng.randint(low, high))
            plan.append(("kratom", self.kratom_form, amount, unit, hour, rng.randint(0, 50)))
        if rng.random() < 0.15:
            plan.append(("kratom", self.kratom_form, plan[-1][2], unit, min(22, plan[-1][4] + 1), 55))  # one too close
        if self.seven_oh and rng.random() < 0.3:
            plan.append(("kratom", "concentrate_7oh", float(rng.choice((10, 15, 20))), "mg", 20, 10))
        weekday = day.weekday()
        if "adhd_stimulant" in self.others and weekday < 5:
            plan.append(("adhd_stimulant", "tablet", 20.0, "mg", 7, 30))
        if "alcohol" in self.others and weekday in (4, 5):
            plan.append(("alcohol", "drink", float(rng.randint(1, 5)), "drink", 21, 15))
        if "opioid" in self.others:
            plan += [("opioid", "tablet", 10.0, "mg", 8, 0), ("opioid", "tablet", 10.0, "mg", 20, 0)]
        if "gabapentinoid" in self.others:
            plan += [("gabapentinoid", "capsule", 300.0, "mg", hour, 0) for hour in (8, 14, 22)]
        if "benzodiazepine" in self.others and rng.random() < 0.4:
            plan.append(("benzodiazepine", "tablet", 0.5, "mg", 23, 0))
        if "nsaid" in self.others and rng.random() < 0.4:
            plan.append(("nsaid", "tablet", 400.0, "mg", 12, 30))
        records = []
        for kind, form, amount, unit_, hour, minute in plan:
            taken_at = at(hour, minute)
            if taken_at:
                records.append((taken_at, "doses", {
                    "id": uuid.uuid4(), "taken_at": taken_at, "substance_kind": kind, "form": form,
                    "product": "Red Bali" if kind == "kratom" and form != "concentrate_7oh" else None,
                    "amount": amount, "unit": unit_, "note": None, "created_at": taken_at, "updated_at": taken_at}))
        for hour in (9, 21, 15)[:self.checkins_per_day]:
            recorded_at = at(hour, 0)
            if not recorded_at:
                continue
            pain = rng.randint(3, 7)
            records.append((recorded_at, "checkins", {
                "id": uuid.uuid4(), "recorded_at": recorded_at, "pain": pain,
                "enjoyment_interference": max(0, pain - rng.randint(0, 2)), "activity_interference": pain,
                "focus": rng.randint(0, 4), "hyperactivity": rng.randint(0, 3), "impulsivity": rng.randint(0, 3),
                "restlessness": rng.randint(0, 4), "mood": rng.randint(3, 8),
                "sleep_hours": rng.choice((5.5, 6.5, 7.5)),
                "sleep_quality": rng.randint(1, 4), "side_effects": rng.sample(SIDE_EFFECTS, rng.choice((0, 0, 0, 1))),
                "withdrawal_symptoms": rng.sample(WITHDRAWAL, rng.choice((0, 0, 1, 2, 3))), "note": None,
                "created_at": recorded_at, "updated_at": recorded_at}))
        return sorted(records, key=lambda record: record[0])


class Person:
    """Profile i in one group: their user, and the records of their last 10 days (for events)."""

    def __init__(self, profile, days):
        self.profile, self.days = profile, days
        self.user_id = None
        self.recent = []                     # (event class name, id field, record id) of the last 10 days
        self.examples = {}                   # the newest kratom dose and low-symptom check-in, for EXPLAIN
        self.counts = {"doses": 0, "checkins": 0}

    def records(self, now):
        """(instant, table, row) of this person's doses and check-ins, oldest first; the same last
        days in every group (each day's generator is seeded by the profile and the days before now)."""
        tz = zoneinfo.ZoneInfo(self.profile.zone)
        today = now.astimezone(tz).date()
        first_recent_day = today - dt.timedelta(days=RECENT_DAYS - 1)
        for back in range(self.days - 1, -1, -1):
            day = today - dt.timedelta(days=back)
            rng = random.Random(f"profile-{self.profile.n}-day-{back}")
            for instant, table, row in self.profile.day(day, rng, tz, now):
                row["user_id"] = self.user_id
                self.counts[table] += 1
                if day >= first_recent_day:
                    name, field = ("DoseChanged", "dose_id") if table == "doses" else ("CheckInChanged", "checkin_id")
                    self.recent.append((name, field, row["id"]))
                    if table == "doses" and row["substance_kind"] == "kratom":
                        self.examples["dose"] = (name, field, row["id"])
                    elif table == "checkins" and len(row["withdrawal_symptoms"]) < 2:
                        self.examples["checkin"] = (name, field, row["id"])
                yield instant, table, row


class Group:
    """The people of one history length, with the times their rounds took."""

    def __init__(self, name, days, profiles):
        self.name, self.days = name, days
        self.people = [Person(profile, days) for profile in profiles]
        self.times, self.cpu_seconds, self.sql_seconds, self.statements = [], [], [], []
        self.explained, self.plan_lines = {}, []
        self.earlier_prompts = 0

    def summary(self):
        seconds, sql = statistics.median(self.times), statistics.median(self.sql_seconds)
        return {
            "history_days": self.days, "people": len(self.people),
            "doses": sum(p.counts["doses"] for p in self.people),
            "checkins": sum(p.counts["checkins"] for p in self.people),
            "earlier_prompts": self.earlier_prompts,
            "events_per_s": round(EVENTS_PER_ROUND / seconds, 1),
            "ms_per_event": round(seconds / EVENTS_PER_ROUND * 1000, 3),
            "sql_ms_per_event": round(sql / EVENTS_PER_ROUND * 1000, 3),
            "python_cpu_ms_per_event": round(statistics.median(self.cpu_seconds) / EVENTS_PER_ROUND * 1000, 3),
            "statements_per_event": round(statistics.median(self.statements) / EVENTS_PER_ROUND, 2),
            "rounds_s": [round(t, 4) for t in self.times],
            "explained": self.explained,
        }


class Bench:
    def __init__(self, url, profiles):
        from backend import create_app
        from backend.extensions import db

        self.app = create_app(app_config(url))
        with self.app.app_context():
            self.engine = db.engine
        self.groups = {name: Group(name, days, profiles) for name, days in GROUPS.items()}
        self.now = dt.datetime.now(dt.timezone.utc)
        self.clock = StatementClock(self.engine)
        self.rows = 0

    def close(self):
        from backend import close_app

        self.clock.remove()
        close_app(self.app)

    # -- data ------------------------------------------------------------------------------------

    def load(self):
        """Accounts and plans through the services; then everyone's doses, check-ins and their
        handled events merged in the order they happened and inserted in chunks (SQLAlchemy Core),
        the earlier prompts likewise; then vacuumed."""
        import sqlalchemy as sa

        from backend.accounts.models import User
        from backend.checkins.models import CheckIn
        from backend.doses.models import Dose
        from backend.events.models import Event
        from backend.extensions import db
        from backend.monitoring.models import Prompt
        from backend.monitoring.plan import replace_plan

        began = time.perf_counter()
        everyone = [person for group in self.groups.values() for person in group.people]
        with self.app.app_context():
            for group in self.groups.values():
                for person in group.people:
                    user = User(firebase_uid=f"bench-{group.name}-{person.profile.n}", timezone=person.profile.zone)
                    db.session.add(user)
                    db.session.flush()
                    person.user_id = user.id
                    if person.profile.plan is not None:
                        replace_plan(user, person.profile.plan)
            db.session.commit()

            tables = {"doses": Dose.__table__, "checkins": CheckIn.__table__, "events": Event.__table__,
                      "prompts": Prompt.__table__}
            pending = {name: [] for name in tables}
            with db.engine.begin() as connection:
                def flush(name):
                    if pending[name]:
                        connection.execute(sa.insert(tables[name]), pending[name])
                        self.rows += len(pending[name])
                        pending[name] = []

                for instant, table, row in heapq.merge(*(person.records(self.now) for person in everyone),
                                                       key=lambda record: record[0]):
                    pending[table].append(row)
                    field = "dose_id" if table == "doses" else "checkin_id"
                    name = "DoseLogged" if table == "doses" else "CheckInRecorded"
                    pending["events"].append({"user_id": row["user_id"], "name": name,
                                              "payload": {field: str(row["id"])}, "created_at": instant,
                                              "processed_at": instant, "attempts": 1})
                    for name in ("doses", "checkins", "events"):
                        if len(pending[name]) >= INSERT_CHUNK:
                            flush(name)
                for name in ("doses", "checkins", "events"):
                    flush(name)
                for group in self.groups.values():
                    prompts = [historic_prompts(person.user_id, self.now, group.days - RECENT_DAYS, person.profile.n)
                               for person in group.people]
                    group.earlier_prompts = sum(map(len, prompts))
                    pending["prompts"] = sorted((row for rows in prompts for row in rows),
                                                key=lambda row: row["created_at"])
                    flush("prompts")
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM (ANALYZE)")
        self.load_seconds = time.perf_counter() - began
        recent = {group.name: [len(person.recent) for person in group.people] for group in self.groups.values()}
        if len({tuple(counts) for counts in recent.values()}) != 1:
            raise RuntimeError(f"the groups' last {RECENT_DAYS} days differ: {recent}")
        print(f"  loaded {self.rows:,} rows in {self.load_seconds:.0f} s: " + "; ".join(
            f"{group.name}: {sum(p.counts['doses'] for p in group.people):,} doses, "
            f"{sum(p.counts['checkins'] for p in group.people):,} check-ins" for group in self.groups.values()),
            flush=True)

    def queue_events(self, records):
        """Put events on these (person, (name, field, record id)) in the outbox, in this order."""
        from backend.events.models import Event
        from backend.extensions import db

        with self.app.app_context():
            db.session.add_all(Event(user_id=person.user_id, name=name, payload={field: str(record_id)})
                               for person, (name, field, record_id) in records)
            db.session.commit()

    def round_records(self, group, n):
        """Round n's events: EVENTS_PER_PERSON records of each person's last 10 days (the next ones
        each round), one person after another in turn, as events arrive from many phones at once."""
        picks = []
        for k in range(EVENTS_PER_PERSON):
            for person in group.people:
                picks.append((person, person.recent[(n * EVENTS_PER_PERSON + k) % len(person.recent)]))
        return picks

    # -- rounds ----------------------------------------------------------------------------------

    def warm_up(self, group):
        """Every record of the last 10 days once, interleaved across people: raises the prompts they
        call for, so the timed rounds find them raised."""
        import jobs

        longest = max(len(person.recent) for person in group.people)
        self.queue_events([(person, person.recent[k]) for k in range(longest) for person in group.people
                           if k < len(person.recent)])
        with self.app.app_context():
            jobs.monitor()
            while self.pending():
                jobs.monitor()

    def pending(self):
        import sqlalchemy as sa

        from backend.events.models import Event
        from backend.extensions import db

        return db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.processed_at.is_(None)))

    def round(self, group, n):
        import jobs

        self.queue_events(self.round_records(group, n))
        with self.app.app_context():
            self.clock.reset()
            began, cpu_began = time.perf_counter(), time.process_time()
            handled = jobs.monitor()
            seconds, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        if handled < EVENTS_PER_ROUND:
            raise RuntimeError(f"the monitor job handled {handled} of {EVENTS_PER_ROUND} events")
        group.times.append(seconds)
        group.cpu_seconds.append(cpu)
        group.sql_seconds.append(self.clock.seconds)
        group.statements.append(self.clock.count)

    def explain(self, group):
        """One dose event and one check-in event of profile 0, every SELECT they run explained as it runs."""
        import jobs

        person = group.people[0]
        examples = [person.examples["dose"], person.examples["checkin"]]
        self.queue_events([(person, example) for example in examples])
        with self.app.app_context():
            plans = PlanRecorder(self.engine)
            try:
                jobs.monitor()
            finally:
                plans.remove()
        buffers = sum(p["buffers"] for p in plans.plans)
        group.explained = {"events": 2, "selects": len(plans.plans), "buffers": buffers,
                           "buffers_per_event": buffers / 2,
                           "statements": [{k: v for k, v in p.items() if k != "lines"} for p in plans.plans]}
        for p in plans.plans:
            group.plan_lines.append(f"{p['query']}  [{p['rows']} rows, {p['buffers']} buffers]")
            group.plan_lines += ["    " + line for line in p["lines"]]


def historic_prompts(user_id, now, days, seed):
    """What the rules raised before the last 10 days: a few prompts a week."""
    rng = random.Random(f"prompts-{seed}")
    rules = [("daily_limit", "kratom", "warning"), ("min_interval", "kratom", "warning"),
             ("combination", "alcohol", "high"), ("combination", "adhd_stimulant", "warning"),
             ("worsening", "pain", "warning"), ("withdrawal", "symptoms", "warning")]
    rows = []
    for n in range(days * HISTORIC_PROMPTS_PER_WEEK // 7):
        rule, subject, severity = rng.choice(rules)
        created = now - dt.timedelta(days=RECENT_DAYS + rng.uniform(0, days))
        rows.append({"id": uuid.uuid4(), "user_id": user_id, "rule": rule, "subject": subject, "severity": severity,
                     "dedupe_key": f"{rule}:{subject}:history-{n}", "message": "An earlier prompt.", "evidence": {},
                     "created_at": created, "acknowledged_at": created + dt.timedelta(hours=2),
                     "push_status": "sent", "push_after": created, "alert_caregivers": False})
    return rows


# -- SQL accounting ----------------------------------------------------------------------------------

class PlanRecorder:
    """EXPLAIN (ANALYZE, BUFFERS) every SELECT right before it runs, on the job's own cursor (so in
    its transaction: a claim's rows are locked by the plan and then again by the claim itself)."""

    def __init__(self, engine):
        import sqlalchemy as sa

        self.engine, self.plans = engine, []
        sa.event.listen(engine, "before_cursor_execute", self.before)

    def before(self, conn, cursor, statement, parameters, context, executemany):
        if executemany or not statement.lstrip().upper().startswith("SELECT"):
            return
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
        root = cursor.fetchone()[0]
        root = (json.loads(root) if isinstance(root, str) else root)[0]["Plan"]
        self.plans.append({
            "query": describe(statement), "rows": root.get("Actual Rows", 0),
            "buffers": root.get("Shared Hit Blocks", 0) + root.get("Shared Read Blocks", 0),
            "lines": list(plan_lines(root))})

    def remove(self):
        import sqlalchemy as sa

        sa.event.remove(self.engine, "before_cursor_execute", self.before)


def describe(statement):
    """A short name for a SELECT: its tables and what it filters on."""
    text = " ".join(statement.split())
    upper = text.upper()
    tables = text[upper.index(" FROM ") + 6:].split(" WHERE ")[0].split(" ORDER BY ")[0].split(" LIMIT ")[0]
    where = text[upper.index(" WHERE ") + 7:] if " WHERE " in upper else ""
    columns = sorted({word.split(".")[-1] for word in where.replace("(", " ").split()
                      if "." in word and not word.startswith("%")})
    return f"{tables[:60]} by {', '.join(columns)[:80]}" if columns else tables[:60]


def plan_lines(node, depth=0):
    index = f" using {node['Index Name']}" if "Index Name" in node else ""
    relation = f" on {node['Relation Name']}" if "Relation Name" in node else ""
    yield f"{'  ' * depth}{node['Node Type']}{index}{relation} (rows {node.get('Actual Rows', 0)})"
    for child in node.get("Plans", ()):
        yield from plan_lines(child, depth + 1)


if __name__ == "__main__":
    main()
