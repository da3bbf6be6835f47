"""Plan and prompt payloads."""

import marshmallow as ma

from backend.api import Instant, Integer, Number, Schema, page_schema
from backend.doses.schemas import FORM, SUBSTANCE_KIND, UNIT
from backend.domain import FORM_NAMES


class LimitSchema(Schema):
    amount = Number(required=True, allow_nan=False,
                             validate=ma.validate.Range(0, 100_000, min_inclusive=False))
    unit = ma.fields.String(required=True, validate=UNIT)
    forms = ma.fields.List(
        ma.fields.String(validate=FORM), validate=ma.validate.Length(min=1),
        metadata={"description": "The forms the limit covers (every form when left out); each form's daily total "
                                 "is compared on its own, never added to another's"})


class SubstancePlanSchema(Schema):
    daily_limit = ma.fields.Nested(LimitSchema, allow_none=True, metadata={
        "description": "Your own daily limit (local day); g, mg and mcg are compared with each other, count "
                       "units (capsule, tablet, drink, ml) with themselves"})
    daily_limits = ma.fields.List(ma.fields.Nested(LimitSchema), validate=ma.validate.Length(max=len(FORM_NAMES)),
                                  metadata={"description": "More daily limits, each naming the forms it covers "
                                                           "(a limit for leaf powder, another for 7-OH products)"})
    min_interval_minutes = Integer(allow_none=True, validate=ma.validate.Range(1, 1440))


def bounded(low, high, description):
    return Integer(validate=ma.validate.Range(low, high), metadata={"description": description})


class PlanSchema(Schema):
    substances = ma.fields.Dict(keys=ma.fields.String(validate=SUBSTANCE_KIND),
                                values=ma.fields.Nested(SubstancePlanSchema))
    escalation_percent = bounded(5, 500, "Escalation: mean amount per logged day of the last 7 days this much "
                                         "above the 21 before (25)")
    combination_window_hours = bounded(1, 48, "Risky combination: doses this close together (6)")
    worsening_days = bounded(2, 14, "Worsening: days running above baseline (3)")
    baseline_days = bounded(7, 60, "Worsening: days of baseline before them (14)")
    withdrawal_symptom_count = bounded(1, 15, "Withdrawal: score of one check-in (3); a symptom weighs 1, a specific "
                                              "sign 1.5, anxiety, restlessness or irritability 0.5")
    missed_checkin_hours = bounded(12, 336, "Missed check-ins: hours without one while reminders are on (48)")
    cooldown_hours = bounded(1, 720, "A warning fires again for the same rule and subject only after this (24); "
                                     "daily digests and missed doses are not held")


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
