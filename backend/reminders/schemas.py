"""Reminder schedule and occurrence payloads."""

import marshmallow as ma

from backend.accounts.schemas import TimeZoneField
from backend.domain import HHMM_PATTERN
from backend.api import Boolean, Choice, Omitted, refused, Instant, Integer, RangeQuerySchema, Schema, Text, answer_schema, page_schema
from backend.reminders.models import KINDS, WEEKDAYS

MAX_TIMES = 12
# What only one kind of reminder has: JSON Schema cannot tie a field to another's value.
FOLLOW_UP_CHECKINS_ONLY = "Only check-in reminders have a follow-up."
WINDOW_DOSES_ONLY = "Only dose reminders have a confirmation window."
ALERTS_DOSES_ONLY = "Only dose reminders alert caregivers when missed."
WINDOW_AND_ALERTS_DOSES_ONLY = "Only dose reminders have a confirmation window and caregiver alerts."
ALERTS_NEED_WINDOW = "Set confirm_within_minutes to say when a dose counts as missed."
KIND = Choice("ReminderKind", KINDS)
WEEKDAY = Choice("Weekday", WEEKDAYS)
SNOOZE_MINUTES = (1, 240)
FOLLOW_UP_MINUTES = (5, 720)


class ReminderFields(Schema):
    """What a person writes of a reminder (a PATCH any of it but its kind)."""

    kind = ma.fields.String(required=True, validate=KIND)
    times = ma.fields.List(
        ma.fields.String(validate=ma.validate.Regexp(HHMM_PATTERN, error="Must be a 24-hour HH:MM time.")),
        required=True, validate=ma.validate.Length(1, MAX_TIMES),
        metadata={"description": "Local wall-clock times, e.g. [\"08:00\", \"21:30\"]"})
    days = ma.fields.List(ma.fields.String(validate=WEEKDAY),
                          validate=ma.validate.Length(1, 7), load_default=Omitted(list(WEEKDAYS)),
                          metadata={"description": "Weekdays it fires on"})
    timezone = TimeZoneField(allow_none=True, load_default=Omitted(None), metadata={
        "description": "IANA zone; null follows the profile's zone (travel moves the reminder)"})
    active = Boolean(load_default=Omitted(True))
    label = Text(allow_none=True, validate=ma.validate.Length(1, 80),
                 metadata={"description": "Private; shown in push texts only if the user chose detailed texts"})
    follow_up_minutes = Integer(allow_none=True, validate=ma.validate.Range(*FOLLOW_UP_MINUTES), metadata={
        "description": "Check-in reminders: one nudge if no check-in arrives within this delay"})
    confirm_within_minutes = Integer(allow_none=True, validate=ma.validate.Range(*FOLLOW_UP_MINUTES), metadata={
        "description": "Dose reminders: counted as missed unless confirmed (ack) within this many minutes"})
    alert_caregivers = Boolean(load_default=Omitted(False), metadata={
        "description": "Dose reminders: a missed one alerts the caregivers who get alerts (needs confirm_within_minutes)"})

    @ma.post_load
    def _normalise(self, data, **kwargs):
        for name in ("times", "days"):
            if name in data:
                data[name] = sorted(set(data[name]), key=(WEEKDAYS.index if name == "days" else None))
        return data

    @ma.validates_schema
    def _follow_up_only_for_checkins(self, data, partial=None, **kwargs):
        if data.get("follow_up_minutes") and data.get("kind", "checkin") != "checkin":
            raise ma.ValidationError(FOLLOW_UP_CHECKINS_ONLY, "follow_up_minutes")
        if "kind" in data and data["kind"] != "dose":
            if data.get("confirm_within_minutes"):
                raise ma.ValidationError(WINDOW_DOSES_ONLY, "confirm_within_minutes")
            if data.get("alert_caregivers"):
                raise ma.ValidationError(ALERTS_DOSES_ONLY, "alert_caregivers")
        if "kind" in data and data.get("alert_caregivers") and not data.get("confirm_within_minutes"):
            raise ma.ValidationError(ALERTS_NEED_WINDOW, "alert_caregivers")


class ReminderCreateSchema(ReminderFields):
    class Meta(ReminderFields.Meta):
        description = refused(FOLLOW_UP_CHECKINS_ONLY, WINDOW_DOSES_ONLY, ALERTS_DOSES_ONLY, ALERTS_NEED_WINDOW)

    id = ma.fields.UUID(required=True, metadata={"description": "Client-generated UUID; repeating a create is safe"})


class ReminderPatchSchema(ReminderFields):
    class Meta(ReminderFields.Meta):
        exclude = ("kind",)
        description = refused(FOLLOW_UP_CHECKINS_ONLY, WINDOW_AND_ALERTS_DOSES_ONLY, ALERTS_NEED_WINDOW)


ReminderSchema = answer_schema(
    "ReminderSchema", ReminderCreateSchema,
    next_fire_at=Instant(dump_only=True, allow_none=True, metadata={"description": "Next due instant (UTC)"}),
    created_at=Instant(dump_only=True), updated_at=Instant(dump_only=True))


class OccurrenceSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    reminder_id = ma.fields.UUID(dump_only=True, attribute="schedule_id")
    kind = ma.fields.String(dump_only=True)
    local_date = ma.fields.Date(dump_only=True)
    local_time = ma.fields.String(dump_only=True)
    due_at = Instant(dump_only=True)
    send_after = Instant(dump_only=True)
    status = ma.fields.String(dump_only=True)
    adherence = ma.fields.String(dump_only=True, metadata={
        "description": "upcoming, awaiting, answered, snoozed, ignored, missed or expired (never pushed: "
                       "the service was down past the catch-up window)"})
    sent_at = Instant(dump_only=True, allow_none=True)
    answered_at = Instant(dump_only=True, allow_none=True)
    answered_by = ma.fields.String(dump_only=True, allow_none=True)
    snooze_count = ma.fields.Integer(dump_only=True)
    follow_up_sent_at = Instant(dump_only=True, allow_none=True)
    delivered_at = Instant(dump_only=True, allow_none=True)
    opened_at = Instant(dump_only=True, allow_none=True)
    dismissed_at = Instant(dump_only=True, allow_none=True)


class SnoozeSchema(Schema):
    minutes = Integer(required=True, validate=ma.validate.Range(*SNOOZE_MINUTES))


class ReceiptSchema(Schema):
    event = ma.fields.String(required=True, validate=ma.validate.OneOf(("delivered", "opened", "dismissed")))
    at = Instant(load_default=Omitted(None, "now"), metadata={"description": "When it happened on the phone"})


class OccurrenceQuerySchema(RangeQuerySchema):
    reminder_id = ma.fields.UUID(metadata={"description": "Only this reminder's occurrences"})


ReminderPageSchema = page_schema(ReminderSchema)
OccurrencePageSchema = page_schema(OccurrenceSchema)
