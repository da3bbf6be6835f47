"""People: who they are, their zone, quiet hours and how discreet their pushes must be."""

import datetime as dt
import uuid
import zoneinfo

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.sqltypes import UTCDateTime, utcnow

NOTIFICATION_PRIVACY = ("discreet", "detailed")


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    firebase_uid: Mapped[str] = mapped_column(sa.String(128), unique=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(80))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # Local wall-clock times; a window may wrap midnight (22:00–07:00).
    quiet_hours_start: Mapped[dt.time | None] = mapped_column(sa.Time)
    quiet_hours_end: Mapped[dt.time | None] = mapped_column(sa.Time)
    # "discreet": push texts carry no health detail on a lock screen.
    notification_privacy: Mapped[str] = mapped_column(sa.String(16), default="discreet")
    # Whether caregiver alerts about this person say their display name (off: "someone you support").
    name_in_caregiver_alerts: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def quiet_until(self, instant):
        """If `instant` falls in this user's quiet hours, the UTC instant they end; else None."""
        if self.quiet_hours_start is None or self.quiet_hours_end is None:
            return None
        tz = zoneinfo.ZoneInfo(self.timezone)
        local = instant.astimezone(tz)
        start, end, now = self.quiet_hours_start, self.quiet_hours_end, local.time()
        wraps = start > end  # e.g. 22:00–07:00
        inside = (now >= start or now < end) if wraps else (start <= now < end)
        if not inside:
            return None
        end_date = local.date() + dt.timedelta(days=1) if wraps and now >= start else local.date()
        # A wall time that does not exist (DST gap) resolves forward, as zoneinfo does.
        return dt.datetime.combine(end_date, end, tz).astimezone(dt.timezone.utc)

    @property
    def quiet_hours(self):
        if self.quiet_hours_start is None or self.quiet_hours_end is None:
            return None
        return {"start": self.quiet_hours_start, "end": self.quiet_hours_end}
