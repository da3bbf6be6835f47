"""Invite, share, report-link and access-log payloads."""

import marshmallow as ma

from backend.api import UNTIL_AFTER_SINCE, Boolean, Choice, Instant, Integer, Omitted, Schema, Text, page_schema
from backend.sharing.models import ROLES, SCOPES
from backend.sharing.services import MAX_INVITE_HOURS, MAX_LINK_DAYS

SCOPE = Choice("Scope", SCOPES)
ROLE = Choice("Role", ROLES)


def ScopesField(**kwargs):  # noqa: N802  (used like a field class)
    return ma.fields.List(
        ma.fields.String(validate=SCOPE), validate=ma.validate.Length(1, len(SCOPES)),
        metadata={"description": "What may be seen: checkins, doses, notes (free text), prompts"}, **kwargs)


def _unique(values):
    return list(dict.fromkeys(values))


class InviteCreateSchema(Schema):
    role = ma.fields.String(required=True, validate=ROLE)
    scopes = ScopesField(required=True)
    alerts = Boolean(load_default=Omitted(False), metadata={"description": "Alert this person about high-severity prompts and missed check-ins"})
    expires_in_hours = Integer(load_default=Omitted(72), validate=ma.validate.Range(1, MAX_INVITE_HOURS))

    @ma.post_load
    def _dedupe(self, data, **kwargs):
        data["scopes"] = _unique(data["scopes"])
        return data


class InviteSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    role = ma.fields.String(dump_only=True)
    scopes = ma.fields.List(ma.fields.String(), dump_only=True)
    alerts = ma.fields.Boolean(dump_only=True)
    state = ma.fields.String(dump_only=True, metadata={"description": "pending, accepted, revoked or expired"})
    expires_at = Instant(dump_only=True)
    created_at = Instant(dump_only=True)


class NewInviteSchema(InviteSchema):
    code = ma.fields.String(dump_only=True, metadata={"description": "Shown once; give it to the person", "example": "7K2QH-9XW4M"})
    link = ma.fields.String(dump_only=True, metadata={"description": "The same code as an app link"})


class AcceptSchema(Schema):
    code = Text(required=True, validate=ma.validate.Length(1, 32))


class PersonSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    display_name = ma.fields.String(dump_only=True, allow_none=True)


class ShareSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    patient = ma.fields.Nested(PersonSchema, dump_only=True)
    viewer = ma.fields.Nested(PersonSchema, dump_only=True)
    role = ma.fields.String(dump_only=True)
    scopes = ScopesField(dump_only=True)
    alerts = ma.fields.Boolean(dump_only=True)
    created_at = Instant(dump_only=True)
    revoked_at = Instant(dump_only=True, allow_none=True)
    revoked_by = ma.fields.String(dump_only=True, allow_none=True)


class ShareListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(ShareSchema), required=True)


class ShareQuerySchema(Schema):
    as_ = ma.fields.String(data_key="as", validate=ma.validate.OneOf(("patient", "viewer")), attribute="as")
    include_revoked = ma.fields.Boolean(load_default=False)


class SharePatchSchema(Schema):
    scopes = ScopesField()
    alerts = Boolean()

    @ma.post_load
    def _dedupe(self, data, **kwargs):
        if "scopes" in data:
            data["scopes"] = _unique(data["scopes"])
        return data


class ReportLinkCreateSchema(Schema):
    label = Text(allow_none=True, validate=ma.validate.Length(1, 80), metadata={"description": "For you, e.g. the clinic's name"})
    scopes = ScopesField(load_default=Omitted(["checkins", "doses", "prompts"]))
    expires_in_days = Integer(load_default=Omitted(30), validate=ma.validate.Range(1, MAX_LINK_DAYS))
    since = Instant(past_only=False, metadata={"description": "Fixed start of the report; default: 90 days before each viewing"})
    until = Instant(past_only=False, rules=[UNTIL_AFTER_SINCE], metadata={"description": "Fixed end of the report"})

    @ma.validates_schema
    def _range_in_order(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ma.ValidationError(UNTIL_AFTER_SINCE, "until")

    @ma.post_load
    def _dedupe(self, data, **kwargs):
        data["scopes"] = _unique(data["scopes"])
        return data


class ReportLinkSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    label = ma.fields.String(dump_only=True, allow_none=True)
    scopes = ma.fields.List(ma.fields.String(), dump_only=True)
    since = Instant(dump_only=True, allow_none=True, attribute="range_start")
    until = Instant(dump_only=True, allow_none=True, attribute="range_end")
    expires_at = Instant(dump_only=True)
    revoked_at = Instant(dump_only=True, allow_none=True)
    last_viewed_at = Instant(dump_only=True, allow_none=True)
    created_at = Instant(dump_only=True)


class NewReportLinkSchema(ReportLinkSchema):
    url = ma.fields.String(dump_only=True, metadata={"description": "Shown once: the report's address"})


class ReportLinkListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(ReportLinkSchema), required=True)


class InviteListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(InviteSchema), required=True)


class AccessLogEntrySchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    at = Instant(dump_only=True)
    who = ma.fields.String(dump_only=True, attribute="viewer_label")
    viewer_id = ma.fields.UUID(dump_only=True, allow_none=True)
    report_link_id = ma.fields.UUID(dump_only=True, allow_none=True)
    data_kind = ma.fields.String(dump_only=True, metadata={
        "description": "summary, checkins, doses, prompts or report; device: one of your phones was registered to "
                       "another account and no longer gets your pushes"})
    ip_address = ma.fields.String(dump_only=True, allow_none=True)
    user_agent = ma.fields.String(dump_only=True, allow_none=True)


AccessLogPageSchema = page_schema(AccessLogEntrySchema)
