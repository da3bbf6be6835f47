"""Rule defaults and the person's overrides (`/v1/plan`)."""

import hashlib
import json

from backend.errors import PreconditionFailed
from backend.extensions import db
from backend.monitoring.models import Plan
from backend.sqltypes import utcnow

DEFAULTS = {
    # Per substance: {"daily_limit": {"amount": 8, "unit": "g", "forms": ["leaf_powder"]},
    # "daily_limits": [{"amount": 30, "unit": "mg", "forms": ["concentrate_7oh"]}], "min_interval_minutes": 240}.
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


def daily_limits(plan, kind):
    """The person's daily limits of a substance kind: `daily_limit` (one, as older apps send it) and
    `daily_limits` (one per form or forms), each {"amount", "unit", "forms"?}. A limit without
    `forms` covers every form, each form's total on its own: forms are never added together."""
    settings = (plan.get("substances") or {}).get(kind) or {}
    single = [settings["daily_limit"]] if settings.get("daily_limit") else []
    return single + list(settings.get("daily_limits") or ())


def plan_version(user):
    """The plan's ETag: what it says and when it was set (the defaults until the person sets one)."""
    plan = db.session.get(Plan, user.id)
    if plan is None:
        return '"defaults"'
    said = json.dumps(plan.settings, sort_keys=True, default=str) + plan.updated_at.isoformat()
    return '"' + hashlib.sha256(said.encode()).hexdigest()[:20] + '"'


def replace_plan(user, settings, expected=None):
    """Store the person's overrides (what they send replaces what was there); `expected`: the
    versions (If-Match) the change may apply to."""
    current = plan_version(user)
    if expected is not None and "*" not in expected and current not in expected:
        raise PreconditionFailed("Your plan was changed since you read it: read it again, then change it.",
                                 headers={"ETag": current})
    plan = db.session.get(Plan, user.id)
    if plan is None:
        plan = Plan(user_id=user.id)
        db.session.add(plan)
    plan.settings = settings
    plan.updated_at = utcnow()
    db.session.flush()
    return effective_plan(user)
