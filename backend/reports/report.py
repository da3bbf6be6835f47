"""The clinician report behind a report link: a patient's data over a range, per local day.

One query per table, then all grouping in Python in the patient's time zone: a year of a heavy
user's data is a few thousand rows, and reading them once is cheaper than asking the database
for daily aggregates in a zone it would have to be taught. The result is a plain dict the page
template (and the chart data it embeds) reads; it states what was logged and draws no conclusion.
"""

import bisect
import datetime as dt
import statistics
from collections import Counter, defaultdict

import sqlalchemy as sa

from backend.checkins.models import ADHD_ITEMS, CheckIn
from backend.checkins.vocabulary import LIVER_WARNING_SIGNS
from backend.domain import (PEG_ITEMS, convert, day_start, form_label, local_date, local_days, peg_score,
                            substance_label, words, zone)
from backend.doses.models import Dose
from backend.extensions import db
from backend.monitoring.models import SEVERITIES, Prompt
from backend.monitoring.plan import effective_plan
from backend.reminders.models import ReminderOccurrence
from backend.sqltypes import utcnow

DEFAULT_DAYS = 90
NOTES_SHOWN = 30
PROMPTS_SHOWN = 30

# The per-day values: the trend charts and the table of days with and without each substance both
# read these. The PEG score (derived) and pain come first; the rest are check-in columns.
SYMPTOMS = (
    ("peg_score", "PEG score"),
    ("pain", "Pain"),
    ("focus", "Trouble focusing"),
    ("hyperactivity", "Hyperactivity"),
    ("impulsivity", "Impulsivity"),
    ("restlessness", "Restlessness"),
    ("mood", "Mood"),
    ("sleep_hours", "Sleep hours"),
)
SYMPTOM_LABELS = dict(SYMPTOMS)
TREND_CHARTS = (
    ("pain", "Pain (PEG-3)", "0 none – 10 worst; PEG score = mean of pain and its interference with "
                             "enjoyment and with activity", ("peg_score", "pain"), 0, 10),
    ("adhd", "ADHD symptoms", "how often: 0 never – 4 very often", ADHD_ITEMS, 0, 4),
    ("mood", "Mood", "0 worst – 10 best", ("mood",), 0, 10),
    ("sleep", "Sleep", "hours per night", ("sleep_hours",), 0, None),
)
SEVERITY_RANK = {severity: -n for n, severity in enumerate(SEVERITIES)}  # high first
# The order a reader expects: what happened first, what is still open last.
ADHERENCE_ORDER = ("answered", "missed", "ignored", "snoozed", "expired", "awaiting", "upcoming")


def report_range(link, now, tz):
    """The instants the report covers: the link's fixed range, or the 90 local days up to now.

    A range reaching into the future stops at now: there is nothing logged there yet.
    """
    if link.range_start is None and link.range_end is None:
        first_day = local_date(now, tz) - dt.timedelta(days=DEFAULT_DAYS - 1)
        return day_start(first_day, tz), now
    until = min(link.range_end or now, now)
    since = link.range_start or until - dt.timedelta(days=DEFAULT_DAYS)
    return since, max(since, until)


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


def mean(values):
    return round(statistics.fmean(values), 2) if values else None


def build_report(patient, link, now=None):
    """Everything the report page shows, as a plain dict, within the link's scopes and range."""
    now = now or utcnow()
    tz = zone(patient.timezone)
    since, until = report_range(link, now, tz)
    days = local_days(since, until, tz)
    scopes = set(link.scopes)
    report = {
        "patient_name": patient.display_name or "Patient",
        "timezone": patient.timezone,
        "first_day": days[0] if days else None,
        "last_day": days[-1] if days else None,
        "day_count": len(days),
        "generated_at": now.astimezone(tz),
        "expires_at": link.expires_at.astimezone(tz),
        "label": link.label,
        "scopes": [scope for scope in ("checkins", "doses", "notes", "prompts") if scope in scopes],
        "days": days,
        "charts": [],
        "notes": None,
    }
    notes = [] if "notes" in scopes else None
    day_of = LocalDays(days, tz)
    day_values = None
    if "checkins" in scopes:
        day_values, checkin_part = checkins_part(patient, since, until, day_of, notes)
        report.update(checkin_part)
        report["charts"] += checkin_part["trend_charts"]
        report["adherence"] = adherence_part(patient, since, until)
    if "doses" in scopes:
        dose_days, dose_part = doses_part(patient, since, until, day_of, notes)
        report.update(dose_part)
        report["charts"] += dose_part["dose_charts"]
        if day_values is not None:
            report["with_without"] = with_without(day_values, dose_days)
    if "prompts" in scopes:
        report["prompts"] = prompts_part(patient, since, until, tz)
    if notes is not None:
        notes.sort(key=lambda note: note[0], reverse=True)
        report["notes"] = {"count": len(notes), "shown": [
            {"at": at.astimezone(tz), "kind": kind, "text": text} for at, kind, text in notes[:NOTES_SHOWN]]}
    report["chart_data"] = {
        "days": [day.isoformat() for day in day_of.days],
        "charts": [{key: chart[key] for key in ("id", "title", "kind", "min", "max", "limit", "series")}
                   for chart in report["charts"]],
    }
    return report


