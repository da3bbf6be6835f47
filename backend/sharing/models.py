"""Who may see a patient's data: invites, shares, clinician report links, and the access log."""

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.sqltypes import UTCDateTime, utcnow

ROLES = ("caregiver", "clinician")
SCOPES = ("checkins", "doses", "notes", "prompts")


class ShareInvite(db.Model):
    """A one-time code a patient hands to a caregiver or clinician (stored hashed)."""

    __tablename__ = "share_invites"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    scopes: Mapped[list] = mapped_column(sa.JSON)
    alerts: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    share_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("shares.id", ondelete="SET NULL"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    noun = "invite"

    def state(self, now):
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        return "expired" if now >= self.expires_at else "pending"


class Share(db.Model):
    """A live link between a patient and someone who may read their data within scopes."""

    __tablename__ = "shares"
    __table_args__ = (sa.Index("ix_shares_viewer", "viewer_id", "patient_id"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    viewer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(sa.String(16))
    scopes: Mapped[list] = mapped_column(sa.JSON)
    alerts: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(16))  # "patient" | "viewer"

    noun = "share"


class ReportLink(db.Model):
    """A read-only web report for a clinician without an account; the token is stored hashed."""

    __tablename__ = "report_links"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    label: Mapped[str | None] = mapped_column(sa.String(80))
    scopes: Mapped[list] = mapped_column(sa.JSON)
    # Optional fixed range; without it the report shows the 90 days before each viewing.
    range_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    range_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_viewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    noun = "report link"

    def usable(self, now):
        return self.revoked_at is None and now < self.expires_at


class AccessLogEntry(db.Model):
    """Someone other than the patient read their data: who, what kind, when, from where — never the data."""

    __tablename__ = "access_log"
    __table_args__ = (sa.Index("ix_access_log_patient_at", "patient_id", "at"),
                      sa.Index("ix_access_log_at", "at"))  # retention

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    # The reader: an app user through a share, or a report link. Deleting the reader's account
    # keeps the entry (the patient should still see that someone looked) without the reference.
    viewer_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    report_link_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("report_links.id", ondelete="SET NULL"), index=True)
    viewer_label: Mapped[str] = mapped_column(sa.String(120))
    data_kind: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))
