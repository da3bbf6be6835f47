"""Profile and device payloads."""

import functools
import importlib.resources
import zoneinfo

import marshmallow as ma

from backend.accounts.models import NOTIFICATION_PRIVACY
from backend.api import Boolean, Choice, Instant, Schema, Text, WallClockTime, answer_schema, refused


@functools.cache
def iana_zone_names():
    """The zone names of the IANA database, as listed by the tzdata package we depend on.

    The system zoneinfo directory also holds files that are not zones, such as `localtime` (a link
    to whatever zone the server happens to run in), which ZoneInfo would load as well.
    """
    return frozenset(importlib.resources.files("tzdata").joinpath("zones").read_text().split())


UNKNOWN_ZONE = "Not a known IANA time zone (e.g. Europe/Berlin)."
SAME_START_AND_END = "Must differ from `start`."


def valid_timezone(name):
    """An IANA zone name that this server's tz database knows (e.g. Europe/Berlin)."""
    try:
        if name not in iana_zone_names():
            raise ValueError(name)
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ma.ValidationError(UNKNOWN_ZONE) from None


class TimeZoneField(ma.fields.String):
    def __init__(self, **kwargs):
        kwargs.setdefault("validate", [ma.validate.Length(1, 64), valid_timezone])
        metadata = kwargs.setdefault("metadata", {"description": "IANA time zone name", "example": "Europe/Berlin"})
        metadata["description"] = metadata["description"] + ". " + refused(UNKNOWN_ZONE)
        super().__init__(**kwargs)


DISPLAY_NAME_MAX = 80


class QuietHoursSchema(Schema):
    start = WallClockTime(required=True, metadata={"example": "22:00"})
    end = WallClockTime(required=True, metadata={"example": "07:00", "description": refused(SAME_START_AND_END)})

    @ma.validates_schema
    def _not_empty(self, data, **kwargs):
        if data["start"] == data["end"]:
            raise ma.ValidationError(SAME_START_AND_END, "end")


class ProfilePatchSchema(Schema):
    """What a person changes of their profile (a PATCH any of it)."""

    display_name = Text(allow_none=True, validate=ma.validate.Length(1, DISPLAY_NAME_MAX))
    timezone = TimeZoneField()
    quiet_hours = ma.fields.Nested(QuietHoursSchema, allow_none=True,
                                   metadata={"description": "Non-urgent pushes wait until the end; null for none"})
    notification_privacy = ma.fields.String(validate=Choice("NotificationPrivacy", NOTIFICATION_PRIVACY), metadata={
        "description": "`discreet` (default): no health detail in push texts; `detailed`: the user opted in"})
    name_in_caregiver_alerts = Boolean(metadata={
        "description": "Caregiver alerts say your display name (false by default: they name no one)"})


ProfileSchema = answer_schema("ProfileSchema", ProfilePatchSchema, id=ma.fields.UUID(dump_only=True),
                              created_at=Instant(dump_only=True))
