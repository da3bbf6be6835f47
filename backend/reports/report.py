"""The clinician report behind a report link: a patient's data over a range, per local day.

One query per table, then all grouping in Python in the patient's time zone: a year of a heavy
user's data is a few thousand rows, and reading them once is cheaper than asking the database
for daily aggregates in a zone it would have to be taught. The result is a plain dict the page
template (and the chart data it embeds) reads; it states what was logged and draws no conclusion.

The safety summary comes first: what a clinician must not miss, each line computed from the same
rows the rest of the page shows. Amounts are kept per substance, form and unit: a gram of leaf and
a milligram of a 7-OH concentrate are never added together or converted into one another; within
one form, g, mg and mcg are one measure and are added in one unit.
"""

import bisect
import dataclasses
import datetime as dt
import functools
import itertools
import math
import statistics
from collections import Counter, defaultdict

import sqlalchemy as sa

from backend.checkins.models import ADHD_ITEMS, CheckIn
from backend.checkins.vocabulary import EMERGENCY_SIGNS, LIVER_WARNING_SIGNS
from backend.domain import (DAILY_PAIN, MASS_IN_MG, PEG_ITEMS, POSITIVE_SCREEN, SCREENS, SEDATING_KINDS, convert,
                            day_start, form_label, local_date, local_days, peg_score, positive_screen, screen_score,
                            substance_label, words, zone)
from backend.doses.models import Dose
from backend.extensions import db
from backend.monitoring.models import SEVERITIES, Prompt
from backend.monitoring.plan import daily_limits, effective_plan
from backend.monitoring.services import shown_to
from backend.reminders.models import ReminderOccurrence
from backend.sqltypes import utcnow

DEFAULT_DAYS = 90
NOTES_SHOWN = 10
# Check-in rows converted from the database's answer at a time: fewer objects than the garbage
# collector's first threshold (700), so they are gone before it looks at them.
PARTITION = 100
PROMPTS_SHOWN = 4
TREND_WEEKS = 4
SEVEN_OH = "concentrate_7oh"

# The per-day values, each the mean of that day's answers. "Pain" is the daily item (pain today)
# where the person answered it that day, and otherwise the PEG pain item, so that days logged
# before the daily item existed still have a point.
MEASURES = (
    ("pain", "Pain", "0–10"),
    ("peg_score", "PEG score", "0–10, week"),
    ("enjoyment_interference", "PEG enjoyment", "0–10"),
    ("activity_interference", "PEG activity", "0–10"),
    ("sleep_hours", "Sleep hours", "hours"),
    ("sleep_quality", "Sleep quality", "0–4 very good"),
    ("focus", "Trouble focusing", "0–4"),
    ("hyperactivity", "Hyperactivity", "0–4"),
    ("impulsivity", "Impulsivity", "0–4"),
    ("restlessness", "Restlessness", "0–4"),
    ("mood", "Mood", "0–10 best"),
    ("phq2_score", "PHQ-2", "0–6, 3+ positive"),
    ("gad2_score", "GAD-2", "0–6, 3+ positive"),
)
# The measures table prints as two side by side: pain and sleep; ADHD, mood and the screens.
MEASURE_GROUPS = (MEASURES[:6], MEASURES[6:])
SYMPTOMS_SHOWN = 8
LABELS = {key: label for key, label, _ in MEASURES} | {"adhd": "ADHD items"}
TREND_CHARTS = (
    ("pain", "Pain", "0 none – 10 worst; PEG score: mean of the three PEG items", ("pain", "peg_score"), 0, 10),
    ("adhd", "ADHD symptoms", "how often: 0 never – 4 very often", ADHD_ITEMS, 0, 4),
    ("mood", "Mood", "0 worst – 10 best", ("mood",), 0, 10),
    ("screens", "PHQ-2 and GAD-2", "0–6; dashed line: a positive screen (3)", ("phq2_score", "gad2_score"), 0, 6),
    ("sleep", "Sleep", "hours per night", ("sleep_hours",), 0, None),
)
# Compared on days with and without a substance, and on the day after.
COMPARED = ("pain", "peg_score", "adhd", "mood", "sleep_hours", "sleep_quality")
# The answers a check-in is read for, and those averaged per day as they are.
CHECKIN_ITEMS = (DAILY_PAIN, *PEG_ITEMS, *ADHD_ITEMS, "mood", "sleep_hours", "sleep_quality", *SCREENS["phq2"],
                 *SCREENS["gad2"])
