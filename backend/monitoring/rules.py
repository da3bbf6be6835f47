"""The monitoring rules: each a small function from what just happened to what it observed.

A rule returns Findings; it never advises a dose. Messages say what was seen in the person's own
data and point to their clinician or pharmacist, and to emergency care for emergency signs.
Every rule reads only a bounded window of recent data, so its cost does not grow with history.
"""

import dataclasses
import datetime as dt
import statistics

import sqlalchemy as sa

from backend.checkins.models import ADHD_ITEMS, CheckIn
from backend.doses.models import Dose
from backend.extensions import db
from backend.domain import convert, day_bounds, display_amount, local_date, substance_phrase, zone

CLINICIAN = "Consider talking this over with your clinician or pharmacist."
SEDATING = ("opioid", "benzodiazepine", "alcohol")
LIVER_SIGNS = ("dark_urine", "yellow_skin_or_eyes")


@dataclasses.dataclass(frozen=True)
class Finding:
    rule: str
    subject: str
    severity: str          # info | warning | high
    dedupe_key: str        # one prompt per situation
    message: str
    evidence: dict
    alert_caregivers: bool = False


@dataclasses.dataclass
class Context:
    user: object
    plan: dict
    now: dt.datetime

    @property
    def tz(self):
        return zone(self.user.timezone)

    def local_date(self, instant):
        return local_date(instant, self.tz)

    def day_bounds(self, day):
        return day_bounds(self.tz, day)

    def doses(self, since, until, kinds=None):
        query = sa.select(Dose).where(Dose.user_id == self.user.id, Dose.deleted_at.is_(None),
                                      Dose.taken_at >= since, Dose.taken_at < until)
        if kinds:
            query = query.where(Dose.substance_kind.in_(kinds))
        return db.session.scalars(query.order_by(Dose.taken_at)).all()

    def checkins(self, since, until):
        return db.session.scalars(sa.select(CheckIn).where(
            CheckIn.user_id == self.user.id, CheckIn.deleted_at.is_(None),
            CheckIn.recorded_at >= since, CheckIn.recorded_at < until).order_by(CheckIn.recorded_at)).all()

    def local_time(self, instant):
        return instant.astimezone(self.tz).strftime("%a %d %b %H:%M")


def substance_settings(ctx, kind):
    return (ctx.plan.get("substances") or {}).get(kind) or {}


# 1 ─ daily total above the personal limit ------------------------------------------------------

def daily_limit(ctx, dose):
    """The local day's total of the dose's substance is above the person's own daily limit."""
    limit = substance_settings(ctx, dose.substance_kind).get("daily_limit")
    if not limit:
        return []
    day = ctx.local_date(dose.taken_at)
    total = 0.0
    for other in ctx.doses(*ctx.day_bounds(day), kinds=[dose.substance_kind]):
        amount = convert(other.amount, other.unit, limit["unit"])
        if amount is not None:
            total += amount
    # Rounded, so that 100 mg + 200 mg is the 0.3 g it means, not 0.30000000000000004 g.
    total = round(total, 9)
    if total <= limit["amount"]:
        return []
    name = substance_phrase(dose.substance_kind)
    return [Finding(
        "daily_limit", dose.substance_kind, "warning", f"daily_limit:{dose.substance_kind}:{day.isoformat()}",
        f"Your logged {name} for {day:%a %d %b} adds up to {display_amount(round(total, 3), limit['unit'])}, above the "
        f"daily limit of {display_amount(limit['amount'], limit['unit'])} in your plan. {CLINICIAN}",
        {"date": day.isoformat(), "total": round(total, 6), "unit": limit["unit"], "limit": limit["amount"]})]


# 2 ─ doses closer together than the personal minimum interval ----------------------------------

