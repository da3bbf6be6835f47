"""JSON bodies are taken as the spec types them: free text any database stores, numbers that are
numbers, whole integers, HH:MM times, and a body where one is required."""

import json

import pytest
import yaml

from tests.support import assert_problem, checkin_body, dose_body, error_fields
from tests.test_openapi import SPEC_FILE


FREE_TEXT = [
    ("post", "/v1/checkins", lambda text: checkin_body(note=text), "note"),
    ("post", "/v1/doses", lambda text: dose_body(note=text), "note"),
    ("post", "/v1/doses", lambda text: dose_body(product=text), "product"),
    ("patch", "/v1/me", lambda text: {"display_name": text}, "display_name"),
    ("post", "/v1/devices", lambda text: {"token": text, "platform": "android"}, "token"),
]


@pytest.mark.parametrize("method, path, body, field", FREE_TEXT)
@pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b", "\x7f"])
def test_control_characters_in_free_text_are_a_422_naming_the_field(client, alice, method, path, body, field,
                                                                     character):
    # PostgreSQL cannot store NUL in text at all: without this, a 500 there and a 201 on SQLite.
    response = getattr(client, method)(path, json=body(f"a{character}b"), headers=alice.headers)
    assert_problem(response, 422, field)
    assert error_fields(response) == [field]


@pytest.mark.parametrize("method, path, body, field", FREE_TEXT)
def test_an_unpaired_surrogate_in_free_text_is_a_422_naming_the_field(client, alice, method, path, body, field):
    raw = json.dumps(body("PLACEHOLDER")).replace("PLACEHOLDER", "a\\ud800b")
    response = getattr(client, method)(path, data=raw, content_type="application/json", headers=alice.headers)
    assert_problem(response, 422, field)
    assert error_fields(response) == [field]


def test_tabs_line_breaks_and_emoji_in_a_note_are_kept(client, alice):
    note = "slept badly\n\tthen\r\nbetter 😴"
    response = client.post("/v1/checkins", json=checkin_body(note=note), headers=alice.headers)
    assert response.status_code == 201
    assert client.get(f"/v1/checkins/{response.json['id']}", headers=alice.headers).json["note"] == note


@pytest.mark.parametrize("pain", [1.5, "5", True, 1e300])
def test_a_score_must_be_a_json_integer(client, alice, pain):
    response = client.post("/v1/checkins", json=checkin_body(pain=pain), headers=alice.headers)
    assert_problem(response, 422, "pain")
    assert error_fields(response) == ["pain"]


def test_a_whole_number_written_with_a_decimal_point_is_an_integer(client, alice):
    response = client.post("/v1/checkins", json=checkin_body(pain=5.0), headers=alice.headers)
    assert response.status_code == 201
    assert response.json["pain"] == 5


@pytest.mark.parametrize("body, field", [
    (dose_body(amount="2.5"), "amount"),
    (dose_body(amount=0), "amount"),
    (dose_body(amount=-1), "amount"),
])
def test_a_dose_amount_is_a_positive_json_number(client, alice, body, field):
    response = client.post("/v1/doses", json=body, headers=alice.headers)
    assert_problem(response, 422, field)
    assert error_fields(response) == [field]


def test_the_spec_says_that_a_dose_amount_must_be_above_zero():
    dose = yaml.safe_load(SPEC_FILE.read_text())["components"]["schemas"]["Dose"]
    assert dose["properties"]["amount"]["exclusiveMinimum"] == 0


@pytest.mark.parametrize("start", ["7:00", "07:5", "24:00", "07:00:00"])
def test_quiet_hours_are_written_hh_mm(client, alice, start):
    response = client.patch("/v1/me", json={"quiet_hours": {"start": start, "end": "08:00"}}, headers=alice.headers)
    assert_problem(response, 422, "quiet_hours.start")
    assert error_fields(response) == ["quiet_hours.start"]


@pytest.mark.parametrize("method, path", [("patch", "/v1/me"), ("post", "/v1/doses"), ("post", "/v1/devices")])
def test_a_request_without_its_json_body_is_a_400(client, alice, method, path):
    assert_problem(getattr(client, method)(path, headers=alice.headers), 400)


def test_a_body_that_is_not_json_is_a_415(client, alice):
    response = client.patch("/v1/me", data={"display_name": "Al"}, headers=alice.headers)
    assert_problem(response, 415)
    assert client.get("/v1/me", headers=alice.headers).json["display_name"] == "Alice"