CHECKIN_COLUMNS = ("recorded_at", *CHECKIN_ITEMS, "side_effects", "withdrawal_symptoms", "withdrawal_severity", "note")
DAY_MEANS = (DAILY_PAIN, *PEG_ITEMS, *ADHD_ITEMS, "mood", "sleep_hours", "sleep_quality")
# Each check-in's PEG score, unrounded: the day's mean is rounded once.
exact_peg_score = functools.partial(peg_score, places=None)
SEVERITY_RANK = {severity: -n for n, severity in enumerate(SEVERITIES)}  # high first
# The order a reader expects: what happened first, what is still open last.
ADHERENCE_ORDER = ("answered", "missed", "ignored", "snoozed", "expired", "awaiting", "upcoming")


def report_range(link, now, tz, first_record_at=None):
    """The instants the report covers: the link's fixed range, or up to now from the local day of
    the first record of the last 90 days (a person who started logging 30 days ago gets 30 days,
    not 60 empty ones); today alone when nothing was logged.

    A range reaching into the future stops at now: there is nothing logged there yet.
    """
    if link.range_start is None and link.range_end is None:
        since = day_start(local_date(now, tz) - dt.timedelta(days=DEFAULT_DAYS - 1), tz)
        first = first_record_at if first_record_at is not None and first_record_at >= since else now
        return day_start(local_date(first, tz), tz), now
    until = min(link.range_end or now, now)
    since = link.range_start or until - dt.timedelta(days=DEFAULT_DAYS)
    return since, max(since, until)


def first_record_at(patient, scopes, since, until):
    """The earliest check-in, dose or prompt in [since, until) among the scopes shared."""
    tables = {"checkins": (CheckIn, CheckIn.recorded_at), "doses": (Dose, Dose.taken_at),
              "prompts": (Prompt, Prompt.created_at)}
    firsts = []
    for scope, (model, column) in tables.items():
        if scope in scopes:
            query = sa.select(sa.func.min(column)).where(model.user_id == patient.id, column >= since, column < until)
            if scope != "prompts":
                query = query.where(model.deleted_at.is_(None))
            firsts.append(db.session.scalar(query))
    return min(filter(None, firsts), default=None)


class LocalDays:
    """Which of the report's local days an instant falls on.

    A search among the UTC instants the days start at, instead of a time-zone conversion for
    every row: the days themselves (DST-length ones too) come from zoneinfo once.
    """

    def __init__(self, days, tz):
        self.days = days
        self.starts = [day_start(day, tz) for day in days]

    def __call__(self, instant):
        return self.days[bisect.bisect_right(self.starts, instant) - 1]

    def split(self, rows):
        """(day, its rows) for each day with any, of rows in time order with their instant first:
        a search per day, not one per row."""
        if not rows:
            return
        instants = [row[0] for row in rows]
        first_day, last_day = (bisect.bisect_right(self.starts, instants[n]) - 1 for n in (0, -1))
        first = 0
        for n in range(first_day, last_day):
            end = bisect.bisect_left(instants, self.starts[n + 1], first)
            if end > first:
                yield self.days[n], rows[first:end]
            first = end
        yield self.days[last_day], rows[first:]

    def group(self, partitions):
        """split() of rows read a partition at a time: a day that two partitions share comes once."""
        day, held = None, []
        for rows in partitions:
            for next_day, day_rows in self.split(rows):
                if next_day != day and held:
                    yield day, held
                    held = []
                day = next_day
                held += day_rows
        if held:
            yield day, held


def read(statement):
    """The rows of a read, as plain Core rows: the report only reads, and the ORM's work on each of
    a year's rows is not needed to add them up."""
    return db.session.connection().execute(statement).all()


def read_in_partitions(statement):
    """read() a partition of rows at a time, for rows that can be summed up as they come. A year's
    check-ins held till the end of the report lived long enough for the garbage collector to sweep
    the whole process for them every few reports: a quarter of a report's CPU."""
    return db.session.connection().execute(statement).partitions(PARTITION)


def mean(values):
    """The mean to two places, None of nothing: statistics.fmean's sum and division, without its
    checks, as the report takes thousands of them."""
    return round(math.fsum(values) / len(values), 2) if values else None


