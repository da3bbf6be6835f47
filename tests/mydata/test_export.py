"""GET /v1/me/export: exactly the person's records, as JSON, as CSV files in a ZIP, and as a FHIR R4
Bundle that parses with the R4 models of SMART Health IT's fhirclient."""

import copy
import csv
import io
import json
import zipfile

import pytest
from fhirclient.models.bundle import Bundle

from backend.mydata import fhir
from backend.mydata.parts import PARTS
from tests.mydata import account_world
from tests.support import checkin_body, dose_body

SECTIONS = [section for part in PARTS for section in part.sections]


@pytest.fixture
def world(app, client, make_person, time_machine):
    return account_world.build(app, client, make_person, time_machine)


def export(client, person, fmt=None):
    response = client.get("/v1/me/export" + (f"/{fmt}" if fmt and fmt != "json" else ""), headers=person.headers)
    assert response.status_code == 200, response.data[:500]
    assert response.headers["Content-Disposition"].startswith("attachment; filename=\"careloop-export-")
    assert response.headers["Cache-Control"] == "no-store"
    return response


def ids(items):
    return {item["id"] for item in items}


def secrets_and_others(world):
    """What must never appear in Alice's export: other people's ids and uids, every push token,
    Bob's and Carol's records, and the one-time invite code and report-link address."""
    others = [world.bob, world.carol]
    values = [p.person.id for p in others] + [p.person.uid for p in others]
    values += [token for lived in (world.alice, *others) for token in [lived.token, *lived.old_tokens]]
    values += [record["id"] for lived in others for record in lived.checkins + lived.doses + [lived.reminder]]
    values += [world.pending_invite["code"], world.report_link["url"].rsplit("/", 1)[1]]
    return values


def test_json_export_holds_exactly_my_records(client, world):
    response = export(client, world.alice.person)
    assert response.mimetype == "application/json"
    document = response.json
    alice = world.alice

    assert document["profile"]["id"] == alice.person.id
    assert document["profile"]["firebase_uid"] == alice.person.uid
    assert ids(document["checkins"]) == ids(alice.checkins)
    assert [c["peg_score"] for c in document["checkins"]] == [5.0, None]
    assert ids(document["doses"]) == ids(alice.doses)
    assert ids(document["reminders"]) == {alice.reminder["id"]}
    [occurrence] = document["reminder_occurrences"]
    assert occurrence["reminder_id"] == alice.reminder["id"] and occurrence["adherence"] == "awaiting"
    assert {p["rule"] for p in document["prompts"]} >= {"concentrated_7oh"}
    assert {p["purpose"] for p in document["pushes"]} == {"reminder", "prompt"}
    assert document["plan"]["substances"] == {"kratom": {"daily_limit": {"amount": 8.0, "unit": "g"}}}
    # Shares both ways, the other side known by display name only.
    assert sorted((s["as"], s["other_person"]) for s in document["shares"]) == [("patient", "Bob"),
                                                                              ("viewer", "Carol")]
    assert sorted(i["state"] for i in document["invites"]) == ["accepted", "pending"]
    assert [link["label"] for link in document["report_links"]] == ["Dr Lee"]
    [entry] = document["access_log"]
    assert entry["who"] == "Bob" and entry["data_kind"] == "checkins" and "viewer_id" not in entry
    # The push token, masked: the last characters tell phones apart and cannot push.
    [device] = document["devices"]
    assert device["token"] == "…" + alice.token[-6:]

    text = response.get_data(as_text=True)
    leaked = [value for value in secrets_and_others(world) if value in text]
    assert not leaked


def test_another_person_exports_only_their_own(client, world):
    document = export(client, world.bob.person).json
    assert document["profile"]["id"] == world.bob.person.id
    assert ids(document["checkins"]) == ids(world.bob.checkins)
    assert ids(document["doses"]) == ids(world.bob.doses)
    assert [(s["as"], s["other_person"]) for s in document["shares"]] == [("viewer", "Alice")]
    assert document["access_log"] == [] and document["invites"] == [] and document["report_links"] == []
    assert world.alice.person.id not in json.dumps(document)


