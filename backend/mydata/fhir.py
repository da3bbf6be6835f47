"""The export as a FHIR R4 (4.0.1) Bundle of type `collection`.

A Patient; per check-in a panel Observation (identified by the check-in id) whose members are one
Observation per answer, each coded in Careloop's own code system (no licensed instrument text) and,
where a standard code means the same thing, in LOINC beside it: the daily pain item and the PEG
pain item as 72514-3, the PEG score (derived from its three items) as 91147-9, the PHQ-2 items and
total, the GAD-2 items; the PHQ-2 and GAD-2 totals carry a positive/negative interpretation; each
reported symptom. Per dose a MedicationStatement with the amount as a UCUM quantity where the unit
is one, and the substance and its form coded in a contained Medication. The Bundle's
`meta.profile` names the FHIR R4 (4.0.1) Bundle definition.
Reminders, shares and the rest have no FHIR resource that fits them plainly: they are in the JSON
and CSV exports.

The Bundle is built as plain dicts and checked against the FHIR R4 models of SMART Health IT's
`fhirclient` before it leaves: an export that another system cannot read is a bug.
"""

import uuid

from fhirclient.models.bundle import Bundle
from fhirclient.models.fhirabstractbase import FHIRValidationError

from backend.checkins.models import SCORE_ITEMS
from backend.domain import (PEG_ITEMS, SCREENS, display_amount, form_label, positive_screen, screen_score,
                            substance_label, words)

MIMETYPE = "application/fhir+json"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CARELOOP = "https://careloop.app/fhir"
CHECKIN_ITEMS = f"{CARELOOP}/CodeSystem/checkin-item"
SYMPTOMS = f"{CARELOOP}/CodeSystem/symptom"
SUBSTANCE_KINDS = f"{CARELOOP}/CodeSystem/substance-kind"
DOSE_FORMS = f"{CARELOOP}/CodeSystem/dose-form"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
STATEMENT_CATEGORY = "http://terminology.hl7.org/CodeSystem/medication-statement-category"

INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# The version-qualified canonical of R4's own Bundle definition (FHIR R4 "canonical": url|version).
R4_BUNDLE_PROFILE = "http://hl7.org/fhir/StructureDefinition/Bundle|4.0.1"

PAIN_CODE = {"system": LOINC, "code": "72514-3",
             "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported"}
# Standard codes beside our own, with LOINC's names as display texts. Sources: the PEG panel
# 91148-7 (Krebs et al. 2009), whose mean score is 91147-9; the PHQ-SADS panel (loinc.org/69729-2),
# which lists the PHQ-9 items 44250-9 and 44255-8, the GAD-7 items 69725-0 and 68509-9 and the
# GAD-7 total 70274-6; LOINC 55758-7, "Patient Health Questionnaire 2 item (PHQ-2) total score
# [Reported]". PHQ-2 and GAD-2 are the first two items of PHQ-9 and GAD-7.
LOINC_CODES = {
    "pain_today": PAIN_CODE,
    "pain": PAIN_CODE,
    "peg_score": {"system": LOINC, "code": "91147-9", "display": "Mean score [PEG]"},
    "phq2_interest": {"system": LOINC, "code": "44250-9", "display": "Little interest or pleasure in doing things"},
    "phq2_mood": {"system": LOINC, "code": "44255-8", "display": "Feeling down, depressed, or hopeless"},
    "phq2_score": {"system": LOINC, "code": "55758-7",
                   "display": "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]"},
    "gad2_nervous": {"system": LOINC, "code": "69725-0", "display": "Feeling nervous, anxious or on edge"},
    "gad2_worry": {"system": LOINC, "code": "68509-9",
                   "display": "Over the past 2 weeks have you not been able to stop or control worrying"},
    # No GAD-2 total: LOINC 70274-6 is the GAD-7 total score (0-21), a different measure from the
    # two-item total (0-6), so the GAD-2 total carries Careloop's code alone.
}
# Our own words for each answer, with its scale; PHQ-2 and GAD-2 items are named, not quoted.
ITEM_TEXT = {
    "pain_today": "Pain today, 0 (none) – 10 (worst imaginable)",
    "pain": "Pain on average over the past week (PEG), 0 (none) – 10 (worst imaginable)",
    "enjoyment_interference": "Pain interference with enjoyment of life, 0 (none) – 10 (complete)",
    "activity_interference": "Pain interference with general activity, 0 (none) – 10 (complete)",
    "focus": "Trouble focusing, 0 (never) – 4 (very often)",
    "hyperactivity": "Hyperactivity, 0 (never) – 4 (very often)",
    "impulsivity": "Impulsivity, 0 (never) – 4 (very often)",
    "restlessness": "Restlessness, 0 (never) – 4 (very often)",
    "mood": "Mood, 0 (worst) – 10 (best)",
    "sleep_quality": "Sleep quality, 0 (very poor) – 4 (very good)",
    "phq2_interest": "PHQ-2 item 1 (interest), 0–3",
    "phq2_mood": "PHQ-2 item 2 (mood), 0–3",
    "gad2_nervous": "GAD-2 item 1 (nervousness), 0–3",
    "gad2_worry": "GAD-2 item 2 (worry), 0–3",
    "sleep_hours": "Hours slept",
    "peg_score": "PEG score: mean of pain and its two interference items, 0–10",
    "phq2_score": "PHQ-2 total, 0–6 (3 or more: a positive screen)",
    "gad2_score": "GAD-2 total, 0–6 (3 or more: a positive screen)",
    "side_effect": "Side effect reported",
    "withdrawal_symptom": "Withdrawal symptom reported",
    "checkin": "Careloop check-in",
}
UCUM_UNITS = {"g": "g", "mg": "mg", "mcg": "ug", "ml": "mL"}