def build_report(patient, link, now=None):
    """Everything the report page shows, as a plain dict, within the link's scopes and range."""
    now = now or utcnow()
    tz = zone(patient.timezone)
    scopes = set(link.scopes)
    window_start = day_start(local_date(now, tz) - dt.timedelta(days=DEFAULT_DAYS - 1), tz)
    first = None
    if link.range_start is None and link.range_end is None:
        first = first_record_at(patient, scopes, window_start, now)
    since, until = report_range(link, now, tz, first)
    days = local_days(since, until, tz)
    plan = effective_plan(patient)
    report = {
        "patient_name": patient.display_name or "Patient",
        "timezone": patient.timezone,
        "first_day": days[0] if days else None,
        "last_day": days[-1] if days else None,
        "day_count": len(days),
        "trimmed": first is not None and since > window_start,
        "generated_at": now.astimezone(tz),
        "expires_at": link.expires_at.astimezone(tz),
        "label": link.label,
        "scopes": [scope for scope in ("checkins", "doses", "notes", "prompts") if scope in scopes],
        "days": days,
        "charts": [],
        "notes": None,
        "safety": {},
    }
    notes = [] if "notes" in scopes else None
    day_of = LocalDays(days, tz)
    day_values = None
    if "checkins" in scopes:
        day_values, checkin_part = checkins_part(patient, since, until, day_of, notes)
        report["charts"] += checkin_part["trend_charts"]
        report["adherence"] = adherence_part(patient, since, until, "checkin")
        report["safety"].update(checkin_part.pop("safety"), checkin_adherence=report["adherence"])
        report.update(checkin_part)
    if "doses" in scopes:
        dose_days, dose_part = doses_part(patient, plan, since, until, day_of, notes)
        report["safety"].update(dose_part.pop("safety"), dose_adherence=adherence_part(patient, since, until, "dose"))
        report.update(dose_part)
        report["charts"] += dose_part["dose_charts"]
        if day_values is not None:
            report["with_without"] = with_without(day_values, dose_days, days)
    if "prompts" in scopes:
        report["prompts"] = prompts_part(patient, since, until, tz, scopes)
        report["safety"]["high_prompts"] = sum(row["count"] for row in report["prompts"]["by_rule"]
                                               if row["severity"] == "high")
    if notes is not None:
        notes.sort(key=lambda note: note[0], reverse=True)
        report["notes"] = {"count": len(notes), "shown": [
            {"at": at.astimezone(tz), "kind": kind, "text": text} for at, kind, text in notes[:NOTES_SHOWN]]}
    report["chart_data"] = {
        "days": [day.isoformat() for day in day_of.days],
        "charts": [{key: chart[key] for key in ("id", "title", "kind", "min", "max", "limit", "limit_label", "series")}
                   for chart in report["charts"]],
    }
    return report


# ── check-ins ─────────────────────────────────────────────────────────────────────────────────