def test_csv_archive_has_one_file_per_table_with_its_rows(client, world):
    response = export(client, world.alice.person, "csv")
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].endswith('.zip"')
    document = export(client, world.alice.person).json
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert sorted(archive.namelist()) == sorted(f"{name}.csv" for name in SECTIONS)

    def rows(name):
        return list(csv.DictReader(io.StringIO(archive.read(f"{name}.csv").decode("utf-8-sig"))))

    for name in SECTIONS:
        expected = document[name] if isinstance(document[name], list) else [document[name]]
        assert len(rows(name)) == len(expected), name
    checkins = {row["id"]: row for row in rows("checkins")}
    first = checkins[world.alice.checkins[0]["id"]]
    assert (first["pain"], first["peg_score"], first["withdrawal_symptoms"]) == ("5", "5.0", "yawning;craving")
    assert rows("profile")[0]["quiet_hours.start"] == ""
    assert json.loads(rows("plan")[0]["substances"]) == {"kratom": {"daily_limit": {"amount": 8.0, "unit": "g"}}}
    assert rows("reminder_occurrences")[0]["adherence"] == "awaiting"
    # A note that reads like a spreadsheet formula stays text when the file is opened in one.
    assert first["note"] == "'=HYPERLINK(\"http://x\")"


def test_an_empty_account_exports_headers_only(client, make_person):
    person = make_person()
    archive = zipfile.ZipFile(io.BytesIO(export(client, person, "csv").data))
    header, *rows = archive.read("doses.csv").decode("utf-8-sig").splitlines()
    assert header.startswith("id,taken_at,substance_kind,form,product,amount,unit") and rows == []
    bundle = export(client, person, "fhir").json
    assert [entry["resource"]["resourceType"] for entry in bundle["entry"]] == ["Patient"]


def resources(bundle, kind):
    return [entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == kind]


def test_fhir_bundle_parses_with_the_r4_models(client, world):
    response = export(client, world.alice.person, "fhir")
    assert response.mimetype == "application/fhir+json"
    bundle = json.loads(response.data)
    parsed = Bundle(bundle, strict=True)  # raises FHIRValidationError on anything R4 does not allow
    assert parsed.type == "collection"
    assert {entry.resource.resource_type for entry in parsed.entry} == {
        "Patient", "Observation", "MedicationStatement"}
    [patient] = resources(bundle, "Patient")
    assert patient["name"] == [{"text": "Alice"}]
    every_reference = {ref for entry in bundle["entry"] for ref in _references(entry["resource"])}
    # Every reference resolves: to another entry, or ("#medication") to the resource's contained one.
    assert every_reference - {"#medication"} <= {entry["fullUrl"] for entry in bundle["entry"]}
    assert all([c["id"] for c in r["contained"]] == ["medication"] for r in resources(bundle, "MedicationStatement"))
    text = response.get_data(as_text=True)
    assert not [value for value in secrets_and_others(world) if value in text]


def _references(resource):
    if isinstance(resource, dict):
        for key, value in resource.items():
            if key == "reference":
                yield value
            else:
                yield from _references(value)
    elif isinstance(resource, list):
        for item in resource:
            yield from _references(item)


def test_fhir_pain_observation_carries_loinc_72514_3(client, world):
    bundle = export(client, world.alice.person, "fhir").json
    observations = resources(bundle, "Observation")
    pain = [o for o in observations if o["code"]["coding"][0] == {
        "system": "http://loinc.org", "code": "72514-3",
        "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported"}]
    assert sorted((o["effectiveDateTime"], o["valueQuantity"]["value"]) for o in pain) == [
        ("2026-11-24T07:30:00Z", 5), ("2026-11-24T20:00:00Z", 3)]
    assert all(o["subject"]["reference"] == f"urn:uuid:{world.alice.person.id}" for o in observations)
    by_code = {}
    for o in observations:
        by_code.setdefault(careloop_code(o), []).append(o)
    # One panel per check-in, identified by the check-in's id, with its answers as members.
    panels = by_code["checkin"]
    assert {p["identifier"][0]["value"] for p in panels} == ids(world.alice.checkins)
    first = next(p for p in panels if p["identifier"][0]["value"] == world.alice.checkins[0]["id"])
    assert len(first["hasMember"]) == 10 and first["note"] == [{"text": "=HYPERLINK(\"http://x\")"}]
    [peg] = by_code["peg_score"]
    assert peg["valueQuantity"]["value"] == 5.0 and len(peg["derivedFrom"]) == 3
    assert by_code["sleep_hours"][0]["valueQuantity"] == {
        "value": 6.5, "unit": "h", "system": "http://unitsofmeasure.org", "code": "h"}
    assert sorted(o["valueCodeableConcept"]["coding"][0]["code"] for o in by_code["withdrawal_symptom"]) == [
        "craving", "yawning"]
    assert all(c["system"].startswith(("http://loinc.org", "https://careloop.app/fhir/"))
               for o in observations for c in o["code"]["coding"])


