"""What a caregiver or clinician reads of a patient: check-ins and doses (notes only when shared),
and the summary."""

import marshmallow as ma

from backend.api import Instant, RangeQuerySchema, Schema, Text, page_schema
from backend.checkins.schemas import CheckInSchema
from backend.doses.schemas import DoseSchema
from backend.sharing.schemas import PersonSchema


class SharedCheckInSchema(CheckInSchema):
    """A check-in as a viewer reads it: `note` only when the patient shared `notes`."""

    note = Text(allow_none=True, metadata={"description": "Only when the patient shared their notes"})


class SharedDoseSchema(DoseSchema):
    """A dose as a viewer reads it: `note` only when the patient shared `notes`."""

    note = Text(allow_none=True, metadata={"description": "Only when the patient shared their notes"})


class HidesUnsharedNotes:
    """A page dumped from `{"items", "next_cursor", "notes_visible"}`: the read decided whether the
    free-text notes may be shown, and says so in the data it returns. `notes_visible` itself is not
    part of the response; a page without it shows no notes."""

    @ma.post_dump(pass_original=True)
    def _hide_notes(self, data, page, **kwargs):
        if not page.get("notes_visible", False):
            for item in data["items"]:
                item.pop("note", None)
        return data


class SharedCheckInPageSchema(HidesUnsharedNotes, page_schema(SharedCheckInSchema)):
    pass


class SharedDosePageSchema(HidesUnsharedNotes, page_schema(SharedDoseSchema)):
    pass


class SummaryQuerySchema(RangeQuerySchema):
    class Meta(RangeQuerySchema.Meta):
        exclude = ("cursor", "limit")


class SummarySchema(Schema):
    patient = ma.fields.Nested(PersonSchema, required=True)
    since = Instant(required=True)
    until = Instant(required=True)
    timezone = ma.fields.String(required=True)
    checkins = ma.fields.Dict(allow_none=True, metadata={"description": "Counts and means (absent without the checkins scope)"})
    doses = ma.fields.Dict(allow_none=True, metadata={"description": "Daily totals per substance and unit (absent without the doses scope)"})
    reminders = ma.fields.Dict(allow_none=True, metadata={"description": "Check-in reminder adherence counts"})