def checkins_part(patient, since, until, day_of, notes):
    """Per-day means of each measure, the trend charts, the symptoms reported when, and the
    check-in lines of the safety summary."""
    partitions = read_in_partitions(sa.select(
        CheckIn.recorded_at, *(getattr(CheckIn, item) for item in CHECKIN_ITEMS),
        CheckIn.side_effects, CheckIn.withdrawal_symptoms, CheckIn.withdrawal_severity,
        CheckIn.note if notes is not None else sa.null(),  # notes not shared are not even read
    ).where(CheckIn.user_id == patient.id, CheckIn.deleted_at.is_(None),
            CheckIn.recorded_at >= since, CheckIn.recorded_at < until).order_by(CheckIn.recorded_at))

    day_values = {}  # day with a check-in → measure → the mean of that day's answers
    side_effects, withdrawal = defaultdict(set), defaultdict(set)  # symptom → days reported
    severity = {}  # withdrawal symptom → highest rating (0–4)
    screens = {name: {"answered": 0, "positive_days": set(), "latest": None} for name in SCREENS}
    # A day's check-ins are read a column at a time: one pass over each of its answers instead
    # of a dict and a dozen branches for every check-in.
    checkin_count = 0
    for day, day_rows in day_of.group(partitions):
        checkin_count += len(day_rows)
        answers = dict(zip(CHECKIN_COLUMNS, zip(*day_rows)))
        found = {key: [value for value in answers[key] if value is not None] for key in DAY_MEANS}
        found["peg_score"] = [peg for peg in map(exact_peg_score, *(answers[item] for item in PEG_ITEMS))
                              if peg is not None]
        found["adhd"] = [math.fsum(present) / len(present) for items in zip(*(answers[item] for item in ADHD_ITEMS))
                         if (present := [item for item in items if item is not None])]
        for name, screen_items in SCREENS.items():
            # A check-in that answered none of a screen's items has no score of it: only the others are scored.
            unanswered = (None,) * len(screen_items)
            scores = [score for items in zip(*(answers[item] for item in screen_items)) if items != unanswered
                      if (score := screen_score(*items)) is not None]
            found[f"{name}_score"] = scores
            if scores:
                screens[name]["answered"] += len(scores)
                screens[name]["latest"] = (day, scores[-1])
                if any(map(positive_screen, scores)):
                    screens[name]["positive_days"].add(day)
        means = {key: mean(values) for key, values in found.items() if values}
        # The daily item where it was answered that day; the PEG pain item otherwise.
        if DAILY_PAIN in means:
            means["pain"] = means.pop(DAILY_PAIN)
        day_values[day] = means
        for symptom in set(itertools.chain.from_iterable(answers["side_effects"])):
            side_effects[symptom].add(day)
        for symptom in set(itertools.chain.from_iterable(answers["withdrawal_symptoms"])):
            withdrawal[symptom].add(day)
        for rated in filter(None, answers["withdrawal_severity"]):  # skips check-ins that rated nothing
            for symptom, rating in rated.items():
                severity[symptom] = max(rating, severity.get(symptom, 0))
        if notes is not None:
            notes.extend((at, "Check-in", note) for at, note in zip(answers["recorded_at"], answers["note"]) if note)

    by_day = {}  # measure → its value on each of the report's days (None: not answered that day)

    def series_of(key):
        if key not in by_day:
            by_day[key] = [day_values[day].get(key) if day in day_values else None for day in day_of.days]
        values = by_day[key]
        present = [v for v in values if v is not None]
        return values, {"key": key, "label": LABELS[key], "days": len(present), "mean": mean(present),
                        "min": min(present, default=None), "max": max(present, default=None)}

    charts = []
    for chart_id, title, scale_note, keys, low, high in TREND_CHARTS:
        series = [{**summary, "values": values} for values, summary in map(series_of, keys)]
        if chart_id == "screens" and not any(s["days"] for s in series):
            continue  # never answered: no empty chart
        charts.append({"id": chart_id, "title": title, "note": scale_note, "kind": "line", "min": low,
                       "max": high, "limit": POSITIVE_SCREEN if chart_id == "screens" else None,
                       "limit_label": "positive screen" if chart_id == "screens" else None, "series": series})
    measures = [[m for key, _, scale in group if (m := {**series_of(key)[1], "scale": scale})["days"]]
                for group in MEASURE_GROUPS]

    # Liver warning signs can only come in as side effects today; look in both lists anyway, as a
    # missed sign costs far more than a second look.
    def reported(signs):
        found = {sign: sorted(side_effects.get(sign, set()) | withdrawal.get(sign, set())) for sign in signs}
        return [{"name": words(sign), "dates": dates} for sign, dates in found.items() if dates]

    liver = reported(LIVER_WARNING_SIGNS)
    emergency = reported(EMERGENCY_SIGNS)
    flagged = LIVER_WARNING_SIGNS + EMERGENCY_SIGNS
    return day_values, {
        "checkin_count": checkin_count,
        "checkin_days": len(day_values),
        "trend_charts": charts,
        "measures": [group for group in measures if group],
        "liver_warning_signs": liver,
        "side_effects": symptom_flags(side_effects, exclude=flagged),
        "withdrawal_symptoms": symptom_flags(withdrawal, exclude=flagged, severity=severity),
        "safety": {
            "emergency_signs": emergency,
            "liver_days": len({date for sign in liver for date in sign["dates"]}),
            "screens": [{"name": {"phq2": "PHQ-2 (depression)", "gad2": "GAD-2 (anxiety)"}[name],
                         "answered": found["answered"], "positive_days": sorted(found["positive_days"]),
                         "latest": found["latest"]} for name, found in screens.items()],
        },
    }


