"""Dose payloads."""

import marshmallow as ma

from backend.api import Choice, Instant, Number, RangeQuerySchema, Schema, Text, answer_schema, page_schema, refused
from backend.domain import FORM_NAMES, NOTE_MAX, SUBSTANCE_KINDS, UNITS

MAX_AMOUNT = 100_000
MAX_TOTAL_DAYS = 366

# The dose vocabulary as the contract names it (monitoring's plan uses the same words).
SUBSTANCE_KIND = Choice("SubstanceKind", SUBSTANCE_KINDS)
FORM = Choice("Form", FORM_NAMES)
UNIT = Choice("Unit", UNITS)


class DoseFields(Schema):
    """What a person writes of a dose (a PATCH any of it)."""

    taken_at = Instant(required=True)
    substance_kind = ma.fields.String(required=True, validate=SUBSTANCE_KIND)
    form = ma.fields.String(allow_none=True, validate=FORM,
                            metadata={"description": "Product form; `concentrate_7oh` for concentrated 7-OH products"})
    product = Text(allow_none=True, validate=ma.validate.Length(1, 120),
                   metadata={"description": "Product or strain name"})
    amount = Number(required=True, allow_nan=False,
                    validate=ma.validate.Range(0, MAX_AMOUNT, min_inclusive=False))
    unit = ma.fields.String(required=True, validate=UNIT)
    note = Text(allow_none=True, validate=ma.validate.Length(max=NOTE_MAX))


class DoseCreateSchema(DoseFields):
    id = ma.fields.UUID(required=True, metadata={"description": "Client-generated UUID; repeating a create is safe"})


class DosePatchSchema(DoseFields):
    pass


DoseSchema = answer_schema("DoseSchema", DoseCreateSchema, created_at=Instant(dump_only=True),
                           updated_at=Instant(dump_only=True))


TO_BEFORE_FROM = "Must not be before `from`."
TOO_MANY_DAYS = f"At most {MAX_TOTAL_DAYS} days per request."
YEARS_OUT_OF_RANGE = "Must be between 2000 and 2100."


class DailyTotalsQuerySchema(Schema):
    start = ma.fields.Date(required=True, data_key="from", metadata={
        "description": "First local day (YYYY-MM-DD). " + refused(YEARS_OUT_OF_RANGE)})
    end = ma.fields.Date(required=True, data_key="to", metadata={
        "description": "Last local day, inclusive. " + refused(TO_BEFORE_FROM, TOO_MANY_DAYS)})

    @ma.validates_schema
    def _sane_range(self, data, **kwargs):
        if data["end"] < data["start"]:
            raise ma.ValidationError(TO_BEFORE_FROM, "to")
        if (data["end"] - data["start"]).days >= MAX_TOTAL_DAYS:
            raise ma.ValidationError(TOO_MANY_DAYS, "to")
        if data["start"].year < 2000 or data["end"].year > 2100:
            raise ma.ValidationError(YEARS_OUT_OF_RANGE, "from")


class DailyTotalSchema(Schema):
    date = ma.fields.Date(required=True, metadata={"description": "Local day in the user's time zone"})
    substance_kind = ma.fields.String(required=True)
    form = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "Product form; each form is totalled on its own, never added to another"})
    unit = ma.fields.String(required=True)
    total = ma.fields.Float(required=True)
    doses = ma.fields.Integer(required=True, metadata={"description": "Number of doses summed"})


class DailyTotalsSchema(Schema):
    timezone = ma.fields.String(required=True)
    items = ma.fields.List(ma.fields.Nested(DailyTotalSchema), required=True)


DosePageSchema = page_schema(DoseSchema)
DoseQuerySchema = RangeQuerySchema