def checkins_part(patient, since, until, day_of, notes):
    """Per-day means of each symptom, the trend charts, and which symptoms were reported when."""
    answered = [getattr(CheckIn, key) for key, _ in SYMPTOMS[2:]]
    rows = db.session.execute(sa.select(
        CheckIn.recorded_at, *(getattr(CheckIn, name) for name in PEG_ITEMS), *answered,
        CheckIn.side_effects, CheckIn.withdrawal_symptoms,
        CheckIn.note if notes is not None else sa.null(),  # notes not shared are not even read
    ).where(CheckIn.user_id == patient.id, CheckIn.deleted_at.is_(None),
            CheckIn.recorded_at >= since, CheckIn.recorded_at < until).order_by(CheckIn.recorded_at)).all()

    readings = {}  # day → that day's values, one list per symptom in SYMPTOMS order
    side_effects, withdrawal = defaultdict(set), defaultdict(set)  # symptom → days reported
    for recorded_at, pain, enjoyment, activity, *answers, side, withdrawn, note in rows:
        day = day_of(recorded_at)
        values = readings.get(day)
        if values is None:
            values = readings[day] = [[] for _ in SYMPTOMS]
        if pain is not None:
            values[1].append(pain)
        if (peg := peg_score(pain, enjoyment, activity, places=None)) is not None:
            values[0].append(peg)
        for position, answer in enumerate(answers, start=2):
            if answer is not None:
                values[position].append(answer)
        for symptom in side:
            side_effects[symptom].add(day)
        for symptom in withdrawn:
            withdrawal[symptom].add(day)
        if note:
            notes.append((recorded_at, "Check-in", note))

    day_values = {day: {key: mean(found) for (key, _), found in zip(SYMPTOMS, values) if found}
                  for day, values in readings.items()}
    charts = []
    for chart_id, title, scale_note, keys, low, high in TREND_CHARTS:
        series = []
        for key in keys:
            values = [day_values.get(day, {}).get(key) for day in day_of.days]
            present = [v for v in values if v is not None]
            series.append({"key": key, "label": SYMPTOM_LABELS[key], "values": values, "days": len(present),
                           "mean": mean(present), "min": min(present, default=None),
                           "max": max(present, default=None)})
        charts.append({"id": chart_id, "title": title, "note": scale_note, "kind": "line", "min": low,
                       "max": high, "limit": None, "series": series})

    # Liver warning signs can only come in as side effects today; look in both lists anyway, as a
    # missed sign costs far more than a second look.
    liver = {sign: sorted(side_effects.get(sign, set()) | withdrawal.get(sign, set()))
             for sign in LIVER_WARNING_SIGNS}
    return day_values, {
        "checkin_count": len(rows),
        "checkin_days": len(readings),
        "trend_charts": charts,
        "liver_warning_signs": [{"name": words(sign), "dates": dates} for sign, dates in liver.items() if dates],
        "side_effects": symptom_flags(side_effects, exclude=LIVER_WARNING_SIGNS),
        "withdrawal_symptoms": symptom_flags(withdrawal, exclude=LIVER_WARNING_SIGNS),
    }


def symptom_flags(days_by_symptom, exclude=()):
    """Each reported symptom with the days it was reported on, most frequent first."""
    flags = [{"name": words(symptom), "dates": sorted(dates)}
             for symptom, dates in days_by_symptom.items() if symptom not in exclude]
    return sorted(flags, key=lambda flag: (-len(flag["dates"]), flag["name"]))


def adherence_part(patient, since, until):
    """What became of the check-in reminders due in the range, counted by outcome."""
    occurrences = db.session.execute(sa.select(
        ReminderOccurrence.status, ReminderOccurrence.snooze_count, ReminderOccurrence.sent_at,
        ReminderOccurrence.dismissed_at,
    ).where(ReminderOccurrence.user_id == patient.id, ReminderOccurrence.kind == "checkin",
            ReminderOccurrence.due_at >= since, ReminderOccurrence.due_at < until)).all()
    # The occurrence's own rule, applied to the only columns it reads: a year of whole ORM
    # objects would cost ten times as much.
    counts = Counter(ReminderOccurrence.adherence.fget(occurrence) for occurrence in occurrences)
    order = list(ADHERENCE_ORDER) + sorted(set(counts) - set(ADHERENCE_ORDER))
    return {"total": len(occurrences), "counts": [(outcome, counts[outcome]) for outcome in order if counts[outcome]]}


def daily_limits(patient):
    """The person's own daily limit per substance, from their plan: {kind: {"amount", "unit"}}."""
    return {kind: settings["daily_limit"] for kind, settings in effective_plan(patient)["substances"].items()
            if settings and settings.get("daily_limit")}