def symptom_flags(days_by_symptom, exclude=(), severity=None):
    """Each reported symptom with the days it was reported on (and its highest rating, where the
    person rated it), most frequent first."""
    flags = [{"name": words(symptom), "dates": sorted(dates), "severity": (severity or {}).get(symptom)}
             for symptom, dates in days_by_symptom.items() if symptom not in exclude]
    flags.sort(key=lambda flag: (-len(flag["dates"]), flag["name"]))
    return {"shown": flags[:SYMPTOMS_SHOWN], "more": [(flag["name"], len(flag["dates"])) for flag in flags[SYMPTOMS_SHOWN:]]}


def adherence_part(patient, since, until, kind):
    """What became of the `kind` reminders (check-in or dose) due in the range, counted by outcome."""
    occurrences = read(sa.select(
        ReminderOccurrence.status, ReminderOccurrence.snooze_count, ReminderOccurrence.sent_at,
        ReminderOccurrence.dismissed_at,
    ).where(ReminderOccurrence.user_id == patient.id, ReminderOccurrence.kind == kind,
            ReminderOccurrence.due_at >= since, ReminderOccurrence.due_at < until))
    # The occurrence's own rule, applied to the only columns it reads: a year of whole ORM
    # objects would cost ten times as much.
    counts = Counter(ReminderOccurrence.adherence.fget(occurrence) for occurrence in occurrences)
    order = list(ADHERENCE_ORDER) + sorted(set(counts) - set(ADHERENCE_ORDER))
    return {"total": len(occurrences), "counts": [(outcome, counts[outcome]) for outcome in order if counts[outcome]]}


# ── doses ─────────────────────────────────────────────────────────────────────────────────────

def form_limits(plan, kind, form, unit):
    """The amounts, in `unit`, of the person's own daily limits for one substance that cover `form`
    (the plan's, read as the daily-limit rule reads it). A limit in another measure is left out:
    capsules are never compared with grams. A limit that names no forms covers each form, and each
    form is compared with it on its own."""
    return [amount for limit in daily_limits(plan, kind) if not limit.get("forms") or form in limit["forms"]
            if (amount := convert(limit["amount"], limit["unit"], unit)) is not None]


@dataclasses.dataclass
class Row:
    """One substance in one form and one unit (g, mg and mcg of one form are one row)."""

    kind: str
    form: str | None
    unit: str
    per_day: dict = dataclasses.field(default_factory=dict)
    doses: int = 0
    products: Counter = dataclasses.field(default_factory=Counter)

    @property
    def label(self):
        return f"{substance_label(self.kind)}, {form_label(self.form)}" if self.form else substance_label(self.kind)

    @property
    def id(self):
        return f"dose-{self.kind}-{self.form or 'none'}-{self.unit}"


def counted_as(kind, form):
    """The substance a dose's amount counts under: a 7-OH concentrate is kratom's whatever kind it
    was logged under (the form alone says what it is), as the daily-limit rule counts it."""
    return "kratom" if form == SEVEN_OH else kind


