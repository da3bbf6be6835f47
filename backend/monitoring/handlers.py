"""Event handlers of monitoring: run the rules that an event can affect. Idempotent (prompts are
deduplicated by situation), run by the jobs only."""

import sqlalchemy as sa

from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.doses.models import Dose
from backend.extensions import db
from backend.monitoring import rules
from backend.monitoring.plan import effective_plan
from backend.monitoring.services import raise_prompt
from backend.reminders.models import ReminderOccurrence, ReminderSchedule


def _evaluate(user, record, rule_functions, now):
    plan = effective_plan(user)
    context = rules.Context(user=user, plan=plan, now=now)
    raised = []
    for rule in rule_functions:
        for finding in rule(context, record):
            prompt = raise_prompt(user, finding, plan, now)
            if prompt is not None:
                raised.append(prompt)
    return raised


def on_dose(event, now):
    """A dose was logged or corrected: daily limit, interval, escalation, 7-OH, combination and form rules."""
    dose = db.session.get(Dose, event.dose_id)
    if dose is None or dose.deleted_at is not None:
        return []
    return _evaluate(db.session.get(User, event.user_id), dose, rules.DOSE_RULES, now)


def on_checkin(event, now):
    """A check-in was recorded or corrected: worsening, withdrawal, liver and emergency-sign rules."""
    checkin = db.session.get(CheckIn, event.checkin_id)
    if checkin is None or checkin.deleted_at is not None:
        return []
    return _evaluate(db.session.get(User, event.user_id), checkin, rules.CHECKIN_RULES, now)


def on_reminder_missed(event, now):
    """A dose reminder went unconfirmed: prompt, and alert caregivers if the patient asked for it."""
    occurrence = db.session.get(ReminderOccurrence, event.occurrence_id)
    if occurrence is None or occurrence.kind != "dose" or not occurrence.schedule.alert_caregivers:
        return []
    user = db.session.get(User, event.user_id)
    plan = effective_plan(user)
    finding = rules.missed_dose(rules.Context(user=user, plan=plan, now=now), occurrence)
    prompt = raise_prompt(user, finding, plan, now)
    return [prompt] if prompt else []


def check_missed_checkins(now, batch_size=500):
    """Periodic: people with check-in reminders on and no check-in for the plan's hours."""
    active = (sa.select(ReminderSchedule.user_id, sa.func.min(ReminderSchedule.created_at).label("since"))
              .where(ReminderSchedule.kind == "checkin", ReminderSchedule.active,
                     ReminderSchedule.deleted_at.is_(None))
              .group_by(ReminderSchedule.user_id).subquery())
    # Per person an index lookup (user, recorded_at), not a grouping of the whole check-ins table.
    last = (sa.select(sa.func.max(CheckIn.recorded_at))
            .where(CheckIn.user_id == User.id, CheckIn.deleted_at.is_(None)).correlate(User).scalar_subquery())
    # In id order: a prompt takes the person's sync change counter, so two jobs processes lock the
    # counters of the same people in the same order and never deadlock.
    rows = db.session.execute(
        sa.select(User, active.c.since, last).join(active, active.c.user_id == User.id).order_by(User.id)).all()
    raised = 0
    for user, since, last_at in rows:
        plan = effective_plan(user)
        context = rules.Context(user=user, plan=plan, now=now)
        for finding in rules.missed_checkins(context, last_at, since):
            raised += raise_prompt(user, finding, plan, now) is not None
    return raised