def careloop_code(observation):
    [ours] = [c["code"] for c in observation["code"]["coding"] if c["system"].startswith("https://careloop.app/")]
    return ours


def test_fhir_codes_instruments_in_loinc_beside_careloops_own(client, make_person):
    """pain_today, the PEG score, PHQ-2 and GAD-2 items and totals: each keeps Careloop's code and
    gains the LOINC code that means the same (a check-in with pain_today could not be exported)."""
    person = make_person(name="Pat")
    checkin = client.post("/v1/checkins", headers=person.headers, json=checkin_body(
        pain_today=7, phq2_interest=2, phq2_mood=1, gad2_nervous=1, gad2_worry=1)).json
    client.post("/v1/checkins", headers=person.headers, json=checkin_body(
        recorded_at="2026-11-21T08:00:00Z", pain=None, phq2_interest=0, phq2_mood=2))
    bundle = export(client, person, "fhir").json
    assert bundle["meta"] == {"profile": ["http://hl7.org/fhir/StructureDefinition/Bundle|4.0.1"]}
    codes = {}
    for o in resources(bundle, "Observation"):
        codes.setdefault(careloop_code(o), []).append(o)

    def loinc(key):
        return [c["code"] for o in codes[key] for c in o["code"]["coding"] if c["system"] == "http://loinc.org"]

    assert loinc("pain_today") == ["72514-3"] and loinc("pain") == ["72514-3"]
    assert loinc("peg_score") == ["91147-9"]
    assert loinc("phq2_interest") == ["44250-9", "44250-9"] and loinc("phq2_mood") == ["44255-8", "44255-8"]
    assert loinc("phq2_score") == ["55758-7", "55758-7"]
    assert loinc("gad2_nervous") == ["69725-0"] and loinc("gad2_worry") == ["68509-9"]
    assert loinc("gad2_score") == []  # 70274-6 is the GAD-7 total, not the GAD-2 one
    [today] = codes["pain_today"]
    assert today["valueQuantity"]["value"] == 7 and today["code"]["text"].startswith("Pain today")
    screens = {(careloop_code(o), o["valueQuantity"]["value"], o["interpretation"][0]["coding"][0]["code"])
               for key in ("phq2_score", "gad2_score") for o in codes[key]}
    assert screens == {("phq2_score", 3, "POS"), ("phq2_score", 2, "NEG"), ("gad2_score", 2, "NEG")}
    [gad2] = codes["gad2_score"]
    assert len(gad2["derivedFrom"]) == 2
    [panel] = [p for p in codes["checkin"] if p["identifier"][0]["value"] == checkin["id"]]
    assert {m["reference"] for m in panel["hasMember"]} >= {f"urn:uuid:{o['id']}" for o in codes["gad2_score"]}
    Bundle(bundle, strict=True)


def test_fhir_new_substance_kinds_are_labelled(client, make_person):
    person = make_person()
    for kind in ("gabapentinoid", "z_drug", "muscle_relaxant", "sedative"):
        client.post("/v1/doses", headers=person.headers, json=dose_body(substance_kind=kind, form="tablet",
                                                                         product=None, amount=300, unit="mg"))
    bundle = export(client, person, "fhir").json
    assert sorted(s["medicationReference"]["display"] for s in resources(bundle, "MedicationStatement")) == [
        "Gabapentinoid: tablet", "Muscle relaxant: tablet", "Other sedative: tablet",
        "Z-drug or other sleep medicine: tablet"]


