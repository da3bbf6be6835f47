"""What the jobs do with reminders: create due occurrences, push them, follow up.

Each function handles one batch and flushes; the job commits after each batch. Rows are claimed
with SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, so any number of jobs processes can run side
by side without sending anything twice (SQLite has one writer at a time, and ignores the clause).
"""

import datetime as dt
import logging
import uuid

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm.attributes import set_committed_value

from backend import events
from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.metrics import REMINDER_LAG
from backend.database import claim, insert_ignoring_duplicates, update_rows
from backend.domain import EARLY_ANSWER, checkin_answers
from backend.extensions import db
from backend.push import pipeline
from backend.push.models import Purpose
from backend.push.services import active_devices_by_user
from backend.reminders import recurrence
from backend.reminders.messages import ReminderSubject
from backend.reminders.models import ANSWERED, EXPIRED, MISSED, PENDING, SENT, ReminderOccurrence, ReminderSchedule
from backend.reminders.services import schedule_timezone

log = logging.getLogger(__name__)

# A reminder more than this late (the server was down) is not pushed any more: it would mislead.
CATCH_UP_WINDOW = dt.timedelta(hours=1)
# How long a push stays useful; FCM drops it after this instead of delivering it late.
PUSH_LIFETIME = dt.timedelta(hours=1)


def materialize_due(now, batch_size=500):
    """Create the occurrences of schedules that came due; returns how many schedules it handled.

    Plain rows in and out, no ORM objects: a batch is one claim, one insert of its occurrences and
    one update of where each schedule continues (a quiet column: no phone's next pull changes).
    """
    schedules = db.session.execute(
        sa.select(ReminderSchedule.id, ReminderSchedule.user_id, ReminderSchedule.kind, ReminderSchedule.times,
                  ReminderSchedule.days, ReminderSchedule.timezone, ReminderSchedule.follow_up_minutes,
                  ReminderSchedule.confirm_within_minutes, ReminderSchedule.next_fire_at,
                  User.timezone.label("profile_timezone"))
        .join(User, User.id == ReminderSchedule.user_id)
        .where(ReminderSchedule.active, ReminderSchedule.deleted_at.is_(None),
               ReminderSchedule.next_fire_at <= now)
        .order_by(ReminderSchedule.next_fire_at).limit(batch_size)
        .with_for_update(of=ReminderSchedule, skip_locked=True)).all()
    if not schedules:
        return 0
    occurrences, moved = [], []
    for schedule in schedules:
        tz_name = schedule_timezone(schedule.timezone, schedule.profile_timezone)
        # One pass of the triggers gives what is due and where to continue (a repeated twin on a
        # fall-back night is skipped by the same pass).
        fires, upcoming = recurrence.due_and_next(schedule.times, schedule.days, tz_name,
                                                  schedule.next_fire_at - recurrence.ONE_SECOND, now)
        for fire in fires:
            if now - fire.at > CATCH_UP_WINDOW:
                continue
            follow_up_at = None
            if schedule.kind == "checkin" and schedule.follow_up_minutes:
                follow_up_at = fire.at + dt.timedelta(minutes=schedule.follow_up_minutes)
            elif schedule.kind == "dose" and schedule.confirm_within_minutes:
                follow_up_at = fire.at + dt.timedelta(minutes=schedule.confirm_within_minutes)
            occurrences.append({
                "id": uuid.uuid4(), "schedule_id": schedule.id, "user_id": schedule.user_id, "kind": schedule.kind,
                "local_date": fire.local_date, "local_time": fire.local_time, "due_at": fire.at,
                "send_after": fire.at, "status": PENDING, "follow_up_at": follow_up_at, "snooze_count": 0,
                "created_at": now,
            })
        moved.append({"id": schedule.id, "next_fire_at": upcoming.at if upcoming else None})
    insert_ignoring_duplicates(ReminderOccurrence, occurrences)
    update_rows(ReminderSchedule, moved)
    return len(schedules)


def latest_checkins(user_ids, since):
    """The newest live check-in instant per user, at or after `since` (one query per batch)."""
    rows = db.session.execute(
        sa.select(CheckIn.user_id, sa.func.max(CheckIn.recorded_at))
        .where(CheckIn.user_id.in_(user_ids), CheckIn.deleted_at.is_(None), CheckIn.recorded_at >= since)
        .group_by(CheckIn.user_id))
    return dict(rows.all())


def answered_by_checkin(occurrences, now):
    """Ids of check-in occurrences that a check-in recorded from shortly before their due time answers."""
    checkin_occurrences = [o for o in occurrences if o.kind == "checkin"]
    if not checkin_occurrences:
        return set()
    since = min(o.due_at for o in checkin_occurrences) - EARLY_ANSWER
    latest = latest_checkins({o.user_id for o in checkin_occurrences}, since)
    return {o.id for o in checkin_occurrences
            if o.user_id in latest and checkin_answers(latest[o.user_id], o.due_at)}


def mark_answered(occurrence, now):
    occurrence.status, occurrence.answered_at, occurrence.answered_by = ANSWERED, now, "checkin"


