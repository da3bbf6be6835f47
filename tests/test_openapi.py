"""The committed openapi.yaml is what the code generates, and the server serves it."""

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


def test_every_error_is_documented_as_problem_json(client):
    spec = client.get("/openapi.json").json
    default = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert list(default["content"]) == ["application/problem+json"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            assert "default" in operation["responses"], (method, path)
            assert operation.get("summary"), f"{method} {path} has no one-line docstring"


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
