"""Doses: what was taken, in which form, how much and when."""

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.records import ClientRecord
from backend.sqltypes import UTCDateTime



class Dose(ClientRecord, db.Model):
    __tablename__ = "doses"
    __table_args__ = (
        sa.Index("ix_doses_user_taken", "user_id", "taken_at", "id"),
        sa.Index("ix_doses_user_sync", "user_id", "sync_seq"),
    )
    noun = "dose"
    api_path = "/v1/doses"
    sort_column_name = "taken_at"
    scrub_on_delete = ("product", "note")

    taken_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    substance_kind: Mapped[str] = mapped_column(sa.String(32))
    form: Mapped[str | None] = mapped_column(sa.String(32))
    product: Mapped[str | None] = mapped_column(sa.String(120))
    amount: Mapped[float] = mapped_column(sa.Float)
    unit: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str | None] = mapped_column(sa.Text)