def doses_part(patient, since, until, day_of, notes):
    """Amounts per local day by substance and unit, one chart each with the person's own daily
    limit drawn in, and the days each substance was taken.

    Amounts in a unit the substance's limit can be converted to (g, mg, mcg) are added up in the
    limit's unit, as the daily-limit rule does; others keep their own unit and chart.
    """
    limits = daily_limits(patient)
    rows = db.session.execute(sa.select(
        Dose.taken_at, Dose.substance_kind, Dose.form, Dose.product, Dose.amount, Dose.unit,
        Dose.note if notes is not None else sa.null(),
    ).where(
        Dose.user_id == patient.id, Dose.deleted_at.is_(None),
        Dose.taken_at >= since, Dose.taken_at < until).order_by(Dose.taken_at)).all()

    totals = defaultdict(dict)  # (substance, unit) → day → amount
    doses = Counter()
    forms, products = defaultdict(Counter), defaultdict(Counter)
    dose_days = defaultdict(set)  # substance → days with at least one dose of it
    for taken_at, substance, form, product, amount, unit, note in rows:
        day = day_of(taken_at)
        limit = limits.get(substance)
        if limit is not None and (converted := convert(amount, unit, limit["unit"])) is not None:
            unit, amount = limit["unit"], converted
        per_day = totals[(substance, unit)]
        per_day[day] = per_day.get(day, 0.0) + amount
        doses[(substance, unit)] += 1
        dose_days[substance].add(day)
        forms[substance][form] += 1
        products[substance][product] += 1
        if note:
            notes.append((taken_at, f"Dose ({substance_label(substance)})", note))

    charts, substances = [], []
    for (substance, unit), per_day in sorted(totals.items()):
        label = substance_label(substance)
        values = [round(per_day[day], 3) if day in per_day else None for day in day_of.days]
        amounts = list(per_day.values())
        limit = limits.get(substance)
        limit = limit["amount"] if limit and limit["unit"] == unit else None
        charts.append({"id": f"dose-{substance}-{unit}", "title": f"{label} ({unit} per day)", "note": None,
                       "kind": "bars", "min": 0, "max": None, "limit": limit,
                       "series": [{"key": "amount", "label": f"{label}, {unit}", "values": values,
                                   "days": len(amounts)}]})
        substances.append({
            "label": label, "unit": unit, "doses": doses[(substance, unit)], "days": len(amounts),
            "total": round(sum(amounts), 3), "mean_per_day_taken": round(statistics.fmean(amounts), 2),
            "max_per_day": round(max(amounts), 3), "limit": limit,
            "days_over_limit": sum(1 for amount in amounts if amount > limit) if limit is not None else None,
            "forms": [form_label(form) for form, _ in forms[substance].most_common() if form],
            "products": [name for name, _ in products[substance].most_common() if name][:5],
        })
    return dose_days, {"dose_count": len(rows), "dose_charts": charts, "substances": substances}


def prompts_part(patient, since, until, tz):
    """The monitoring prompts that fired in the range: counted by rule, the latest shown in full."""
    prompts = db.session.execute(sa.select(
        Prompt.created_at, Prompt.rule, Prompt.severity, Prompt.message, Prompt.acknowledged_at).where(
        Prompt.user_id == patient.id, Prompt.created_at >= since, Prompt.created_at < until)
        .order_by(Prompt.created_at.desc())).all()
    by_rule = Counter((prompt.rule, prompt.severity) for prompt in prompts)
    most_severe_first = sorted(by_rule.items(), key=lambda item: (SEVERITY_RANK.get(item[0][1], 1), -item[1]))
    return {
        "count": len(prompts),
        "by_rule": [{"rule": words(rule), "severity": severity, "count": count}
                    for (rule, severity), count in most_severe_first],
        "shown": [{"at": prompt.created_at.astimezone(tz), "rule": words(prompt.rule), "severity": prompt.severity,
                   "message": prompt.message, "acknowledged": prompt.acknowledged_at is not None}
                  for prompt in prompts[:PROMPTS_SHOWN]],
    }


def with_without(day_values, dose_days):
    """For each substance, each symptom's mean daily value on days with a dose of it logged and on
    the other days with a check-in: plain averages, not effects."""
    checkin_days = set(day_values)
    table = []
    for substance, taken in sorted(dose_days.items()):
        rows = []
        days_with = [day_values[day] for day in checkin_days & taken]
        days_without = [day_values[day] for day in checkin_days - taken]
        for key, label in SYMPTOMS:
            with_ = [values[key] for values in days_with if key in values]
            without = [values[key] for values in days_without if key in values]
            rows.append({"label": label, "with": mean(with_), "with_days": len(with_),
                         "without": mean(without), "without_days": len(without)})
        table.append({"substance": substance_label(substance), "rows": rows})
    return table