def test_fhir_doses_are_medication_statements_with_ucum_units(client, world):
    bundle = export(client, world.alice.person, "fhir").json
    statements = {s["id"]: s for s in resources(bundle, "MedicationStatement")}
    assert set(statements) == ids(world.alice.doses)
    quantities = {}
    for statement in statements.values():
        assert statement["status"] == "completed"
        assert statement["subject"] == {"reference": f"urn:uuid:{world.alice.person.id}"}
        [dosage] = statement["dosage"]
        [dose_and_rate] = dosage["doseAndRate"]
        quantity = dose_and_rate["doseQuantity"]
        quantities[quantity["unit"]] = (quantity["value"], quantity.get("system"), quantity.get("code"))
    ucum = "http://unitsofmeasure.org"
    assert quantities == {"g": (2.5, ucum, "g"), "mg": (15, ucum, "mg"), "mcg": (200, ucum, "ug"),
                          "ml": (5, ucum, "mL"), "capsule": (2, None, None)}
    concentrate = next(s for s in statements.values() if "7-OH" in s["medicationReference"]["display"])
    assert concentrate["medicationReference"] == {"reference": "#medication",
                                                  "display": "Kratom: Green Malay, 7-OH concentrate"}
    # The form is coded, so that leaf, capsules and 7-OH stay apart in any system that reads it.
    [medication] = concentrate["contained"]
    assert medication["code"]["coding"] == [{"system": "https://careloop.app/fhir/CodeSystem/substance-kind",
                                             "code": "kratom", "display": "Kratom"}]
    assert medication["form"]["coding"] == [{"system": "https://careloop.app/fhir/CodeSystem/dose-form",
                                             "code": "concentrate_7oh", "display": "7-OH concentrate"}]
    assert sorted(s["contained"][0]["form"]["coding"][0]["code"] for s in statements.values()) == [
        "capsule", "concentrate_7oh", "leaf_powder", "liquid", "tablet"]
    assert concentrate["effectiveDateTime"] == "2026-11-24T10:00:00Z"


def test_the_export_guard_refuses_what_r4_does_not_allow(client, world):
    """The check is R4's: R5's MedicationStatement (`medication` as a CodeableReference) and an
    element R4 does not have both fail, so an export can never go out in another FHIR version."""
    bundle = export(client, world.alice.person, "fhir").json
    fhir.validate(bundle)
    as_r5 = copy.deepcopy(bundle)
    statement = resources(as_r5, "MedicationStatement")[0]
    statement["medication"] = {"reference": statement.pop("medicationReference")}
    with pytest.raises(fhir.InvalidBundle):
        fhir.validate(as_r5)
    unknown = copy.deepcopy(bundle)
    resources(unknown, "Observation")[0]["triggeredBy"] = [{"type": "reflex"}]  # R5 only
    with pytest.raises(fhir.InvalidBundle):
        fhir.validate(unknown)


def test_the_export_guard_checks_every_distinct_shape(client, world):
    """The export parses one entry per shape; one odd entry among many of its kind is still caught."""
    bundle = export(client, world.alice.person, "fhir").json
    fhir.validate_shapes(bundle)
    odd = copy.deepcopy(bundle)
    pain = [o for o in resources(odd, "Observation") if o["code"]["coding"][0]["code"] == "72514-3"]
    pain[-1]["valueQuantity"]["value"] = "3"
    with pytest.raises(fhir.InvalidBundle):
        fhir.validate_shapes(odd)


def test_export_needs_sign_in_and_each_format_has_its_own_address(client, make_person):
    for path in ("/v1/me/export", "/v1/me/export/csv", "/v1/me/export/fhir"):
        response = client.get(path)
        assert response.status_code == 401 and response.mimetype == "application/problem+json"
    response = client.get("/v1/me/export?format=csv", headers=make_person().headers)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert [(e["parameter"], e["detail"]) for e in response.json["errors"]] == [("format", (
        "Each format has its own address: /v1/me/export (JSON), /v1/me/export/csv and /v1/me/export/fhir."))]
    response = client.get("/v1/me/export/xml", headers=make_person().headers)
    assert response.status_code == 404


def test_exports_are_rate_limited_per_account_across_formats(client, make_person):
    person, other = make_person(), make_person()
    for fmt in ("json", "csv", "fhir") * 10:
        export(client, person, fmt)
    for path in ("/v1/me/export", "/v1/me/export/csv", "/v1/me/export/fhir"):
        response = client.get(path, headers=person.headers)
        assert response.status_code == 429 and response.mimetype == "application/problem+json"
        assert "Retry-After" in response.headers
    export(client, other)
