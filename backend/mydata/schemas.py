"""The export document (the API's own payloads, minus other people's internal details and any
secret) and the confirmation that deletes an account."""

import marshmallow as ma

from backend.accounts.schemas import ProfileSchema
from backend.api import Instant, Schema
from backend.checkins.schemas import CheckInSchema
from backend.doses.schemas import DoseSchema
from backend.monitoring.schemas import PlanSchema, PromptSchema
from backend.push.models import Purpose
from backend.push.schemas import DeviceSchema
from backend.reminders.schemas import OccurrenceSchema, ReminderSchema
from backend.sharing.schemas import AccessLogEntrySchema, InviteSchema, ReportLinkSchema

CONFIRMATION = "delete my account and data"


class ExportQuerySchema(Schema):
    """No parameters. `?format=` chose the format before each had its own address: a client still
    sending it is told where to go, rather than given JSON it did not ask for."""

    @ma.pre_load
    def _format_moved(self, data, **kwargs):
        if "format" in data:
            raise ma.ValidationError("Each format has its own address: /v1/me/export (JSON), /v1/me/export/csv "
                                     "and /v1/me/export/fhir.", "format")
        return data


class ExportedProfileSchema(ProfileSchema):
    firebase_uid = ma.fields.String(dump_only=True, metadata={"description": "Your sign-in account's id"})
    updated_at = Instant(dump_only=True)


class ExportedDeviceSchema(DeviceSchema):
    token = ma.fields.String(dump_only=True, attribute="token_hint", metadata={
        "description": "The push token's last characters only: enough to tell devices apart, "
                       "useless for sending pushes"})
    deactivated_reason = ma.fields.String(dump_only=True, allow_none=True)


class ExportedShareSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    as_ = ma.fields.String(dump_only=True, data_key="as", attribute="as", metadata={
        "description": "`patient`: you share your data; `viewer`: someone shares theirs with you"})
    other_person = ma.fields.String(dump_only=True, allow_none=True,
                                    metadata={"description": "The other person's display name"})
    role = ma.fields.String(dump_only=True)
    scopes = ma.fields.List(ma.fields.String(), dump_only=True)
    alerts = ma.fields.Boolean(dump_only=True)
    created_at = Instant(dump_only=True)
    revoked_at = Instant(dump_only=True, allow_none=True)
    revoked_by = ma.fields.String(dump_only=True, allow_none=True)


class ExportedInviteSchema(InviteSchema):
    accepted_at = Instant(dump_only=True, allow_none=True)
    revoked_at = Instant(dump_only=True, allow_none=True)


class ExportedAccessLogEntrySchema(AccessLogEntrySchema):
    class Meta(AccessLogEntrySchema.Meta):
        exclude = ("viewer_id",)


class ExportedPushSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    occurrence_id = ma.fields.Method("_occurrence_id", dump_only=True, allow_none=True,
                                     metadata={"type": "string", "format": "uuid"})
    prompt_id = ma.fields.Method("_prompt_id", dump_only=True, allow_none=True,
                                 metadata={"type": "string", "format": "uuid"})
    device_id = ma.fields.UUID(dump_only=True)
    purpose = ma.fields.String(dump_only=True, attribute="label")
    status = ma.fields.String(dump_only=True)
    attempts = ma.fields.Integer(dump_only=True)
    error = ma.fields.String(dump_only=True, allow_none=True)
    created_at = Instant(dump_only=True)
    updated_at = Instant(dump_only=True)

    def _occurrence_id(self, delivery):
        return str(delivery.subject_id) if delivery.purpose in (Purpose.REMINDER, Purpose.FOLLOW_UP) else None

    def _prompt_id(self, delivery):
        return str(delivery.subject_id) if delivery.purpose in (Purpose.PROMPT, Purpose.ALERT) else None


def items(schema, description):
    return ma.fields.List(ma.fields.Nested(schema), required=True, metadata={"description": description})


class ExportSchema(Schema):
    exported_at = Instant(required=True)
    profile = ma.fields.Nested(ExportedProfileSchema, required=True)
    plan = ma.fields.Nested(PlanSchema, required=True, metadata={"description": "Limits and rule settings"})
    devices = items(ExportedDeviceSchema, "Phones registered for pushes")
    checkins = items(CheckInSchema, "Check-ins, oldest first, each with its PEG score")
    doses = items(DoseSchema, "Doses, oldest first")
    reminders = items(ReminderSchema, "Reminder schedules")
    reminder_occurrences = items(OccurrenceSchema, "Every reminder that came due, with its adherence")
    prompts = items(PromptSchema, "Monitoring prompts")
    pushes = items(ExportedPushSchema, "Pushes of your reminders and prompts to your devices")
    shares = items(ExportedShareSchema, "Shares both ways, live and ended")
    invites = items(ExportedInviteSchema, "Invites you made (their codes are not kept)")
    report_links = items(ReportLinkSchema, "Clinician report links (their addresses are not kept)")
    access_log = items(ExportedAccessLogEntrySchema, "Who read your data")


class FhirBundleSchema(Schema):
    """The outline of the FHIR R4 Bundle; every resource in it is valid against the R4 models."""

    resourceType = ma.fields.String(required=True, validate=ma.validate.OneOf(["Bundle"]))
    id = ma.fields.String(required=True)
    meta = ma.fields.Dict(required=True, metadata={
        "description": "`profile` names the FHIR version: R4's Bundle definition, "
                       "http://hl7.org/fhir/StructureDefinition/Bundle|4.0.1"})
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(["collection"]))
    timestamp = ma.fields.String(required=True)
    entry = ma.fields.List(ma.fields.Dict(), required=True)


class AccountDeletionSchema(Schema):
    confirm = ma.fields.String(required=True, validate=ma.validate.Equal(
        CONFIRMATION, error=f'Must be exactly "{CONFIRMATION}".'), metadata={
        "description": "The words that confirm it: everything is removed at once and cannot be restored"})
