"""Every error is RFC 9457 problem+json, leaks nothing, and a failed request leaves nothing half-written."""

import base64
import logging
import uuid

import pytest
import sqlalchemy as sa

from backend.checkins.models import CheckIn
from backend.devtokens import emulator_id_token
from backend.doses.models import Dose
from backend.extensions import db
from tests.support import assert_problem, checkin_body, count, dose_body, error_fields


def test_an_unknown_route_is_a_problem_404(client):
    body = assert_problem(client.get("/v1/no-such-thing"), 404)
    assert body["title"] == "Not Found"
    assert body["instance"] == "/v1/no-such-thing"


def test_an_unknown_route_under_a_known_prefix_is_404_even_signed_in(client, alice):
    assert_problem(client.get("/v1/checkins/not-a-uuid/extra", headers=alice.headers), 404)


@pytest.mark.parametrize("method, path, allowed", [
    ("delete", "/v1/checkins", {"GET", "POST"}),
    ("put", "/v1/me", {"GET", "PATCH"}),
    ("post", "/v1/doses/daily-totals", {"GET"}),
    ("get", "/v1/devices", {"POST"}),
])
def test_a_wrong_method_is_405_with_an_allow_header(client, alice, method, path, allowed):
    response = getattr(client, method)(path, headers=alice.headers)
    assert_problem(response, 405)
    assert allowed <= {name.strip() for name in response.headers["Allow"].split(",")}


def test_a_body_over_64_kib_is_413(app, client, alice):
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    response = client.patch("/v1/me", json={"display_name": "x" * (64 * 1024)}, headers=alice.headers)
    assert_problem(response, 413)
    assert client.get("/v1/me", headers=alice.headers).json["display_name"] == "Alice"


def test_a_body_just_under_the_limit_is_read_and_validated(app, client, alice):
    response = client.post("/v1/checkins", json=checkin_body(note="x" * (60 * 1024)), headers=alice.headers)
    assert_problem(response, 422)
    assert error_fields(response) == ["note"]
    assert count(app, CheckIn) == 0


@pytest.mark.parametrize("data", ['{"pain": 5', "pain=5", "", "\xff\xfe", "{}}"])
def test_malformed_json_is_400_and_writes_nothing(app, client, alice, data):
    response = client.post("/v1/checkins", data=data, content_type="application/json", headers=alice.headers)
    assert_problem(response, 400)
    assert count(app, CheckIn) == 0


def test_an_unexpected_exception_is_a_bare_500_and_its_message_stays_out_of_the_log(app, client, alice,
                                                                                   monkeypatch, caplog):
    from backend.checkins import services

    password = "".join(("hunt", "er2"))  # not spelled out: the log shows this file's source lines

    def explode(user, data):
        raise RuntimeError(f"connection string postgres://admin:{password}@db")

    monkeypatch.setattr(services, "record_checkin", explode)
    with caplog.at_level(logging.ERROR):
        response = client.post("/v1/checkins", json=checkin_body(), headers=alice.headers)
    body = assert_problem(response, 500)
    assert set(body) <= {"type", "title", "status", "detail", "instance"}
    text = response.get_data(as_text=True)
    for leak in ("hunter2", "RuntimeError", "Traceback", "explode", "services.py"):
        assert leak not in text
    # The log says what and where, under the request's id, but never the message: messages quote values.
    assert "hunter2" not in caplog.text
    assert "RuntimeError" in caplog.text and "explode" in caplog.text
    assert response.headers["X-Request-Id"] in caplog.text
    assert count(app, CheckIn) == 0


def test_a_failing_statement_never_puts_health_data_in_the_log(app, client, alice, monkeypatch, caplog):
    """The database's own message can quote a value (PostgreSQL: 'invalid input syntax … "I relapsed…"';
    'Failing row contains (…)'); with hide_parameters SQLAlchemy does not add the parameters either."""
    from backend.checkins import services

    def fail(user, data):
        postgres = db.session.get_bind().dialect.name == "postgresql"
        db.session.execute(sa.text("SELECT CAST(:note AS INTEGER)" if postgres else "SELECT json(:note)"),
                           {"note": data["note"]})

    monkeypatch.setattr(services, "record_checkin", fail)
    with caplog.at_level(logging.DEBUG):
        response = client.post("/v1/checkins", json=checkin_body(note="I relapsed on kratom"), headers=alice.headers)
    assert_problem(response, 500)  # a statement that failed, not a database out of reach
    assert "relapsed" not in caplog.text
    assert "relapsed" not in response.get_data(as_text=True)


def fail_commits(monkeypatch):
    def commit():
        raise sa.exc.OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(db.session, "commit", commit)