def min_interval(ctx, dose):
    """Another dose of the same substance within the person's minimum interval of this one."""
    minutes = substance_settings(ctx, dose.substance_kind).get("min_interval_minutes")
    if not minutes:
        return []
    window = dt.timedelta(minutes=minutes)
    close = [other for other in ctx.doses(dose.taken_at - window + dt.timedelta(microseconds=1),
                                          dose.taken_at + window, kinds=[dose.substance_kind])
             if other.id != dose.id]
    if not close:
        return []
    nearest = min(close, key=lambda other: abs(other.taken_at - dose.taken_at))
    first, second = sorted((nearest, dose), key=lambda d: (d.taken_at, str(d.id)))
    gap = int((second.taken_at - first.taken_at).total_seconds() // 60)
    name = substance_phrase(dose.substance_kind)
    return [Finding(
        "min_interval", dose.substance_kind, "warning", f"min_interval:{first.id}:{second.id}",
        f"You logged {name} at {ctx.local_time(first.taken_at)} and again {gap} minutes later, sooner than the "
        f"{minutes} minutes in your plan. {CLINICIAN}",
        {"dose_ids": [str(first.id), str(second.id)], "minutes_apart": gap, "min_interval_minutes": minutes})]


# 3 ─ escalating kratom use -----------------------------------------------------------------------

def escalation(ctx, dose):
    """The last 7 days' mean daily kratom amount is at least 25 % above the 21 days before."""
    if dose.substance_kind != "kratom":
        return []
    today = ctx.local_date(ctx.now)
    recent_first = today - dt.timedelta(days=6)
    prior_first = recent_first - dt.timedelta(days=21)
    since, _ = ctx.day_bounds(prior_first)
    _, until = ctx.day_bounds(today)
    per_day = {}
    for other in ctx.doses(since, until, kinds=["kratom"]):
        grams = convert(other.amount, other.unit, "g")
        if grams is not None:
            day = ctx.local_date(other.taken_at)
            per_day[day] = per_day.get(day, 0.0) + grams
    recent = [total for day, total in per_day.items() if day >= recent_first]
    prior = [total for day, total in per_day.items() if day < recent_first]
    # Enough data: most days of each window logged, so a gap in logging is not read as a change.
    if len(recent) < 4 or len(prior) < 12:
        return []
    recent_mean, prior_mean = sum(recent) / 7, sum(prior) / 21
    percent = ctx.plan["escalation_percent"]
    if recent_mean < prior_mean * (1 + percent / 100):
        return []
    rise = round((recent_mean / prior_mean - 1) * 100)
    return [Finding(
        "escalation", "kratom", "warning", f"escalation:kratom:{today.isoformat()}",
        f"Your logged kratom over the last 7 days averages {recent_mean:.1f} g a day, {rise} % more than the "
        f"{prior_mean:.1f} g a day of the 21 days before. Rising use can come with dependence and withdrawal. "
        f"{CLINICIAN}",
        {"recent_daily_mean_g": round(recent_mean, 3), "prior_daily_mean_g": round(prior_mean, 3),
         "percent_rise": rise})]


# 4 ─ risky combinations and concentrated 7-OH ---------------------------------------------------

def combination(ctx, dose):
    """Kratom within hours of a sedating substance or a stimulant; any concentrated 7-OH product."""
    findings = []
    # The form alone says it: a 7-OH product logged as "other" is no less potent.
    if dose.form == "concentrate_7oh":
        findings.append(Finding(
            "concentrated_7oh", "kratom", "high", f"concentrated_7oh:{dose.id}",
            f"You logged a concentrated 7-hydroxymitragynine (7-OH) product at {ctx.local_time(dose.taken_at)}. "
            "7-OH is far more potent at the opioid receptor than kratom leaf, and the US FDA has warned about it. "
            "If you or someone with you is very drowsy, hard to wake or breathing slowly, call emergency services "
            f"now. {CLINICIAN}",
            {"dose_id": str(dose.id)}, alert_caregivers=True))
    partners = (SEDATING + ("adhd_stimulant",)) if dose.substance_kind == "kratom" else (
        ("kratom",) if dose.substance_kind in SEDATING + ("adhd_stimulant",) else ())
    if not partners:
        return findings
    window = dt.timedelta(hours=ctx.plan["combination_window_hours"])
    for other in ctx.doses(dose.taken_at - window, dose.taken_at + window + dt.timedelta(microseconds=1),
                           kinds=list(partners)):
        kratom, partner = (dose, other) if dose.substance_kind == "kratom" else (other, dose)
        hours = abs(kratom.taken_at - partner.taken_at).total_seconds() / 3600
        if partner.substance_kind in SEDATING:
            findings.append(Finding(
                "combination", partner.substance_kind, "high", f"combination:{partner.id}",
                f"You logged kratom and {substance_phrase(partner.substance_kind)} {hours:.1f} hours apart "
                f"({ctx.local_time(min(kratom.taken_at, partner.taken_at))}). Together they can slow breathing "
                "dangerously; most kratom-related deaths involved such combinations. If you or someone with you is "
                "very drowsy, hard to wake or breathing slowly, call emergency services now. "
                f"{CLINICIAN}",
                {"dose_ids": [str(kratom.id), str(partner.id)], "hours_apart": round(hours, 2)},
                alert_caregivers=True))
        else:
            findings.append(Finding(
                "combination", partner.substance_kind, "warning", f"combination:{partner.id}",
                f"You logged kratom and an ADHD stimulant {hours:.1f} hours apart. Together they can raise heart "
                f"rate and blood pressure. {CLINICIAN}",
                {"dose_ids": [str(kratom.id), str(partner.id)], "hours_apart": round(hours, 2)}))
    return findings


# 5 ─ worsening pain or ADHD symptoms --------------------------------------------------------------

def _daily_means(ctx, checkins, score):
    per_day = {}
    for checkin in checkins:
        value = score(checkin)
        if value is not None:
            per_day.setdefault(ctx.local_date(checkin.recorded_at), []).append(value)
    return {day: statistics.fmean(values) for day, values in per_day.items()}


def _adhd_mean(checkin):
    values = [getattr(checkin, item) for item in ADHD_ITEMS if getattr(checkin, item) is not None]
    return statistics.fmean(values) if values else None


WORSENING_MEASURES = {
    # measure: (score of one check-in, how much above baseline counts as worse, scale)
    "pain": (lambda c: c.peg_score, 1.0, "PEG pain score (0–10)"),
    "adhd": (_adhd_mean, 0.5, "ADHD symptom score (0–4)"),
}


def worsening(ctx, checkin):
    """The daily mean of pain (PEG) or of the ADHD items is worse than the person's own 14-day
    baseline on the last 3 days running."""
    days_running, baseline_days = ctx.plan["worsening_days"], ctx.plan["baseline_days"]
    last_day = ctx.local_date(checkin.recorded_at)
    first_recent = last_day - dt.timedelta(days=days_running - 1)
    first_baseline = first_recent - dt.timedelta(days=baseline_days)
    rows = ctx.checkins(ctx.day_bounds(first_baseline)[0], ctx.day_bounds(last_day)[1])
    findings = []
    for measure, (score, margin, label) in WORSENING_MEASURES.items():
        means = _daily_means(ctx, rows, score)
        baseline = [value for day, value in means.items() if day < first_recent]
        recent = [means.get(first_recent + dt.timedelta(days=i)) for i in range(days_running)]
        if len(baseline) < baseline_days // 2 or any(value is None for value in recent):
            continue
        reference = statistics.fmean(baseline)
        if all(value >= reference + margin for value in recent):
            findings.append(Finding(
                "worsening", measure, "warning", f"worsening:{measure}:{last_day.isoformat()}",
                f"Your {label} has been higher than your own {baseline_days}-day average of {reference:.1f} on "
                f"{days_running} days running ({', '.join(f'{v:.1f}' for v in recent)}). {CLINICIAN}",
                {"baseline": round(reference, 2), "recent": [round(v, 2) for v in recent],
                 "last_day": last_day.isoformat()}))
    return findings


# 6 ─ withdrawal ----------------------------------------------------------------------------------

def withdrawal(ctx, checkin):
    """Three or more withdrawal symptoms in one check-in, or a count rising over 3 check-ins."""
    threshold = ctx.plan["withdrawal_symptom_count"]
    count = len(checkin.withdrawal_symptoms)
    if count >= threshold:
        return [Finding(
            "withdrawal", "symptoms", "warning", f"withdrawal:{checkin.id}",
            f"Your check-in of {ctx.local_time(checkin.recorded_at)} lists {count} withdrawal symptoms "
            f"({', '.join(s.replace('_', ' ') for s in checkin.withdrawal_symptoms)}). {CLINICIAN}",
            {"checkin_id": str(checkin.id), "symptoms": list(checkin.withdrawal_symptoms)})]
    recent = db.session.scalars(sa.select(CheckIn).where(
        CheckIn.user_id == ctx.user.id, CheckIn.deleted_at.is_(None), CheckIn.recorded_at <= checkin.recorded_at)
        .order_by(CheckIn.recorded_at.desc()).limit(3)).all()
    counts = [len(c.withdrawal_symptoms) for c in reversed(recent)]
    if len(counts) == 3 and counts[0] < counts[1] < counts[2]:
        return [Finding(
            "withdrawal", "rising", "warning", f"withdrawal_rising:{checkin.id}",
            f"The number of withdrawal symptoms in your last three check-ins has risen ({' → '.join(map(str, counts))}). "
            f"{CLINICIAN}",
            {"checkin_ids": [str(c.id) for c in reversed(recent)], "counts": counts})]
    return []


# 7 ─ liver warning signs -------------------------------------------------------------------------

def liver(ctx, checkin):
    """Dark urine or yellow skin or eyes (with or without upper right belly pain): seek care today."""
    signs = [s for s in checkin.side_effects if s in LIVER_SIGNS]
    if not signs:
        return []
    seen = signs + [s for s in checkin.side_effects if s == "upper_right_belly_pain"]
    day = ctx.local_date(checkin.recorded_at)
    return [Finding(
        "liver", "liver", "high", f"liver:{day.isoformat()}",
        f"Your check-in of {ctx.local_time(checkin.recorded_at)} notes {', '.join(s.replace('_', ' ') for s in seen)}. "
        "These can be signs of liver injury, which has been reported with kratom. Please seek medical care today, "
        "and tell them about every substance you use, kratom included.",
        {"checkin_id": str(checkin.id), "signs": seen}, alert_caregivers=True)]


# 7b ─ slowed breathing ------------------------------------------------------------------------------

def breathing(ctx, checkin):
    """Slowed breathing noted in a check-in: an emergency sign with opioid-acting substances."""
    if "slowed_breathing" not in checkin.side_effects:
        return []
    return [Finding(
        "breathing", "breathing", "high", f"breathing:{checkin.id}",
        f"Your check-in of {ctx.local_time(checkin.recorded_at)} notes slowed breathing. With kratom, opioids, "
        "benzodiazepines or alcohol this can become dangerous quickly. If breathing is slow or shallow now, or "
        "someone is very drowsy or hard to wake, call emergency services. Tell your clinician about it today.",
        {"checkin_id": str(checkin.id)}, alert_caregivers=True)]


# 8 ─ missed check-ins ----------------------------------------------------------------------------

def missed_checkins(ctx, last_checkin_at, reminders_since):
    """No check-in for 48 hours while check-in reminders are active."""
    hours = ctx.plan["missed_checkin_hours"]
    reference = max(filter(None, (last_checkin_at, reminders_since)))
    if ctx.now - reference < dt.timedelta(hours=hours):
        return []
    # Keyed on the start of the silence: reminders switched on again later start a new one.
    return [Finding(
        "missed_checkins", "checkins", "warning", f"missed_checkins:{reference.isoformat()}",
        f"No check-in has been recorded for {hours} hours while your check-in reminders are on. "
        "If something is wrong, your clinician or the people you share with can help.",
        {"last_checkin_at": last_checkin_at.isoformat() if last_checkin_at else None}, alert_caregivers=True)]


def missed_dose(ctx, occurrence):
    """A dose reminder the patient chose to share was not confirmed within its window."""
    window = occurrence.schedule.confirm_within_minutes
    return Finding(
        "missed_dose", "dose_reminder", "warning", f"missed_dose:{occurrence.id}",
        f"Your dose reminder of {ctx.local_time(occurrence.due_at)} was not confirmed within {window} minutes. "
        "If you chose to, the people you share with who get alerts are told that an update needs their attention. "
        "If doses are often hard to keep track of, your clinician or pharmacist can help.",
        {"occurrence_id": str(occurrence.id), "due_at": occurrence.due_at.isoformat()}, alert_caregivers=True)


DOSE_RULES = (daily_limit, min_interval, escalation, combination)
CHECKIN_RULES = (worsening, withdrawal, liver, breathing)