def doses_part(patient, plan, since, until, day_of, notes):
    """Amounts per local day by substance, form and unit, one chart each with the person's own
    daily limit drawn in where one covers it, and the dose lines of the safety summary."""
    rows = read(sa.select(
        Dose.taken_at, Dose.substance_kind, Dose.form, Dose.product, Dose.amount, Dose.unit,
        Dose.note if notes is not None else sa.null(),
    ).where(
        Dose.user_id == patient.id, Dose.deleted_at.is_(None),
        Dose.taken_at >= since, Dose.taken_at < until).order_by(Dose.taken_at))

    # The row each substance, form and unit logged is added to: the substance it counts under, and
    # for a mass the unit most logged in that form (g, mg and mcg of one form are one measure).
    logged = Counter((kind, form, unit) for _, kind, form, _, _, unit, _ in rows)
    mass_units = defaultdict(Counter)
    for (logged_kind, form, unit), count in logged.items():
        if unit in MASS_IN_MG:
            mass_units[(counted_as(logged_kind, form), form)][unit] += count
    measured = {}  # (kind, form, unit) → Row
    added_to = {}
    for (logged_kind, form, unit), count in logged.items():
        kind = counted_as(logged_kind, form)
        key = (kind, form, mass_units[(kind, form)].most_common(1)[0][0] if unit in MASS_IN_MG else unit)
        row = added_to[(logged_kind, form, unit)] = measured.setdefault(key, Row(*key))
        row.doses += count

    for day, day_rows in day_of.split(rows):
        for taken_at, logged_kind, form, product, amount, unit, note in day_rows:
            row = added_to[(logged_kind, form, unit)]
            row.per_day[day] = row.per_day.get(day, 0.0) + convert(amount, unit, row.unit)
            if product:
                row.products[product] += 1
            if note:
                notes.append((taken_at, f"Dose ({substance_label(logged_kind)})", note))
    dose_days = defaultdict(set)  # substance → days with at least one dose of it
    for row in measured.values():
        dose_days[row.kind].update(row.per_day)
    seven_oh_days = {day for row in measured.values() if row.form == SEVEN_OH for day in row.per_day}

    charts, substances, over_limit = [], [], []
    for key in sorted(measured, key=lambda key: (key[0] != "kratom", key[0], key[1] or "", key[2])):
        row = measured[key]
        amounts = list(row.per_day.values())
        limit = min(form_limits(plan, row.kind, row.form, row.unit), default=None)
        limit = round(limit, 9) if limit is not None else None
        days_over = sorted(day for day, amount in row.per_day.items() if limit is not None and round(amount, 9) > limit)
        values = [round(row.per_day[day], 3) if day in row.per_day else None for day in day_of.days]
        charts.append({"id": row.id, "title": f"{row.label} ({row.unit} per day)", "note": None, "kind": "bars",
                       "min": 0, "max": None, "limit": limit, "limit_label": "own daily limit" if limit else None,
                       "series": [{"key": "amount", "label": f"{row.label}, {row.unit}", "values": values,
                                   "days": len(amounts)}]})
        substances.append({
            "label": row.label, "kind": row.kind, "form": row.form, "unit": row.unit, "doses": row.doses,
            "days": len(amounts), "total": round(sum(amounts), 3),
            "mean_per_day_taken": round(statistics.fmean(amounts), 2), "max_per_day": round(max(amounts), 3),
            "limit": limit, "days_over_limit": len(days_over) if limit is not None else None,
            "products": [name for name, _ in row.products.most_common(3)],
        })
        if limit is not None:
            over_limit.append({"label": row.label, "limit": limit, "unit": row.unit, "days": days_over,
                               "days_taken": len(amounts)})

    return dose_days, {"dose_count": len(rows), "dose_charts": charts, "substances": substances, "safety": {
        "over_limit": over_limit,
        "seven_oh_days": sorted(seven_oh_days),
        "combinations": combinations(rows, plan, day_of),
        "kratom_trend": kratom_trend(measured, day_of.days),
    }}


def combinations(rows, plan, day_of):
    """The local days a kratom dose (a 7-OH concentrate included) was logged within the plan's
    combination window of an opioid, a sedative or alcohol, and with which of them."""
    window = dt.timedelta(hours=plan["combination_window_hours"])
    kratom = [taken_at for taken_at, kind, form, _, _, _, _ in rows if counted_as(kind, form) == "kratom"]
    sedating = [(taken_at, kind) for taken_at, kind, form, _, _, _, _ in rows
                if kind in SEDATING_KINDS and form != SEVEN_OH]
    days, partners = set(), defaultdict(set)
    # The kratom doses around each sedating one: the same pairs as the other way round, and the
    # fewer searches for a person who logs kratom most.
    for taken_at, kind in sedating:
        first = bisect.bisect_left(kratom, taken_at - window)
        for kratom_at in kratom[first:bisect.bisect_right(kratom, taken_at + window)]:
            day = day_of(min(kratom_at, taken_at))
            days.add(day)
            partners[kind].add(day)
    return {"window_hours": plan["combination_window_hours"], "days": sorted(days),
            "partners": [{"label": substance_label(kind), "days": len(found)}
                         for kind, found in sorted(partners.items(), key=lambda item: (-len(item[1]), item[0]))]}


