"""Property-based API tests: every operation of the committed openapi.yaml, fuzzed in-process.

Schemathesis generates valid and invalid requests from the spec (its examples, coverage and fuzzing
phases, then multi-step workflows along the links it infers) and checks every response: no 5xx, a
documented status code, the documented content type (errors are problem+json), a body matching
the documented schema, invalid data refused and valid data accepted, auth enforced, unsupported
methods answered 405 with `Allow`, and deleted records gone.
"""

import datetime as dt
import json
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from backend.accounts.auth import known_accounts
from backend.config import DEV_PROJECT_ID
from backend.devtokens import emulator_id_token
from backend.extensions import db

SPEC_FILE = Path(__file__).resolve().parent.parent / "openapi.yaml"

# Every check schemathesis has runs; this only lets schema-valid data get a 422 for the rules below,
# which `valid_data_is_refused_only_for_rules_beyond_the_spec` tells apart from spec mistakes.
CONFIG = {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "404", "409", "412", "422", "429"]}}}

# What JSON Schema cannot state: schema-valid data may break these rules and get a 422 naming them;
# the spec writes each one in a description (`backend.api.refused`).
RULES_BEYOND_THE_SPEC = {
    "Must not be before 2000-01-01.",
    "Must not be in the future.",
    "Must be after `since`.",
    "Not a valid cursor.",
    "A check-in needs at least one answer.",
    "Not a known IANA time zone (e.g. Europe/Berlin).",
    "Must differ from `start`.",
    "Must not be before `from`.",
    "At most 366 days per request.",
    "Must be between 2000 and 2100.",
    "Only check-in reminders have a follow-up.",
    "Only dose reminders have a confirmation window.",
    "Only dose reminders alert caregivers when missed.",
    "Only dose reminders have a confirmation window and caregiver alerts.",
    "Set confirm_within_minutes to say when a dose counts as missed.",
    "Ahead of every change of this account: reset the phone's database and sync again.",
    "Every symptom rated above 0 must be in withdrawal_symptoms.",
    "A symptom in withdrawal_symptoms must not be rated 0.",
}


def test_every_rule_beyond_the_schema_is_written_in_the_spec():
    written = json.dumps(yaml.safe_load(SPEC_FILE.read_text()), ensure_ascii=False)
    assert [rule for rule in sorted(RULES_BEYOND_THE_SPEC) if f'\\"{rule}' not in written] == []


@schemathesis.check
def valid_data_is_refused_only_for_rules_beyond_the_spec(ctx, response, case):
    """Any other 422 on schema-valid data means that the spec and the code disagree."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code != 422:
        return None
    # A sync push's records are WatermelonDB raw records (the spec says so, and GET /v1/sync/schema
    # gives their columns); each is held to its table's REST rules, and its errors name the table.
    unexplained = [error for error in response.json().get("errors", [])
                   if error["detail"] not in RULES_BEYOND_THE_SPEC and "table" not in error]
    assert not unexplained, f"Schema-valid data refused for rules the spec does not state: {unexplained} {case.meta!r}"
    return None


# Bounded for CI and reproducible: the same examples on every run. The `served` app and records are
# shared by all examples of a test on purpose (creates are idempotent on client ids).
EXAMPLES = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
WORKFLOWS = settings(EXAMPLES, max_examples=25, stateful_step_count=10)


# Random RFC 3339 instants almost never fall between 2000 and now, which the API requires of what
# happened, so most would stop at validation; these reach the database and the responses.
PLAUSIBLE_INSTANTS = st.builds(
    lambda moment, offset: moment.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset))).isoformat(),
    st.datetimes(min_value=dt.datetime(2000, 1, 2), max_value=dt.datetime(2025, 12, 31)),
    st.integers(-12 * 60, 14 * 60))
ANY_INSTANTS = st.datetimes(timezones=st.just(dt.timezone.utc)).map(dt.datetime.isoformat)
schemathesis.openapi.format("date-time", PLAUSIBLE_INSTANTS | ANY_INSTANTS)


class Served:
    """The WSGI app schemathesis calls: the session's Flask app, which does not exist yet when
    schemathesis collects the operations at import. The `served` fixture binds it.

    (schemathesis.pytest.from_fixture, made for this, fails on pytest 9.2: no `Function._nodeid`.)
    """

    flask_app = None

    def __call__(self, environ, start_response):
        return self.flask_app(environ, start_response)


schema = schemathesis.openapi.from_path(SPEC_FILE, config=schemathesis.Config.from_dict(CONFIG))
schema.app = Served()


@schema.auth(refresh_interval=None)
class SignedInAsAlice:
    """Alice's ID token on every request, except where a negative case leaves auth out on purpose."""

    def get(self, case, ctx):
        # Coverage cases are built during collection, before any fixture runs, so the token is made
        # here as conftest's Person makes it; the `served` fixture checks that they agree.
        return emulator_id_token("alice", DEV_PROJECT_ID, name="Alice")

    def set(self, case, token, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


def add_records(person, create_checkin, create_dose):
    """A few records, so that lists and daily totals have items to check."""
    create_checkin(person, recorded_at="2025-03-09T07:45:00+01:00", note="slept badly", side_effects=["nausea"],
                   sleep_hours=5.5)
    create_checkin(person, recorded_at="2025-03-10T08:00:00+01:00", pain=None, focus=3)
    create_dose(person, taken_at="2025-03-09T09:00:00+01:00")
    create_dose(person, taken_at="2025-03-09T21:30:00-05:00", substance_kind="nsaid", form="tablet",
                product=None, amount=400, unit="mg")


def delete_all_rows(app):
    known_accounts(app).clear()  # the accounts go behind the app's back
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def served(app, alice, create_checkin, create_dose):
    """The app, serving Alice and her records."""
    assert alice.uid == "alice" and app.config["FIREBASE_PROJECT_ID"] == DEV_PROJECT_ID
    add_records(alice, create_checkin, create_dose)
    schema.app.flask_app = app
    yield
    schema.app.flask_app = None


@schema.parametrize()
@EXAMPLES
def test_every_operation_conforms_to_openapi_yaml(case, served):
    case.call_and_validate()


def test_workflows_across_operations_conform_to_openapi_yaml(served, app, alice, create_checkin, create_dose):
    class Workflow(schema.as_state_machine()):
        def setup(self):
            # Hypothesis replays scenarios to shrink them, so each one starts from the same data.
            delete_all_rows(app)
            add_records(alice, create_checkin, create_dose)

    Workflow.run(settings=WORKFLOWS)
