"""The committed openapi.yaml is what the code generates, and the server serves it."""

import json
import os
import subprocess
from pathlib import Path

import yaml

from backend.extensions import api

SPEC_FILE = Path(__file__).resolve().parent.parent / "openapi.yaml"


def test_committed_openapi_matches_the_code(app):
    with app.app_context():
        generated = yaml.safe_load(api.spec.to_yaml())
    committed = yaml.safe_load(SPEC_FILE.read_text())
    assert committed == generated, "openapi.yaml is stale: run `make openapi` and commit it"


def test_server_serves_the_spec_and_a_docs_page(client):
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.json["info"]["title"] == "Careloop API"
    assert "/v1/checkins" in spec.json["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.data


def operations_of(spec):
    return [(method, path, operation) for path, operations in spec["paths"].items()
            for method, operation in operations.items() if method in {"get", "post", "put", "patch", "delete"}]


def resolved(spec, response):
    return spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]] if "$ref" in response else response


def test_every_error_is_documented_where_it_happens_as_problem_json(client):
    """No catch-all `default`: each operation lists the errors it answers (the schemathesis run
    checks every status it sees is among them), each one problem+json."""
    spec = client.get("/openapi.json").json
    for method, path, operation in operations_of(spec):
        responses = operation["responses"]
        assert "default" not in responses, (method, path)
        assert operation.get("summary"), f"{method} {path} has no one-line docstring"
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(resolved(spec, response)["content"]) == ["application/problem+json"], (method, path, status)
        if operation.get("security") != []:
            assert {"401", "503"} <= responses.keys(), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= responses.keys(), (method, path)
        if any(parameter.get("name") == "If-Match" for parameter in operation.get("parameters", ())):
            assert "412" in responses, (method, path)


def test_refusals_that_say_when_to_come_back_document_their_headers(client):
    spec = client.get("/openapi.json").json
    responses = {method + " " + path: operation["responses"] for method, path, operation in operations_of(spec)}
    limited = resolved(spec, responses["get /v1/me/export"]["429"])
    assert {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= limited["headers"].keys()
    assert "Retry-After" in resolved(spec, responses["get /v1/checkins"]["503"])["headers"]
    assert "429" in responses["post /v1/shares/accept"]
    assert "403" in responses["get /v1/patients/{patient_id}/checkins"]
    assert "409" in responses["post /v1/sync"] and "409" in responses["post /v1/checkins"]


def test_unknown_fields_are_refused_in_every_request_body_schema(client):
    """A create schema with a description of its own keeps additionalProperties: false (apispec
    drops it there; backend.api.Converter puts it back)."""
    schemas = client.get("/openapi.json").json["components"]["schemas"]
    for name in ("CheckInCreate", "ReminderCreate", "ReminderPatch", "DoseCreate", "CheckInPatch"):
        assert schemas[name]["additionalProperties"] is False, name
    assert schemas["CheckInCreate"]["description"].startswith("Refused (422) beyond the schema")


def test_a_create_links_to_the_operations_on_what_it_created(client):
    """OpenAPI links let generated clients and stateful tests chain create -> read/patch/delete."""
    spec = client.get("/openapi.json").json
    links = spec["paths"]["/v1/checkins"]["post"]["responses"]["201"]["links"]
    assert links == {operation_id: {"operationId": operation_id, "parameters": {"checkin_id": "$response.body#/id"}}
                     for operation_id in ("getCheckInById", "patchCheckInById", "deleteCheckInById")}
    for collection in ("/v1/doses", "/v1/reminders", "/v1/shares/invites", "/v1/report-links"):
        assert spec["paths"][collection]["post"]["responses"]["201"]["links"], collection


def test_every_operation_has_a_unique_operation_id_for_generated_clients(client):
    spec = client.get("/openapi.json").json
    ids = [operation.get("operationId") for operations in spec["paths"].values()
           for method, operation in operations.items() if method in {"get", "post", "put", "patch", "delete"}]
    assert all(ids), "an operation has no operationId"
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert {"getCheckIns", "postCheckIns", "getCheckInById", "patchCheckInById", "deleteCheckInById"} <= set(ids)


def test_the_spec_names_a_relative_server(client):
    assert client.get("/openapi.json").json["servers"] == [
        {"url": "/", "description": "The Careloop server this document came from"}]


def test_redocly_lint_finds_nothing_in_the_committed_spec():
    """Redocly CLI (npm, package-lock.json) with redocly.yaml: its recommended rules, and no finding at all;
    what is switched off is in .redocly.lint-ignore.yaml with its reason."""
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([root / "node_modules" / ".bin" / "redocly", "lint", "openapi.yaml", "--format", "json"],
                            cwd=root, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"})
    report = json.loads(result.stdout)
    assert report["problems"] == [], json.dumps(report["problems"], indent=1)[:4000]
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 2}
    assert result.returncode == 0