def test_a_failed_commit_leaves_no_checkin_behind(app, client, alice, monkeypatch):
    body = checkin_body()
    fail_commits(monkeypatch)
    response = client.post("/v1/checkins", json=body, headers=alice.headers)
    assert "server closed" not in response.get_data(as_text=True)
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5"
    assert count(app, CheckIn) == 0
    # The phone retries later and the record is stored exactly once.
    monkeypatch.undo()
    assert client.post("/v1/checkins", json=body, headers=alice.headers).status_code == 201
    assert count(app, CheckIn) == 1


def test_a_failed_commit_leaves_no_dose_behind(app, client, alice, monkeypatch):
    fail_commits(monkeypatch)
    assert_problem(client.post("/v1/doses", json=dose_body(), headers=alice.headers), 503)
    assert count(app, Dose) == 0


def test_a_failed_commit_leaves_a_correction_unapplied(app, client, alice, create_dose, monkeypatch):
    created = create_dose(alice, amount=2)
    fail_commits(monkeypatch)
    assert_problem(client.patch(f"/v1/doses/{created['id']}", json={"amount": 9}, headers=alice.headers), 503)
    monkeypatch.undo()
    assert client.get(f"/v1/doses/{created['id']}", headers=alice.headers).json["amount"] == 2.0


def test_a_failed_commit_leaves_a_deletion_undone(app, client, alice, create_checkin, monkeypatch):
    created = create_checkin(alice, note="keep me")
    fail_commits(monkeypatch)
    assert_problem(client.delete(f"/v1/checkins/{created['id']}", headers=alice.headers), 503)
    monkeypatch.undo()
    assert client.get(f"/v1/checkins/{created['id']}", headers=alice.headers).json == created


def test_validation_problems_have_a_type_and_list_every_field(client, alice):
    response = client.post("/v1/doses", json=dose_body(amount=-1, unit="pinch"), headers=alice.headers)
    body = assert_problem(response, 422)
    assert body["type"] == "https://careloop.app/problems/validation-error"
    assert {error["field"] for error in body["errors"]} == {"amount", "unit"}
    assert {error["pointer"] for error in body["errors"]} == {"#/amount", "#/unit"}
    assert all(error["detail"] for error in body["errors"])
    assert "amount" in body["detail"] and "unit" in body["detail"]


def test_query_problems_name_the_parameter_and_its_location(client, alice):
    response = client.get("/v1/checkins", query_string={"limit": 0}, headers=alice.headers)
    body = assert_problem(response, 422)
    assert body["errors"] == [{"parameter": "limit", "in": "query", "detail": body["errors"][0]["detail"]}]


# Inputs that once crashed the server (500 with a traceback)

def test_a_body_nested_a_thousand_deep_is_a_400(client, alice):
    response = client.post("/v1/checkins", data="[" * 1000 + "]" * 1000, content_type="application/json",
                           headers=alice.headers)
    assert_problem(response, 400)


def test_a_five_thousand_digit_number_is_a_400(client, alice):
    body = '{"id": "0b8d6c1e-4f5a-4a39-9d61-2f7c1a0e5b77", "recorded_at": "2026-11-20T08:00:00Z", "pain": '
    response = client.post("/v1/checkins", data=body + "9" * 5000 + "}", content_type="application/json",
                           headers=alice.headers)
    assert_problem(response, 400)


def test_a_cursor_nested_three_thousand_deep_is_a_422(client, alice):
    cursor = base64.urlsafe_b64encode(("[" * 3000 + "]" * 3000).encode()).decode()
    assert_problem(client.get(f"/v1/checkins?cursor={cursor}", headers=alice.headers), 422, "cursor")


@pytest.mark.parametrize("name, kept", [
    (5, None), ({"first": "Sam"}, None), ("Sam\x00", None), ("Sam\x07", None), ("", None),
    ("S" * 100, "S" * 80), ("Sam Jones", "Sam Jones"),
])
def test_a_sign_in_name_is_held_to_the_profiles_rules_and_never_locks_the_person_out(app, client, name, kept):
    token = emulator_id_token(f"named-{uuid.uuid4().hex[:8]}", app.config["FIREBASE_PROJECT_ID"], name=name)
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):  # signing up, then using the account
        response = client.get("/v1/me", headers=headers)
        assert response.status_code == 200
        assert response.json["display_name"] == kept


# Protective headers

def test_answers_with_health_data_are_never_cached_or_sniffed_and_a_2xx_carries_no_retry_after(client, alice,
                                                                                              create_checkin):
    create_checkin(alice)
    for response in (client.get("/v1/checkins", headers=alice.headers),
                     client.get("/v1/me/export", headers=alice.headers),
                     client.get("/v1/checkins/00000000-0000-4000-8000-000000000000", headers=alice.headers)):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if response.status_code < 400:
            assert "Retry-After" not in response.headers
    assert "Strict-Transport-Security" not in response.headers  # served over plain http here


def test_https_deployments_send_hsts(app, client, alice, monkeypatch):
    monkeypatch.setitem(app.config, "CARELOOP_PUBLIC_URL", "https://careloop.example")
    response = client.get("/v1/me", headers=alice.headers)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
