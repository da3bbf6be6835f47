"""Delivery outcomes per occurrence × device, and the pushes the local transport recorded."""

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.sqltypes import UTCDateTime, utcnow

# sent: FCM accepted it (message id kept) · retry: throttled/unavailable, waiting for
# next_attempt_at · failed: a permanent error or out of attempts · expired: too late to be useful.
SENT, RETRY, FAILED, EXPIRED = "sent", "retry", "failed", "expired"


class PushDelivery(db.Model):
    __tablename__ = "push_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("occurrence_id", "device_id", "purpose", name="uq_push_deliveries_target"),
        sa.UniqueConstraint("prompt_id", "device_id", "purpose", name="uq_push_deliveries_prompt_target"),
        sa.Index("ix_push_deliveries_retry", "next_attempt_at",
                 postgresql_where=sa.text("status = 'retry'"), sqlite_where=sa.text("status = 'retry'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    # What the push is about: a reminder occurrence or a monitoring prompt.
    occurrence_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("reminder_occurrences.id", ondelete="CASCADE"))
    prompt_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("prompts.id", ondelete="CASCADE"))
    device_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    # "reminder", "snooze-<n>", "follow_up", "prompt" or "alert" (to a caregiver): each is pushed at
    # most once per device.
    purpose: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.SmallInteger, default=1)
    message_id: Mapped[str | None] = mapped_column(sa.String(255))
    error: Mapped[str | None] = mapped_column(sa.String(32))
    error_detail: Mapped[str | None] = mapped_column(sa.String(255))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LocalPush(db.Model):
    """A push the local (development) transport 'sent': kept so `careloop pushes` can show it."""

    __tablename__ = "local_pushes"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(sa.String(1024))
    title: Mapped[str] = mapped_column(sa.String(255))
    body: Mapped[str] = mapped_column(sa.String(1024))
    data: Mapped[dict] = mapped_column(sa.JSON)
    collapse_key: Mapped[str | None] = mapped_column(sa.String(255))
    ttl_seconds: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
