"""The TypeScript types openapi-typescript generates from openapi.yaml, used through openapi-fetch:
ts/contract.mts type-checks against them in strict mode and works against a live server, and the
calls in ts/wrong.mts, each wrong in one way, fail to type-check."""

import re

from tests.contract.conftest import TS, tsc

# `file(line,column): error TSnnnn: message`, and the indented lines that elaborate on it.
TSC_ERROR = re.compile(r"^(?P<file>.+?)\((?P<line>\d+),\d+\): error (?P<code>TS\d+): (?P<message>.*)$")
MARK = "// ✗ "


def tsc_errors(output):
    """{(file name, line): the error's message and elaboration} from tsc's plain output."""
    errors, current = {}, None
    for text in output.splitlines():
        found = TSC_ERROR.match(text)
        if found:
            current = (found["file"].rsplit("/", 1)[-1], int(found["line"]))
            errors[current] = errors.get(current, "") + f"{found['code']}: {found['message']}\n"
        elif current and text.startswith(" "):
            errors[current] += text.strip() + "\n"
    return errors


def test_each_wrong_call_fails_to_type_check_for_its_own_reason(typescript_types):
    source = (TS / "wrong.mts").read_text(encoding="utf-8").splitlines()
    marked = {("wrong.mts", number): line.split(MARK, 1)[1]
              for number, line in enumerate(source, start=1) if MARK in line and not line.startswith("//")}
    assert len(marked) >= 10

    result = tsc(typescript_types / "tsconfig.wrong.json")

    assert result.returncode != 0
    errors = tsc_errors(result.stdout)
    assert errors.keys() == marked.keys(), result.stdout
    for place, expected in marked.items():
        assert expected in errors[place], (place, errors[place])


def test_a_check_in_is_created_and_read_back_typed(typescript_program, live_server, alice, clock):
    results = typescript_program("create-and-read", live_server, alice.token)

    created, read = results["created"], results["read"]
    assert created["status"] == 201
    assert created["etag"]
    checkin = created["data"]
    assert checkin["recorded_at"] == "2026-11-20T08:30:00Z"
    assert checkin["side_effects"] == ["dizziness"]
    assert results["pegScore"] == 6.0
    assert read == {"status": 200, "etag": created["etag"], "data": checkin, "problem": None}


def test_pages_of_check_ins_follow_next_cursor_to_the_end(typescript_program, live_server, alice, clock):
    results = typescript_program("pages", live_server, alice.token)

    assert len(results["created"]) == 5
    assert [len(page) for page in results["pages"]] == [2, 2, 1]
    assert [id_ for page in results["pages"] for id_ in page] == results["created"][::-1]


def test_errors_read_as_typed_problems(typescript_program, live_server, alice, clock):
    results = typescript_program("problems", live_server, alice.token)

    for name, status in [("invalid", 422), ("missing", 404), ("unauthenticated", 401)]:
        outcome = results[name]
        assert (outcome["status"], outcome["data"]) == (status, None), name
        assert outcome["problem"]["status"] == status, name
        assert outcome["problem"]["title"] and outcome["problem"]["type"], name
    assert [error["field"] for error in results["invalid"]["problem"]["errors"]] == ["pain"]


def test_a_patch_with_a_stale_if_match_reads_as_a_412_problem(typescript_program, live_server, alice, clock):
    results = typescript_program("stale-if-match", live_server, alice.token)

    corrected, stale = results["corrected"], results["stale"]
    assert corrected["status"] == 200
    assert corrected["data"]["pain"] == 6
    assert stale["status"] == 412
    assert stale["problem"]["status"] == 412
    assert stale["etag"] == corrected["etag"]


def test_a_dose_is_created_and_corrected(typescript_program, live_server, alice, clock):
    results = typescript_program("dose", live_server, alice.token)

    created, corrected = results["created"], results["corrected"]
    assert created["status"] == 201
    assert (created["data"]["amount"], created["data"]["unit"], created["data"]["form"]) == (2.5, "g", "leaf_powder")
    assert corrected["status"] == 200
    assert corrected["data"] == dict(created["data"], amount=3)
    assert corrected["etag"] != created["etag"]


def test_a_reminder_is_created_with_only_its_required_fields(typescript_program, live_server, alice, clock):
    created = typescript_program("minimal-reminder", live_server, alice.token)["created"]

    assert created["status"] == 201
    reminder = created["data"]
    assert (reminder["active"], reminder["timezone"]) == (True, None)
    assert reminder["days"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert reminder["next_fire_at"]


def test_a_reminder_read_back_is_updated_through_its_update_type(typescript_program, live_server, alice, clock):
    results = typescript_program("reminder-edit", live_server, alice.token)

    read, updated = results["read"], results["updated"]
    assert read["status"] == 200
    assert updated["status"] == 200
    assert updated["data"]["times"] == ["10:00", "21:00"]
    assert updated["data"]["label"] == "Morning"
    assert updated["data"]["kind"] == results["unchanged"]["kind"] == "checkin"


def test_an_update_with_one_field_changes_only_that_field(typescript_program, live_server, alice, clock):
    updated = typescript_program("reminder-one-field", live_server, alice.token)["updated"]

    assert updated["status"] == 200
    assert updated["data"]["label"] == "Evening pill"
    assert (updated["data"]["active"], updated["data"]["alert_caregivers"]) == (False, True)


def test_the_export_reads_as_json_and_as_zip_bytes(typescript_program, live_server, alice, clock):
    results = typescript_program("export", live_server, alice.token)

    assert results["json"] == {"status": 200, "checkins": [results["checkin"]]}
    assert results["csv"] == {"status": 200, "type": "application/zip", "magic": "PK"}
