"""GET /v1/sync/schema: the WatermelonDB appSchema a phone builds its database from, generated from
the same fields the REST API reads and writes, within WatermelonDB's own rules for a schema."""

import re

import pytest

from backend.checkins.schemas import CheckInSchema
from backend.doses.schemas import DoseSchema
from backend.monitoring.schemas import PromptSchema
from backend.reminders.schemas import ReminderSchema
from backend.sync.schema import TABLES
from tests.support import assert_problem

REST_SCHEMAS = {"checkins": CheckInSchema, "doses": DoseSchema, "reminders": ReminderSchema, "prompts": PromptSchema}
# WatermelonDB 0.28, src/Schema/index.js: names it refuses or keeps for itself.
RESERVED = {"id", "_status", "_changed", "local_storage"}
COLUMN_NAME = re.compile(r"^[a-zA-Z_]\w*$")


@pytest.fixture
def schema(client, alice):
    response = client.get("/v1/sync/schema", headers=alice.headers)
    assert response.status_code == 200, response.json
    return response.json


def table(schema, name):
    [found] = [t for t in schema["tables"] if t["name"] == name]
    return {column["name"]: column for column in found["columns"]}


def test_the_schema_needs_sign_in(client):
    assert_problem(client.get("/v1/sync/schema"), 401)


def test_a_phone_holds_check_ins_doses_reminders_and_prompts_at_version_2(schema):
    assert schema["version"] == 2
    assert [t["name"] for t in schema["tables"]] == ["checkins", "doses", "reminders", "prompts"]


# The columns phones were built with at schema version 1, frozen: what came later is in ADDED.
VERSION_1 = {
    "checkins": {"recorded_at", "pain", "enjoyment_interference", "activity_interference", "focus", "hyperactivity",
                 "impulsivity", "restlessness", "mood", "sleep_hours", "sleep_quality", "phq2_interest", "phq2_mood",
                 "gad2_nervous", "gad2_worry", "side_effects", "withdrawal_symptoms", "note", "peg_score",
                 "created_at", "updated_at"},
    "doses": {"taken_at", "substance_kind", "form", "product", "amount", "unit", "note", "created_at", "updated_at"},
    "reminders": {"kind", "times", "days", "timezone", "active", "label", "follow_up_minutes",
                  "confirm_within_minutes", "alert_caregivers", "created_at", "updated_at"},
    "prompts": {"rule", "subject", "severity", "message", "evidence", "created_at", "acknowledged_at"},
}


def test_every_column_added_after_version_1_is_in_a_migration_so_installed_phones_gain_it(schema):
    added = {}
    for migration in schema["migrations"]:
        for step in migration["steps"]:
            assert step["type"] == "add_columns"
            for column in step["columns"]:
                added.setdefault(step["table"], set()).add(column["name"])
                assert column == table(schema, step["table"])[column["name"]]
    for name in VERSION_1:
        assert set(table(schema, name)) == VERSION_1[name] | added.get(name, set()), name
    assert [m["toVersion"] for m in schema["migrations"]] == list(range(schema["version"], 1, -1))


@pytest.mark.parametrize("name", list(REST_SCHEMAS))
def test_the_columns_are_the_rest_fields_so_a_new_field_reaches_the_phone(schema, name):
    # All but the columns the server moves on its own (a reminder's next fire), which no phone holds.
    quiet = set(TABLES[name].model.quiet_columns)
    assert set(table(schema, name)) | {"id"} == set(REST_SCHEMAS[name]().fields) - quiet
    assert quiet <= {"next_fire_at", "push_status", "push_after"}


@pytest.mark.parametrize("name", list(REST_SCHEMAS))
def test_every_column_is_one_watermelondb_accepts(schema, name):
    for column_name, column in table(schema, name).items():
        assert COLUMN_NAME.fullmatch(column_name) and not column_name.startswith("__")
        assert column_name not in RESERVED
        assert column["type"] in ("string", "number", "boolean")
        assert isinstance(column["isOptional"], bool)
        if column_name in ("created_at", "updated_at"):  # WatermelonDB: a required number, or refused
            assert (column["type"], column["isOptional"]) == ("number", False)


def test_instants_are_numbers_lists_are_json_text_and_flags_are_booleans(schema):
    checkins, reminders, prompts = table(schema, "checkins"), table(schema, "reminders"), table(schema, "prompts")
    assert checkins["recorded_at"] == {"name": "recorded_at", "type": "number", "isOptional": False}
    assert checkins["pain"] == {"name": "pain", "type": "number", "isOptional": True}
    assert checkins["side_effects"] == {"name": "side_effects", "type": "string", "isOptional": False}
    assert checkins["note"] == {"name": "note", "type": "string", "isOptional": True}
    assert reminders["times"]["type"] == reminders["days"]["type"] == "string"
    assert reminders["active"] == {"name": "active", "type": "boolean", "isOptional": False}
    assert "next_fire_at" not in reminders  # moved by the jobs at every fire: a phone reads it through REST
    assert prompts["evidence"]["type"] == "string"
    assert prompts["acknowledged_at"] == {"name": "acknowledged_at", "type": "number", "isOptional": True}


def test_derived_and_server_fields_are_read_only_and_a_phone_may_only_acknowledge_a_prompt(schema):
    read_only = schema["read_only"]
    assert set(read_only["checkins"]) == {"peg_score", "phq2_score", "gad2_score", "created_at", "updated_at"}
    assert set(read_only["doses"]) == {"created_at", "updated_at"}
    assert set(read_only["reminders"]) == {"created_at", "updated_at"}
    assert set(read_only["prompts"]) == set(table(schema, "prompts")) - {"acknowledged_at"}
