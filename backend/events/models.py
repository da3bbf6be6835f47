"""The outbox: events written in the same transaction as the change that caused them."""

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.sqltypes import UTCDateTime, utcnow


class Event(db.Model):
    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_pending", "user_id", "id", postgresql_where=sa.text("processed_at IS NULL"),
                 sqlite_where=sa.text("processed_at IS NULL")),
        sa.Index("ix_events_processed", "processed_at", postgresql_where=sa.text("processed_at IS NOT NULL"),
                 sqlite_where=sa.text("processed_at IS NOT NULL")),  # retention
    )

    # A sequence, so events of one user are handled in the order they were written.
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(48))
    payload: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(255))
