"""What the jobs do with reminders: create due occurrences, push them, follow up, retry.

Each function handles one batch and flushes; the job commits after each batch. Rows are claimed
with SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, so any number of jobs processes can run side
by side without sending anything twice (SQLite has one writer at a time, and ignores the clause).
"""

import datetime as dt
import logging
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from backend import events
from backend.accounts.models import Device, User
from backend.accounts.services import active_devices_by_user
from backend.checkins.models import CheckIn
from backend.extensions import db
from backend.push import models as push_models
from backend.push import services as push
from backend.reminders import recurrence
from backend.reminders.messages import reminder_message
from backend.reminders.models import (ANSWERED, EXPIRED, MISSED, PENDING, SENT, ReminderOccurrence,
                                      ReminderSchedule)
from backend.domain import EARLY_ANSWER, checkin_answers
from backend.reminders.services import schedule_timezone

log = logging.getLogger(__name__)

# A reminder more than this late (the server was down) is not pushed any more: it would mislead.
CATCH_UP_WINDOW = dt.timedelta(hours=1)
# How long a push stays useful; FCM drops it after this instead of delivering it late.
PUSH_LIFETIME = dt.timedelta(hours=1)


def claim(query):
    # OF the claimed table only: a bare FOR UPDATE also locks the eager-loaded schedule, so a user
    # editing that reminder would wait for the whole FCM round trip.
    claimed = query.column_descriptions[0]["entity"]
    return db.session.scalars(query.with_for_update(of=claimed, skip_locked=True)).unique().all()


def insert_ignoring_duplicates(model, rows):
    """INSERT … ON CONFLICT DO NOTHING: the unique key, not the caller, decides what exists."""
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # render_nulls: every row names the same columns, so the rows go out as one batch; by default
    # the ORM leaves out None values and starts a new statement whenever the set of columns changes
    # (a check-in row with a follow-up time after a dose row without: one statement per few rows).
    db.session.execute(insert(model).on_conflict_do_nothing().execution_options(render_nulls=True), rows)


def materialize_due(now, batch_size=500):
    """Create the occurrences of schedules that came due; returns how many schedules it handled."""
    rows = db.session.execute(
        sa.select(ReminderSchedule, User).join(User, User.id == ReminderSchedule.user_id)
        .where(ReminderSchedule.active, ReminderSchedule.deleted_at.is_(None),
               ReminderSchedule.next_fire_at <= now)
        .order_by(ReminderSchedule.next_fire_at).limit(batch_size)
        .with_for_update(of=ReminderSchedule, skip_locked=True)).all()
    occurrences = []
    for schedule, user in rows:
        tz_name = schedule_timezone(schedule, user)
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
                "id": uuid.uuid4(), "schedule_id": schedule.id, "user_id": user.id, "kind": schedule.kind,
                "local_date": fire.local_date, "local_time": fire.local_time, "due_at": fire.at,
                "send_after": fire.at, "status": PENDING, "follow_up_at": follow_up_at, "snooze_count": 0,
                "created_at": now,
            })
        schedule.next_fire_at = upcoming.at if upcoming else None
    insert_ignoring_duplicates(ReminderOccurrence, occurrences)
    db.session.flush()
    return len(rows)


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


def _deliveries_for(occurrence, purpose, user, devices, now):
    outgoing = []
    for device in devices:
        # The id up front: with every primary key known, the flush sends the batch's INSERTs as one
        # executemany; with ids left to the column default, it builds one statement with a
        # placeholder per value (some 2,800 for 200 deliveries), which psycopg parses anew each time.
        delivery = push_models.PushDelivery(
            id=uuid.uuid4(), occurrence_id=occurrence.id, device_id=device.id, purpose=purpose, status="sending",
            attempts=1, expires_at=now + PUSH_LIFETIME, created_at=now, updated_at=now)
        db.session.add(delivery)
        outgoing.append(push.Outgoing(delivery, device, reminder_message(occurrence, purpose, user, device.token)))
    return outgoing


def dispatch_due(now, batch_size=200):
    """Push occurrences whose time has come; returns how many occurrences it handled."""
    occurrences = claim(
        sa.select(ReminderOccurrence)
        .where(ReminderOccurrence.status == PENDING, ReminderOccurrence.send_after <= now)
        .order_by(ReminderOccurrence.send_after).limit(batch_size))
    if not occurrences:
        return 0
    users, devices = _context(occurrences)
    answered = answered_by_checkin(occurrences, now)
    outgoing = []
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
        purpose = f"snooze-{occurrence.snooze_count}" if occurrence.snooze_count else "reminder"
        outgoing += _deliveries_for(occurrence, purpose, user, devices.get(user.id, ()), now)
        occurrence.status = SENT
        occurrence.sent_at = occurrence.sent_at or now
    db.session.flush()
    push.send(outgoing, now)
    db.session.flush()
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
    outgoing = []
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
            outgoing += _deliveries_for(occurrence, "follow_up", user, devices.get(user.id, ()), now)
            occurrence.follow_up_sent_at = now
    db.session.flush()
    push.send(outgoing, now)
    db.session.flush()
    return len(occurrences)


def retry_deliveries(now, batch_size=500):
    """Send again the pushes (reminders and prompts) that were throttled or hit a server error,
    once their backoff is over."""
    from backend.monitoring.delivery import prompt_message, still_alerting
    from backend.monitoring.models import Prompt

    deliveries = claim(
        sa.select(push_models.PushDelivery)
        .where(push_models.PushDelivery.status == push_models.RETRY,
               push_models.PushDelivery.next_attempt_at <= now)
        .order_by(push_models.PushDelivery.next_attempt_at).limit(batch_size))
    if not deliveries:
        return 0
    occurrences = {o.id: o for o in db.session.scalars(sa.select(ReminderOccurrence).where(
        ReminderOccurrence.id.in_({d.occurrence_id for d in deliveries if d.occurrence_id})))}
    prompts = {p.id: p for p in db.session.scalars(sa.select(Prompt).where(
        Prompt.id.in_({d.prompt_id for d in deliveries if d.prompt_id})))}
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(
        {o.user_id for o in occurrences.values()} | {p.user_id for p in prompts.values()})))}
    device_rows = {d.id: d for d in db.session.scalars(sa.select(Device).where(
        Device.id.in_({d.device_id for d in deliveries})))}
    outgoing = []
    for delivery in deliveries:
        device = device_rows[delivery.device_id]
        occurrence = occurrences.get(delivery.occurrence_id)
        delivery.next_attempt_at = None
        answered = occurrence is not None and occurrence.status == ANSWERED
        withdrawn = delivery.purpose == "alert" and not still_alerting(prompts[delivery.prompt_id], device.user_id)
        if not device.active or answered or withdrawn or now >= delivery.expires_at:
            delivery.status = push_models.EXPIRED
            continue
        delivery.attempts += 1
        if occurrence is not None:
            message = reminder_message(occurrence, delivery.purpose, users[occurrence.user_id], device.token)
        else:
            prompt = prompts[delivery.prompt_id]
            message = prompt_message(prompt, delivery.purpose, users[prompt.user_id], device.token)
        outgoing.append(push.Outgoing(delivery, device, message))
    push.send(outgoing, now)
    db.session.flush()
    return len(deliveries)
