"""Check-in payloads."""

import marshmallow as ma

from backend.api import Choice, Instant, refused, Integer, Number, RangeQuerySchema, Schema, Text, answer_schema, page_schema
from backend.checkins.models import SCORE_ITEMS
from backend.checkins.vocabulary import SIDE_EFFECTS, WITHDRAWAL_SEVERITY, WITHDRAWAL_SYMPTOMS
from backend.domain import NOTE_MAX

UNLISTED_RATED = "Every symptom rated above 0 must be in withdrawal_symptoms."
LISTED_RATED_NONE = "A symptom in withdrawal_symptoms must not be rated 0."
NOTHING_ANSWERED = "A check-in needs at least one answer."


def score(high, description):
    return Integer(allow_none=True, validate=ma.validate.Range(0, high), metadata={"description": description})


SIDE_EFFECT = Choice("SideEffect", SIDE_EFFECTS)
WITHDRAWAL_SYMPTOM = Choice("WithdrawalSymptom", WITHDRAWAL_SYMPTOMS)


def vocabulary_list(words, description):
    return ma.fields.List(
        ma.fields.String(validate=words),
        validate=ma.validate.Length(max=len(words.choices)),
        metadata={"description": description})


class CheckInFields(Schema):
    """What a person writes of a check-in (a PATCH any of it)."""

    recorded_at = Instant(required=True)
    pain_today = score(10, "Pain today (right now), 0–10: the daily item; PEG below asks about the past week")
    pain = score(10, "PEG: average pain in the past week, 0–10")
    enjoyment_interference = score(10, "PEG: interference with enjoyment of life, 0–10")
    activity_interference = score(10, "PEG: interference with general activity, 0–10")
    focus = score(4, "Trouble focusing: 0 never … 4 very often")
    hyperactivity = score(4, "Hyperactivity: 0 never … 4 very often")
    impulsivity = score(4, "Impulsivity: 0 never … 4 very often")
    restlessness = score(4, "Restlessness: 0 never … 4 very often")
    mood = score(10, "Mood, 0 (worst) – 10 (best)")
    sleep_hours = Number(allow_none=True, validate=ma.validate.Range(0, 24), allow_nan=False)
    sleep_quality = score(4, "Sleep quality: 0 very poor … 4 very good")
    phq2_interest = score(3, "PHQ-2 item 1, 0–3")
    phq2_mood = score(3, "PHQ-2 item 2, 0–3")
    gad2_nervous = score(3, "GAD-2 item 1, 0–3")
    gad2_worry = score(3, "GAD-2 item 2, 0–3")
    side_effects = vocabulary_list(SIDE_EFFECT, "Side effects noticed, including liver warning signs")
    withdrawal_symptoms = vocabulary_list(WITHDRAWAL_SYMPTOM, "Withdrawal symptoms noticed")
    withdrawal_severity = ma.fields.Dict(
        keys=ma.fields.String(validate=WITHDRAWAL_SYMPTOM),
        values=Integer(validate=ma.validate.Range(*WITHDRAWAL_SEVERITY)),
        metadata={"description": "How strong each withdrawal symptom was: 0 none … 4 severe. Rated symptoms "
                                 "above 0 are withdrawal symptoms; without `withdrawal_symptoms` in the same "
                                 "body, the list is made of them. " + refused(UNLISTED_RATED, LISTED_RATED_NONE)})
    note = Text(allow_none=True, validate=ma.validate.Length(max=NOTE_MAX))

    @ma.validates_schema
    def _rated_symptoms_are_listed(self, data, **kwargs):
        severity, listed = data.get("withdrawal_severity"), data.get("withdrawal_symptoms")
        if severity is None or listed is None:
            return
        if any(level > 0 and name not in listed for name, level in severity.items()):
            raise ma.ValidationError(UNLISTED_RATED, "withdrawal_severity")
        if any(level == 0 and name in listed for name, level in severity.items()):
            raise ma.ValidationError(LISTED_RATED_NONE, "withdrawal_severity")

    @ma.post_load
    def _unique_symptoms(self, data, **kwargs):
        for name in ("side_effects", "withdrawal_symptoms"):
            if name in data:
                data[name] = list(dict.fromkeys(data[name]))
        if "withdrawal_severity" in data:
            data["withdrawal_severity"] = {name: level for name, level in data["withdrawal_severity"].items() if level}
            data.setdefault("withdrawal_symptoms", list(data["withdrawal_severity"]))
        return data


class CheckInCreateSchema(CheckInFields):
    class Meta(CheckInFields.Meta):
        description = refused(NOTHING_ANSWERED)

    id = ma.fields.UUID(required=True, metadata={"description": "Client-generated UUID; repeating a create is safe"})

    @ma.validates_schema
    def _something_answered(self, data, **kwargs):
        answered = [name for name in SCORE_ITEMS + ("sleep_hours", "note") if data.get(name) is not None]
        if not answered and not any(data.get(name) for name in ("side_effects", "withdrawal_symptoms",
                                                                  "withdrawal_severity")):
            raise ma.ValidationError(NOTHING_ANSWERED, "_schema")


class CheckInPatchSchema(CheckInFields):
    pass


CheckInSchema = answer_schema(
    "CheckInSchema", CheckInCreateSchema,
    peg_score=ma.fields.Float(dump_only=True, allow_none=True, metadata={"description": "Mean of the three PEG items"}),
    phq2_score=ma.fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "PHQ-2 total, 0–6, when both items were answered; 3 or more is a positive screen"}),
    gad2_score=ma.fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "GAD-2 total, 0–6, when both items were answered; 3 or more is a positive screen"}),
    created_at=Instant(dump_only=True), updated_at=Instant(dump_only=True))


CheckInPageSchema = page_schema(CheckInSchema)
CheckInQuerySchema = RangeQuerySchema
