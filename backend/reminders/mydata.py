"""Reminders in "my data": the schedules (without tombstones) and every occurrence that came due,
with its adherence; deleting takes the occurrences, then their schedules."""

import sqlalchemy as sa

from backend.data_parts import DataPart, execute
from backend.extensions import db
from backend.reminders.models import ReminderOccurrence, ReminderSchedule


def export(user, now):
    uid = user.id
    schedules = sa.select(ReminderSchedule).where(ReminderSchedule.user_id == uid,
                                                  ReminderSchedule.deleted_at.is_(None))
    occurrences = sa.select(ReminderOccurrence).where(ReminderOccurrence.user_id == uid)
    return {
        "reminders": db.session.scalars(schedules.order_by(ReminderSchedule.created_at, ReminderSchedule.id)).all(),
        "reminder_occurrences": db.session.scalars(
            occurrences.order_by(ReminderOccurrence.due_at, ReminderOccurrence.id)).all(),
    }


def purge(user):
    uid = user.id
    return {
        "reminder_occurrences": execute(sa.delete(ReminderOccurrence).where(ReminderOccurrence.user_id == uid)),
        "reminder_schedules": execute(sa.delete(ReminderSchedule).where(ReminderSchedule.user_id == uid)),
    }


PART = DataPart(
    tables=("reminder_schedules", "reminder_occurrences"),
    sections={"reminders": "reminder_schedules", "reminder_occurrences": "reminder_occurrences"},
    export=export, purge=purge)
