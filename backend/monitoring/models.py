"""The personal plan the rules read, and the prompts they raise."""

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.records import Synced
from backend.sqltypes import UTCDateTime, utcnow

SEVERITIES = ("info", "warning", "high")


class PushState(enum.StrEnum):
    """pending: waiting to be pushed (high severity at once, others after quiet hours) · sent: handed
    to the push pipeline."""

    PENDING = "pending"
    SENT = "sent"


class Plan(db.Model):
    """Per-user overrides of the rule defaults; absent keys fall back to the defaults."""

    __tablename__ = "plans"

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    settings: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Prompt(Synced, db.Model):
    """A rule saw something in the person's own data: a factual message, never advice on dosing."""

    __tablename__ = "prompts"
    __table_args__ = (
        # One prompt per situation, however often its events are replayed.
        sa.UniqueConstraint("user_id", "dedupe_key", name="uq_prompts_user_dedupe"),
        sa.Index("ix_prompts_user_created", "user_id", "created_at"),
        sa.Index("ix_prompts_user_sync", "user_id", "sync_seq"),
        sa.Index("ix_prompts_rule_subject", "user_id", "rule", "subject", "created_at"),
        sa.Index("ix_prompts_push_pending", "push_after", postgresql_where=sa.text("push_status = 'pending'"),
                 sqlite_where=sa.text("push_status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(sa.String(32))
    # What the rule is about (a substance, "pain", "adhd" …): the cooldown runs per rule and subject.
    subject: Mapped[str] = mapped_column(sa.String(32))
    severity: Mapped[str] = mapped_column(sa.String(8))
    dedupe_key: Mapped[str] = mapped_column(sa.String(160))
    message: Mapped[str] = mapped_column(sa.Text)
    evidence: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # pending → sent; high severity is due at once, others wait for the end of quiet hours.
    push_status: Mapped[PushState] = mapped_column(sa.String(8), default=PushState.PENDING)
    push_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    alert_caregivers: Mapped[bool] = mapped_column(sa.Boolean, default=False)

    @hybrid_property
    def urgent(self):
        """High severity seen as it happened: pushed at once, through quiet hours, at high priority,
        and caregivers with alerts are told. A high finding about something logged late carries no
        caregiver alert (rules.LATE_AFTER): noted, not sounded."""
        return self.severity == "high" and self.alert_caregivers

    @urgent.inplace.expression
    @classmethod
    def _urgent_expression(cls):
        return sa.and_(cls.severity == "high", cls.alert_caregivers)

    noun = "prompt"
    # Push bookkeeping: the phone holds what the prompt says and whether it was read.
    quiet_columns = ("push_status", "push_after")
