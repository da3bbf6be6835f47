"""Plan and prompt payloads."""

import marshmallow as ma

from backend.api import Instant, Integer, Number, Schema, page_schema
from backend.domain import SUBSTANCE_KINDS, UNITS


class LimitSchema(Schema):
    amount = Number(required=True, allow_nan=False,
                             validate=ma.validate.Range(0, 100_000, min_inclusive=False))
    unit = ma.fields.String(required=True, validate=ma.validate.OneOf(UNITS))


class SubstancePlanSchema(Schema):
    daily_limit = ma.fields.Nested(LimitSchema, allow_none=True, metadata={
        "description": "Your own daily limit (local day); g, mg and mcg are compared with each other"})
    min_interval_minutes = Integer(allow_none=True, validate=ma.validate.Range(1, 1440))


def bounded(low, high, description):
    return Integer(validate=ma.validate.Range(low, high), metadata={"description": description})


class PlanSchema(Schema):
    substances = ma.fields.Dict(keys=ma.fields.String(validate=ma.validate.OneOf(SUBSTANCE_KINDS)),
                                values=ma.fields.Nested(SubstancePlanSchema))
    escalation_percent = bounded(5, 500, "Escalation: last 7 days' daily mean this much above the 21 before (25)")
    combination_window_hours = bounded(1, 48, "Risky combination: doses this close together (6)")
    worsening_days = bounded(2, 14, "Worsening: days running above baseline (3)")
    baseline_days = bounded(7, 60, "Worsening: days of baseline before them (14)")
    withdrawal_symptom_count = bounded(1, 15, "Withdrawal: symptoms in one check-in (3)")
    missed_checkin_hours = bounded(12, 336, "Missed check-ins: hours without one while reminders are on (48)")
    cooldown_hours = bounded(1, 720, "A rule fires again for the same thing only after this (24)")


class PromptSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    rule = ma.fields.String(dump_only=True)
    subject = ma.fields.String(dump_only=True)
    severity = ma.fields.String(dump_only=True, metadata={"description": "info, warning or high"})
    message = ma.fields.String(dump_only=True)
    evidence = ma.fields.Dict(dump_only=True, metadata={"description": "The data the prompt was based on"})
    created_at = Instant(dump_only=True)
    acknowledged_at = Instant(dump_only=True, allow_none=True)


PromptPageSchema = page_schema(PromptSchema)
