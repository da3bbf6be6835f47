"""A patient's data over a time range in a few numbers: what a caregiver or clinician reads first."""

import datetime as dt
import statistics
from collections import Counter

import sqlalchemy as sa

from backend.checkins.models import ADHD_ITEMS, CheckIn
from backend.checkins.vocabulary import EMERGENCY_SIGNS, LIVER_WARNING_SIGNS
from backend.domain import SCREENS, local_date, positive_screen, zone
from backend.doses.services import daily_totals
from backend.extensions import db
from backend.reminders.models import ReminderOccurrence

DEFAULT_SPAN = dt.timedelta(days=30)


def _mean(values):
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 2) if values else None


def screen_summary(rows, name):
    """How often a screen (PHQ-2 or GAD-2) was answered in the range, how often positive (3 or
    more), and the latest total."""
    scores = [score for checkin in rows if (score := getattr(checkin, f"{name}_score")) is not None]
    return {"answered": len(scores), "positive": sum(1 for score in scores if positive_screen(score)),
            "latest": scores[-1] if scores else None}


def checkin_summary(patient, since, until):
    rows = db.session.scalars(sa.select(CheckIn).where(
        CheckIn.user_id == patient.id, CheckIn.deleted_at.is_(None),
        CheckIn.recorded_at >= since, CheckIn.recorded_at < until).order_by(CheckIn.recorded_at)).all()
    side_effects = Counter(s for c in rows for s in c.side_effects)
    withdrawal = Counter(s for c in rows for s in c.withdrawal_symptoms)
    screens = {name: screen_summary(rows, name) for name in SCREENS}
    return {
        "count": len(rows),
        "mean_peg": _mean(c.peg_score for c in rows),
        "mean_pain": _mean(c.pain for c in rows),
        "mean_pain_today": _mean(c.pain_today for c in rows),
        "mean_sleep_quality": _mean(c.sleep_quality for c in rows),
        "screens": screens,
        # What a reader must not miss: the screens positive at least once in the range.
        "positive_screens": [name for name, found in screens.items() if found["positive"]],
        "mean_adhd": {item: _mean(getattr(c, item) for c in rows) for item in ADHD_ITEMS},
        "mean_mood": _mean(c.mood for c in rows),
        "mean_sleep_hours": _mean(c.sleep_hours for c in rows),
        "side_effects": dict(side_effects.most_common()),
        "withdrawal_symptoms": dict(withdrawal.most_common()),
        "liver_warning_signs": {s: side_effects[s] for s in LIVER_WARNING_SIGNS if side_effects[s]},
        "emergency_signs": {s: side_effects[s] for s in EMERGENCY_SIGNS if side_effects[s]},
    }


def adherence_summary(patient, since, until):
    occurrences = db.session.scalars(sa.select(ReminderOccurrence).where(
        ReminderOccurrence.user_id == patient.id, ReminderOccurrence.due_at >= since,
        ReminderOccurrence.due_at < until)).all()
    return dict(Counter(o.adherence for o in occurrences))


def summarize(patient, since, until, scopes):
    """Who, over which range, and a section for each of the `checkins` and `doses` scopes given."""
    tz = zone(patient.timezone)
    summary = {"patient": patient, "since": since, "until": until, "timezone": patient.timezone}
    if "checkins" in scopes:
        summary["checkins"] = checkin_summary(patient, since, until)
        summary["reminders"] = adherence_summary(patient, since, until)
    if "doses" in scopes:
        first, last = local_date(since, tz), local_date(until - dt.timedelta(microseconds=1), tz)
        summary["doses"] = {"daily_totals": [
            {**item, "date": item["date"].isoformat()} for item in daily_totals(patient, first, last)["items"]]}
    return summary