def _context(occurrences):
    """Users and active devices of a batch of occurrences, in two queries."""
    user_ids = {o.user_id for o in occurrences}
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(user_ids)))}
    return users, active_devices_by_user(user_ids)


def _pushes(occurrence, purpose, user, devices, round=0):
    subject = ReminderSubject(occurrence, user)
    return [pipeline.Push(purpose, occurrence.id, subject, user.id, device, PUSH_LIFETIME, round)
            for device in devices]


def dispatch_due(now, batch_size=500):
    """Push occurrences whose time has come; returns how many occurrences it handled.

    A batch is one send_each call (500 at most); a jobs process killed mid-send re-sends it."""
    occurrences = claim(
        sa.select(ReminderOccurrence)
        # Of the schedule, what deciding and wording the push reads; its times and days are JSON.
        .options(orm.joinedload(ReminderOccurrence.schedule, innerjoin=True).load_only(
            ReminderSchedule.active, ReminderSchedule.deleted_at, ReminderSchedule.label))
        .where(ReminderOccurrence.status == PENDING, ReminderOccurrence.send_after <= now)
        .order_by(ReminderOccurrence.send_after).limit(batch_size))
    if not occurrences:
        return 0
    users, devices = _context(occurrences)
    answered = answered_by_checkin(occurrences, now)
    pushes, sent = [], []
    for occurrence in occurrences:
        user = users[occurrence.user_id]
        if occurrence.id in answered:
            mark_answered(occurrence, now)
            continue
        if not occurrence.schedule.active or occurrence.schedule.deleted_at is not None:
            db.session.delete(occurrence)
            continue
        if now - occurrence.send_after > CATCH_UP_WINDOW:
            # The server was down: a push this late would mislead more than help.
            occurrence.status = MISSED if occurrence.sent_at else EXPIRED
            continue
        quiet_until = user.quiet_until(now)
        if quiet_until is not None:
            occurrence.send_after = quiet_until
            continue
        # A snoozed occurrence is pushed again as a new round of the same reminder.
        pushes += _pushes(occurrence, Purpose.REMINDER, user, devices.get(user.id, ()), occurrence.snooze_count)
        sent.append(occurrence.id)
        # The objects are told what the one UPDATE below writes, without becoming changes to flush.
        set_committed_value(occurrence, "status", SENT)
        if occurrence.sent_at is None:
            REMINDER_LAG.observe(max((now - occurrence.due_at).total_seconds(), 0))
            set_committed_value(occurrence, "sent_at", now)
    db.session.flush()
    if sent:
        # One statement for the batch, not an UPDATE per occurrence (a snoozed one keeps its first sent_at).
        db.session.execute(
            sa.update(ReminderOccurrence).where(ReminderOccurrence.id.in_(sent))
            .values(status=SENT, sent_at=sa.func.coalesce(
                ReminderOccurrence.sent_at, sa.literal(now, ReminderOccurrence.sent_at.type))),
            execution_options={"synchronize_session": False})
    pipeline.deliver(pushes, now)
    return len(occurrences)


def send_follow_ups(now, batch_size=200):
    """One nudge for a check-in reminder still unanswered after its follow-up delay, then missed;
    a dose reminder not confirmed within its window is missed (which may alert caregivers)."""
    occurrences = claim(
        sa.select(ReminderOccurrence)
        .where(ReminderOccurrence.status == SENT, ReminderOccurrence.follow_up_sent_at.is_(None),
               ReminderOccurrence.follow_up_at <= now)
        .order_by(ReminderOccurrence.follow_up_at).limit(batch_size))
    if not occurrences:
        return 0
    users, devices = _context(occurrences)
    answered = answered_by_checkin(occurrences, now)
    pushes = []
    for occurrence in occurrences:
        user = users[occurrence.user_id]
        if occurrence.id in answered:
            mark_answered(occurrence, now)
            continue
        occurrence.status = MISSED
        events.record(events.ReminderMissed(user.id, occurrence.id))
        if occurrence.kind != "checkin":
            continue  # a dose reminder's window closed unconfirmed: missed, no nudge
        if user.quiet_until(now) is None and now - occurrence.follow_up_at <= CATCH_UP_WINDOW:
            pushes += _pushes(occurrence, Purpose.FOLLOW_UP, user, devices.get(user.id, ()))
            occurrence.follow_up_sent_at = now
    db.session.flush()
    pipeline.deliver(pushes, now)
    return len(occurrences)


def backlog(now):
    """Reminders due but not pushed yet, and how late the oldest is (metrics gauges)."""
    due = sa.and_(ReminderOccurrence.status == PENDING, ReminderOccurrence.send_after <= now)
    count, oldest = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(ReminderOccurrence.send_after)).where(due)).one()
    return [("careloop_reminders_due_unsent", "Reminder occurrences due and not pushed yet", count),
            ("careloop_reminders_oldest_due_unsent_seconds", "How late the oldest due, unpushed reminder is",
             (now - oldest).total_seconds() if oldest else 0)]
