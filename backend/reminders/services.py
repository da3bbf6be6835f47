"""Reminder use cases of the person: schedules, and what they do with each occurrence."""

import datetime as dt

import sqlalchemy as sa

from backend import records
from backend.database import delete_older, owned
from backend.domain import answered_window
from backend.errors import Conflict, InvalidInput
from backend.extensions import db
from backend.reminders import recurrence
from backend.reminders.models import ANSWERED, MISSED, PENDING, SENT, ReminderOccurrence, ReminderSchedule
from backend.reminders.schemas import ALERTS_NEED_WINDOW, FOLLOW_UP_CHECKINS_ONLY, WINDOW_AND_ALERTS_DOSES_ONLY
from backend.sqltypes import utcnow

MAX_SNOOZES = 6
# What decides when a schedule fires; other changes (label, follow-up) leave next_fire_at alone.
WHEN_FIELDS = ("times", "days", "timezone", "active")


def schedule_timezone(schedule_zone, profile_zone):
    """A schedule without a zone of its own follows the profile's, so travel moves it with the person."""
    return schedule_zone or profile_zone


def plan_next_fire(schedule, user, now=None):
    """Set next_fire_at to the schedule's first fire after now (None while inactive)."""
    now = now or utcnow()
    if not schedule.active or schedule.deleted_at is not None:
        schedule.next_fire_at = None
        return
    fire = recurrence.next_fire(schedule.times, schedule.days, schedule_timezone(schedule.timezone, user.timezone), now)
    schedule.next_fire_at = fire.at if fire else None


def create_reminder(user, data):
    """Create a schedule under its client id (a retry returns the stored one)."""
    def first_fire(schedule):
        plan_next_fire(schedule, user)
        db.session.flush()

    return records.create_once(ReminderSchedule, user, data, on_create=first_fire)


def get_reminder(user, reminder_id):
    return owned(ReminderSchedule, user, reminder_id)


def list_reminders(user, args):
    return records.list_page(ReminderSchedule, user, args)


def update_reminder(user, reminder_id, changes, expected=None):
    """Change times, days, zone, label, follow-up or active; future occurrences move with it."""
    schedule = owned(ReminderSchedule, user, reminder_id)
    records.check_version(schedule, expected)
    if changes.get("follow_up_minutes") and schedule.kind != "checkin":
        raise InvalidInput("follow_up_minutes", FOLLOW_UP_CHECKINS_ONLY)
    for name in ("confirm_within_minutes", "alert_caregivers"):
        if changes.get(name) and schedule.kind != "dose":
            raise InvalidInput(name, WINDOW_AND_ALERTS_DOSES_ONLY)
    window = changes.get("confirm_within_minutes", schedule.confirm_within_minutes)
    if changes.get("alert_caregivers", schedule.alert_caregivers) and not window:
        raise InvalidInput("alert_caregivers", ALERTS_NEED_WINDOW)
    # Replanning from now would skip a fire that is due but not yet taken by the jobs.
    moved = any(name in changes and changes[name] != getattr(schedule, name) for name in WHEN_FIELDS)
    records.update_owned(ReminderSchedule, user, reminder_id, changes)
    if moved:
        plan_next_fire(schedule, user)
    if not schedule.active:
        drop_pending_occurrences(schedule)
    db.session.flush()
    return schedule


def delete_reminder(user, reminder_id, expected=None):
    schedule = records.delete_owned(ReminderSchedule, user, reminder_id, expected)
    plan_next_fire(schedule, user)
    drop_pending_occurrences(schedule)
    db.session.flush()


def drop_pending_occurrences(schedule):
    """An occurrence not yet pushed is dropped when its schedule is switched off or deleted."""
    db.session.execute(sa.delete(ReminderOccurrence).where(
        ReminderOccurrence.schedule_id == schedule.id, ReminderOccurrence.status == PENDING,
        ReminderOccurrence.sent_at.is_(None)))


