"""Rule defaults and the person's overrides (`/v1/plan`)."""

from backend.extensions import db
from backend.monitoring.models import Plan
from backend.sqltypes import utcnow

DEFAULTS = {
    # Per substance: {"daily_limit": {"amount": 8, "unit": "g"}, "min_interval_minutes": 240}.
    # No limit is assumed: a personal limit is the person's (and their clinician's) to set.
    "substances": {},
    "escalation_percent": 25,
    "combination_window_hours": 6,
    "worsening_days": 3,
    "baseline_days": 14,
    "withdrawal_symptom_count": 3,
    "missed_checkin_hours": 48,
    "cooldown_hours": 24,
}


def effective_plan(user):
    """The defaults with the person's overrides applied."""
    plan = db.session.get(Plan, user.id)
    settings = dict(DEFAULTS)
    if plan is not None:
        settings.update(plan.settings)
    return settings


def replace_plan(user, settings):
    """Store the person's overrides (what they send replaces what was there)."""
    plan = db.session.get(Plan, user.id)
    if plan is None:
        plan = Plan(user_id=user.id)
        db.session.add(plan)
    plan.settings = settings
    plan.updated_at = utcnow()
    db.session.flush()
    return effective_plan(user)
