"""Reminder schedules and their occurrences: one row per schedule per local due time."""

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.extensions import db
from backend.records import ClientRecord
from backend.sqltypes import UTCDateTime, utcnow

KINDS = ("checkin", "dose", "custom")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OccurrenceStatus(enum.StrEnum):
    """pending → sent → answered | missed; a snooze puts a sent occurrence back to pending; one nobody
    could receive (no active device) is still `sent` with no deliveries; one that could not be
    pushed in time (the service was down) is `expired`."""

    PENDING = "pending"
    SENT = "sent"
    ANSWERED = "answered"
    MISSED = "missed"
    EXPIRED = "expired"


PENDING, SENT, ANSWERED, MISSED, EXPIRED = OccurrenceStatus
# A sent occurrence that got no answer for this long counts as ignored.
IGNORED_AFTER = dt.timedelta(hours=12)


class ReminderSchedule(ClientRecord, db.Model):
    __tablename__ = "reminder_schedules"
    __table_args__ = (
        sa.Index("ix_reminder_schedules_user", "user_id"),
        sa.Index("ix_reminder_schedules_user_sync", "user_id", "sync_seq"),
        # The dispatcher only ever looks at live, active schedules that are due.
        sa.Index("ix_reminder_schedules_due", "next_fire_at",
                 postgresql_where=sa.text("active AND deleted_at IS NULL"),
                 sqlite_where=sa.text("active AND deleted_at IS NULL")),
    )
    noun = "reminder"
    api_path = "/v1/reminders"
    sort_column_name = "created_at"
    scrub_on_delete = ("label",)
    # Moved by the jobs at every fire; a phone reads it from GET /v1/reminders, not from sync.
    quiet_columns = ("next_fire_at",)

    kind: Mapped[str] = mapped_column(sa.String(16))
    times: Mapped[list] = mapped_column(sa.JSON)        # ["08:00", "21:30"], local wall-clock
    days: Mapped[list] = mapped_column(sa.JSON)         # ["mon", …]
    # None: follow the profile's zone, so travel moves the reminder with the person.
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    label: Mapped[str | None] = mapped_column(sa.String(80))
    follow_up_minutes: Mapped[int | None] = mapped_column(sa.SmallInteger)
    # Dose reminders: not confirmed within this window → missed; optionally caregivers are alerted
    # (the patient's choice per reminder, as Medisafe's "Medfriends").
    confirm_within_minutes: Mapped[int | None] = mapped_column(sa.SmallInteger)
    alert_caregivers: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    next_fire_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ReminderOccurrence(db.Model):
    __tablename__ = "reminder_occurrences"
    __table_args__ = (
        # The exactly-once guarantee: no process, retry or race can make a second row.
        sa.UniqueConstraint("schedule_id", "local_date", "local_time",
                            name="uq_reminder_occurrences_schedule_local"),
        sa.Index("ix_reminder_occurrences_user_due", "user_id", "due_at"),
        sa.Index("ix_reminder_occurrences_due", "due_at"),  # retention
        sa.Index("ix_reminder_occurrences_pending", "send_after",
                 postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'")),
        sa.Index("ix_reminder_occurrences_follow_up", "follow_up_at",
                 postgresql_where=sa.text("status = 'sent' AND follow_up_sent_at IS NULL"),
                 sqlite_where=sa.text("status = 'sent' AND follow_up_sent_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    schedule_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reminder_schedules.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    # The wall-clock date and time it was due at in the schedule's zone: the dedupe key.
    local_date: Mapped[dt.date] = mapped_column(sa.Date)
    local_time: Mapped[str] = mapped_column(sa.String(5))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # When it may be pushed: due_at, or later after quiet hours or a snooze.
    send_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    follow_up_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    follow_up_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_by: Mapped[str | None] = mapped_column(sa.String(16))   # "ack" | "checkin"
    snooze_count: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    dismissed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    schedule = relationship(ReminderSchedule, lazy="joined", innerjoin=True)

    noun = "reminder occurrence"

    @property
    def adherence(self):
        """What became of it, as the person (and later their caregivers) see it."""
        if self.status in (ANSWERED, MISSED, EXPIRED):
            return self.status
        if self.status == PENDING:
            return "snoozed" if self.snooze_count else "upcoming"
        if self.dismissed_at or (self.sent_at and utcnow() - self.sent_at >= IGNORED_AFTER):
            return "ignored"
        return "awaiting"
