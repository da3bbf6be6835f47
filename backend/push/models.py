"""What push owns: people's phones, one delivery row per push per device, and what the local
transport recorded.

A delivery names what it is about by purpose and id only (an occurrence of a reminder, a prompt):
push holds no reference into the features that send through it, which register a message
builder per purpose instead (`backend.push.pipeline`).
"""

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.sqltypes import UTCDateTime, utcnow

PLATFORMS = ("android", "ios", "web")


class Purpose(enum.StrEnum):
    """Why a push goes out; each is pushed at most once per subject, round and device."""

    REMINDER = "reminder"      # a reminder occurrence came due (round n: its n-th snooze)
    FOLLOW_UP = "follow_up"    # a check-in reminder still unanswered after its follow-up delay
    PROMPT = "prompt"          # a monitoring prompt, to the person
    ALERT = "alert"            # a monitoring prompt, to a caregiver who asked for alerts


class Status(enum.StrEnum):
    """sending: claimed and on its way · sent: FCM accepted it (message id kept) · retry: throttled or
    unavailable, waiting for next_attempt_at · failed: a permanent error · expired: out of attempts,
    too late to be useful, or no longer wanted (answered, share revoked)."""

    SENDING = "sending"
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    EXPIRED = "expired"


class Device(db.Model):
    __tablename__ = "devices"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # FCM registration tokens are ~160 characters; 1024 leaves room and stays indexable.
    token: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    platform: Mapped[str] = mapped_column(sa.String(16))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    deactivated_reason: Mapped[str | None] = mapped_column(sa.String(64))
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    noun = "device"

    @property
    def token_hint(self):
        """The token's last characters: enough to tell phones apart, useless for pushing to one (a
        token is a credential, so it is shown to nobody, its owner included)."""
        return "…" + self.token[-6:] if len(self.token) >= 32 else "…"


class PushDelivery(db.Model):
    __tablename__ = "push_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("subject_id", "purpose", "round", "device_id", name="uq_push_deliveries_subject"),
        sa.Index("ix_push_deliveries_retry", "next_attempt_at",
                 postgresql_where=sa.text("status = 'retry'"), sqlite_where=sa.text("status = 'retry'")),
        sa.Index("ix_push_deliveries_created", "created_at"),  # retention
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    purpose: Mapped[Purpose] = mapped_column(sa.String(16))
    # What the push is about (a reminder occurrence, a prompt), as the sending feature names it.
    subject_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    # A subject pushed again (a snoozed reminder) is a new round.
    round: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    # Whose data the push is about: a caregiver's alert is about the patient. It goes with them.
    about_user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    status: Mapped[Status] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.SmallInteger, default=1)
    message_id: Mapped[str | None] = mapped_column(sa.String(255))
    error: Mapped[str | None] = mapped_column(sa.String(32))
    error_detail: Mapped[str | None] = mapped_column(sa.String(255))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The last Retry-After FCM asked for: a retry whose outcome was lost still waits it out.
    retry_after_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def label(self):
        """The purpose as people read it: `reminder`, `snooze-2`, `follow_up`, `prompt`, `alert`."""
        return f"snooze-{self.round}" if self.round else str(self.purpose)


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