def kratom_trend(measured, days):
    """Kratom per form and unit over the report's last four weeks against the four before:
    days taken and the mean amount on those days (per logged day, so a gap in logging does not
    read as less use). Weeks before the report's range are not read: they are not shared."""
    if not days:
        return []
    last = days[-1]
    recent_first = last - dt.timedelta(weeks=TREND_WEEKS) + dt.timedelta(days=1)
    previous_first = recent_first - dt.timedelta(weeks=TREND_WEEKS)
    trend = []
    for row in measured.values():
        if row.kind != "kratom":
            continue
        windows = []
        for first, end in ((previous_first, recent_first), (recent_first, last + dt.timedelta(days=1))):
            covered = sum(1 for day in days if first <= day < end)
            amounts = [amount for day, amount in row.per_day.items() if first <= day < end]
            windows.append({"covered": covered, "days": len(amounts),
                            "mean": round(statistics.fmean(amounts), 2) if amounts else None})
        previous, recent = windows
        change = None
        if previous["mean"] and recent["mean"] is not None:
            change = round((recent["mean"] / previous["mean"] - 1) * 100)
        trend.append({"label": row.label, "unit": row.unit, "previous": previous, "recent": recent, "change": change})
    return sorted(trend, key=lambda item: item["label"])


# ── prompts ───────────────────────────────────────────────────────────────────────────────────

def message_shown(prompt, scopes):
    shown = shown_to(prompt, scopes)
    return shown["message"] if isinstance(shown, dict) else prompt.message


def prompts_part(patient, since, until, tz, scopes):
    """The monitoring prompts that fired in the range: counted by rule, the latest shown in full (their
    messages withheld where they draw on data the link does not share)."""
    prompts = db.session.execute(sa.select(
        Prompt.id, Prompt.created_at, Prompt.rule, Prompt.severity, Prompt.message, Prompt.acknowledged_at).where(
        Prompt.user_id == patient.id, Prompt.created_at >= since, Prompt.created_at < until)
        .order_by(Prompt.created_at.desc())).all()
    by_rule = Counter((prompt.rule, prompt.severity) for prompt in prompts)
    most_severe_first = sorted(by_rule.items(), key=lambda item: (SEVERITY_RANK.get(item[0][1], 1), -item[1]))
    return {
        "count": len(prompts),
        "by_rule": [{"rule": words(rule), "severity": severity, "count": count}
                    for (rule, severity), count in most_severe_first],
        "shown": [{"at": prompt.created_at.astimezone(tz), "rule": words(prompt.rule), "severity": prompt.severity,
                   "message": message_shown(prompt, scopes), "acknowledged": prompt.acknowledged_at is not None}
                  for prompt in prompts[:PROMPTS_SHOWN]],
    }


# ── days with and without ─────────────────────────────────────────────────────────────────────

def with_without(day_values, dose_days, days):
    """For each substance, each measure's mean daily value on days with a dose of it logged and on
    the other days with a check-in; and on the local day after a day with a dose and after a day
    without one. Plain averages of what was logged, not effects. A substance logged on every day
    with a check-in (or on none) has nothing to be compared with: it is named, not tabled."""
    checkin_days = set(day_values)
    in_range = set(days)
    one_day = dt.timedelta(days=1)
    table, every_day = [], []
    for substance, taken in sorted(dose_days.items()):
        if not checkin_days - taken or not checkin_days & taken:
            every_day.append(substance_label(substance))
            continue
        def averages(chosen, key):
            found = [day_values[day][key] for day in chosen if key in day_values[day]]
            return mean(found), len(found)

        same_with, same_without = checkin_days & taken, checkin_days - taken
        # Days whose previous local day is in the range too: "the day after" is known to be after
        # a day with or without a dose only then.
        next_days = {day for day in checkin_days if day - one_day in in_range}
        after_with = {day for day in next_days if day - one_day in taken}
        rows = []
        for key in COMPARED:
            (with_, with_days), (without, without_days) = averages(same_with, key), averages(same_without, key)
            (after, after_days), (after_none, after_none_days) = (averages(after_with, key),
                                                                  averages(next_days - after_with, key))
            if with_days or without_days:  # a measure never answered has no row
                rows.append({"label": LABELS[key], "with": with_, "with_days": with_days, "without": without,
                             "without_days": without_days, "next_with": after, "next_with_days": after_days,
                             "next_without": after_none, "next_without_days": after_none_days})
        table.append({"substance": substance_label(substance), "rows": rows})
    return {"tables": table, "not_compared": every_day}