SURVEY = [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}]
SCREEN_RESULT = {
    True: [{"coding": [{"system": INTERPRETATION, "code": "POS", "display": "Positive"}]}],
    False: [{"coding": [{"system": INTERPRETATION, "code": "NEG", "display": "Negative"}]}],
}


class InvalidBundle(RuntimeError):
    """The bundle does not parse with the FHIR R4 models."""


def bundle(data):
    """The FHIR R4 Bundle for the gathered export `data` (see services.gather), validated."""
    user = data["profile"]
    patient = _patient(user)
    resources = [patient]
    for checkin in data["checkins"]:
        resources += _checkin_observations(checkin, patient["id"])
    resources += [_medication_statement(dose, patient["id"]) for dose in data["doses"]]
    result = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [R4_BUNDLE_PROFILE]},
        "type": "collection",
        "timestamp": _instant(data["exported_at"]),
        "entry": [{"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource} for resource in resources],
    }
    validate_shapes(result)
    return result


def validate(document):
    """Parse with the FHIR R4 Bundle model (strict: wrong types, unknown or missing elements fail)."""
    try:
        Bundle(document, strict=True)
    except FHIRValidationError as error:
        raise InvalidBundle(str(error)) from error


def validate_shapes(document):
    """`validate` the Bundle with one entry of each distinct shape (the same keys holding the same
    JSON types, at every depth).

    The model checks types, required and unknown elements, and the format of dates; our dates are
    all written by `_instant`. So entries of one shape pass or fail together, and a year of a heavy
    user's check-ins (some 45,000 Observations, ten seconds to parse) has about ten shapes. The
    tests parse whole Bundles.
    """
    distinct = {}
    for entry in document["entry"]:
        distinct.setdefault(_shape(entry), entry)
    validate({**document, "entry": list(distinct.values())})


def _shape(value):
    kind = type(value)
    if kind is dict:
        return tuple([(key, _shape(item)) for key, item in value.items()])
    if kind is list:
        return frozenset([_shape(item) for item in value])
    return kind


def _instant(value):
    return value.isoformat().replace("+00:00", "Z")


def _reference(resource_id):
    return {"reference": f"urn:uuid:{resource_id}"}


def _patient(user):
    patient = {"resourceType": "Patient", "id": str(user.id),
               "identifier": [{"system": f"{CARELOOP}/sid/user", "value": str(user.id)}], "active": True}
    if user.display_name:
        patient["name"] = [{"text": user.display_name}]
    return patient


def _careloop_code(system, code, text):
    return {"coding": [{"system": system, "code": code, "display": text}], "text": text}


def _score(value):
    return {"value": value, "unit": "{score}", "system": UCUM, "code": "{score}"}


def _checkin_observations(checkin, patient_id):
    """A panel Observation for the check-in and one member Observation per answer."""
    def member_id(key):  # the same id in every export of this check-in
        return str(uuid.uuid5(checkin.id, key))

    # What every Observation of the check-in shares (one object each: a year's export has ~45,000).
    patient = _reference(patient_id)
    context = {"subject": patient, "effectiveDateTime": _instant(checkin.recorded_at),
               "issued": _instant(checkin.created_at), "performer": [patient]}  # reported by the patient

    def observation(key, code, **value):
        return {"resourceType": "Observation", "id": member_id(key), "status": "final", "category": SURVEY,
                "code": code, **context, **value}

    def item_code(item):
        ours = _careloop_code(CHECKIN_ITEMS, item, ITEM_TEXT[item])
        if item in LOINC_CODES:
            ours["coding"].insert(0, LOINC_CODES[item])
        return ours

    members = [observation(item, item_code(item), valueQuantity=_score(getattr(checkin, item)))
               for item in SCORE_ITEMS if getattr(checkin, item) is not None]
    if checkin.sleep_hours is not None:
        members.append(observation("sleep_hours", item_code("sleep_hours"), valueQuantity={
            "value": checkin.sleep_hours, "unit": "h", "system": UCUM, "code": "h"}))
    if checkin.peg_score is not None:
        members.append(observation("peg_score", item_code("peg_score"), valueQuantity=_score(checkin.peg_score),
                                   derivedFrom=[_reference(member_id(item)) for item in PEG_ITEMS]))
    for screen, items in SCREENS.items():
        score = screen_score(*(getattr(checkin, item) for item in items))
        if score is not None:
            members.append(observation(f"{screen}_score", item_code(f"{screen}_score"), valueQuantity=_score(score),
                                       interpretation=SCREEN_RESULT[positive_screen(score)],
                                       derivedFrom=[_reference(member_id(item)) for item in items]))
    for kind, symptoms in (("side_effect", checkin.side_effects), ("withdrawal_symptom", checkin.withdrawal_symptoms)):
        for symptom in symptoms or ():
            members.append(observation(f"{kind}:{symptom}", item_code(kind), valueCodeableConcept=_careloop_code(
                SYMPTOMS, symptom, words(symptom))))
    panel = observation("checkin", item_code("checkin"),
                        identifier=[{"system": f"{CARELOOP}/sid/checkin", "value": str(checkin.id)}])
    if members:  # FHIR JSON has no empty arrays
        panel["hasMember"] = [_reference(member["id"]) for member in members]
    if checkin.note:
        panel["note"] = [{"text": checkin.note}]
    return [panel, *members]


def _medication_statement(dose, patient_id):
    substance = substance_label(dose.substance_kind)
    form = form_label(dose.form)
    text = ", ".join(part for part in (dose.product, form) if part)
    quantity = {"value": dose.amount, "unit": dose.unit}
    if dose.unit in UCUM_UNITS:
        quantity.update(system=UCUM, code=UCUM_UNITS[dose.unit])
    amount = display_amount(dose.amount, dose.unit)
    # The form is part of what was taken (leaf, capsules, extract and a 7-OH concentrate are never
    # one measure): a contained Medication carries it coded, as R4's Medication.form.
    medication = {"resourceType": "Medication", "id": "medication", "code": {
        "coding": [{"system": SUBSTANCE_KINDS, "code": dose.substance_kind, "display": substance}],
        "text": f"{substance}: {text}" if text else substance}}
    if dose.form:
        medication["form"] = _careloop_code(DOSE_FORMS, dose.form, form)
    statement = {
        "resourceType": "MedicationStatement",
        "id": str(dose.id),
        "contained": [medication],
        "identifier": [{"system": f"{CARELOOP}/sid/dose", "value": str(dose.id)}],
        "status": "completed",
        "category": {"coding": [{"system": STATEMENT_CATEGORY, "code": "patientspecified",
                                 "display": "Patient Specified"}]},
        "medicationReference": {"reference": "#medication", "display": medication["code"]["text"]},
        "subject": _reference(patient_id),
        "effectiveDateTime": _instant(dose.taken_at),
        "dateAsserted": _instant(dose.created_at),
        "informationSource": _reference(patient_id),
        "dosage": [{"text": amount, "doseAndRate": [{"doseQuantity": quantity}]}],
    }
    if dose.note:
        statement["note"] = [{"text": dose.note}]
    return statement