def follow_profile_timezone(user):
    """The person changed zone (travel): schedules that follow the profile move with them."""
    schedules = db.session.scalars(sa.select(ReminderSchedule).where(
        ReminderSchedule.user_id == user.id, ReminderSchedule.timezone.is_(None),
        ReminderSchedule.deleted_at.is_(None)))
    for schedule in schedules:
        plan_next_fire(schedule, user)
    db.session.flush()


def answer_with_checkin(user, recorded_at, now=None):
    """A check-in answers the person's open check-in reminders due in its window (up to 30 minutes
    after it and at most a day before it); pending ones are then never pushed."""
    first_due, last_due = answered_window(recorded_at)
    result = db.session.execute(
        sa.update(ReminderOccurrence)
        .where(ReminderOccurrence.user_id == user.id, ReminderOccurrence.kind == "checkin",
               ReminderOccurrence.status.in_((PENDING, SENT, MISSED)),
               ReminderOccurrence.due_at >= first_due, ReminderOccurrence.due_at <= last_due)
        .values(status=ANSWERED, answered_at=now or utcnow(), answered_by="checkin")
        .execution_options(synchronize_session=False))
    if result.rowcount:
        # Occurrences already loaded in this session would otherwise keep their old status.
        for occurrence in list(db.session.identity_map.values()):
            if isinstance(occurrence, ReminderOccurrence):
                db.session.expire(occurrence)
    return result.rowcount


def get_occurrence(user, occurrence_id):
    return owned(ReminderOccurrence, user, occurrence_id)


def list_occurrences(user, args):
    query = sa.select(ReminderOccurrence).where(ReminderOccurrence.user_id == user.id)
    if args.get("reminder_id"):
        query = query.where(ReminderOccurrence.schedule_id == args["reminder_id"])
    return records.keyset_page(query, ReminderOccurrence.due_at, ReminderOccurrence.id, args)


def acknowledge(user, occurrence_id, now=None):
    """The person confirmed the reminder (took the dose, will check in): it is answered."""
    occurrence = get_occurrence(user, occurrence_id)
    if occurrence.status != ANSWERED:
        occurrence.status = ANSWERED
        occurrence.answered_at = now or utcnow()
        occurrence.answered_by = "ack"
        db.session.flush()
    return occurrence


def snooze(user, occurrence_id, minutes, now=None):
    """Push this occurrence again in `minutes` (a bounded number of times)."""
    now = now or utcnow()
    occurrence = get_occurrence(user, occurrence_id)
    if occurrence.status == ANSWERED:
        raise Conflict("This reminder was already answered.")
    if occurrence.schedule.deleted_at is not None or not occurrence.schedule.active:
        raise Conflict("This reminder was switched off or deleted.")
    if occurrence.snooze_count >= MAX_SNOOZES:
        raise Conflict(f"A reminder can be snoozed at most {MAX_SNOOZES} times.")
    occurrence.status = PENDING
    occurrence.snooze_count += 1
    occurrence.send_after = now + dt.timedelta(minutes=minutes)
    if occurrence.follow_up_at is not None and occurrence.follow_up_sent_at is None:
        occurrence.follow_up_at = max(occurrence.follow_up_at, occurrence.send_after +
                                      dt.timedelta(minutes=occurrence.schedule.follow_up_minutes or 0))
    db.session.flush()
    return occurrence


def record_receipt(user, occurrence_id, event, at=None):
    """The phone reports that the push was delivered, opened or dismissed (first report wins)."""
    occurrence = get_occurrence(user, occurrence_id)
    column = f"{event}_at"
    if getattr(occurrence, column) is None:
        setattr(occurrence, column, at or utcnow())
        db.session.flush()
    return occurrence


def prune_occurrences(now, keep, batch_size=5000):
    """Forget occurrences due more than `keep` ago (their adherence has long been reported); returns
    how many went."""
    return delete_older(ReminderOccurrence, ReminderOccurrence.due_at, now - keep, batch_size)
