"""/v1/sync: WatermelonDB's pull and push, on the wire, against the database.

The real-phone tests (test_phones.py) run WatermelonDB itself; these pin each rule of the protocol
and each refusal with one request at a time."""

import datetime as dt
import json
import threading
import uuid

import pytest
import sqlalchemy as sa

from backend import events
from backend.checkins.services import record_checkin
from backend.checkins.models import CheckIn
from backend.doses.models import Dose
from backend.events.models import Event
from backend.extensions import db
from backend.monitoring.models import Prompt
from backend.monitoring.services import raise_prompt
from backend.reminders.models import ReminderSchedule
from tests.conftest import Person
from tests.postgres import own_postgres_app
from tests.support import NOW, assert_problem, count, stored

TABLES = ("checkins", "doses", "reminders", "prompts")


def millis(instant):
    return round(instant.timestamp() * 1000)


def wire_checkin(**fields):
    """A check-in as a WatermelonDB phone pushes it: every column, instants in ms, lists as JSON text."""
    record = {"id": str(uuid.uuid4()), "_status": "created", "_changed": "",
              "recorded_at": millis(NOW - dt.timedelta(hours=3)), "pain": 5, "enjoyment_interference": 4,
              "activity_interference": 6, "focus": 2, "hyperactivity": None, "impulsivity": None,
              "restlessness": None, "mood": 6, "sleep_hours": 7.5, "sleep_quality": None, "phq2_interest": None,
              "phq2_mood": None, "gad2_nervous": None, "gad2_worry": None, "side_effects": '["constipation"]',
              "withdrawal_symptoms": "[]", "note": None, "peg_score": 0, "created_at": 0, "updated_at": 0,
              "pain_today": 4, "withdrawal_severity": "", "phq2_score": None, "gad2_score": None}
    record.update(fields)
    return record


def wire_dose(**fields):
    record = {"id": str(uuid.uuid4()), "_status": "created", "_changed": "",
              "taken_at": millis(NOW - dt.timedelta(hours=2)), "substance_kind": "kratom", "form": "leaf_powder",
              "product": "Green Malay", "amount": 2.5, "unit": "g", "note": None, "created_at": 0, "updated_at": 0}
    record.update(fields)
    return record


def changes(**tables):
    return {name: {"created": [], "updated": [], "deleted": [], **tables.get(name, {})} for name in TABLES}


@pytest.fixture
def pull(client, clock):
    def pull(person, last_pulled_at=None, **params):
        query = {"last_pulled_at": "null" if last_pulled_at is None else last_pulled_at, "schema_version": 1, **params}
        response = client.get("/v1/sync", query_string=query, headers=person.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json
    return pull


@pytest.fixture
def push(client, clock):
    def push(person, last_pulled_at, body, status=200):
        response = client.post(f"/v1/sync?last_pulled_at={last_pulled_at}", json=body, headers=person.headers)
        if status == 200:
            assert response.status_code == 200, response.get_data(as_text=True)
        return response
    return push


def ids(pulled, table, list_name):
    return [record["id"] if isinstance(record, dict) else record for record in pulled["changes"][table][list_name]]


def events_named(app, name):
    return count(app, Event, name=name)


# --- pull -----------------------------------------------------------------------------------------


def test_sync_needs_sign_in(client):
    assert_problem(client.get("/v1/sync"), 401)
    assert_problem(client.post("/v1/sync?last_pulled_at=1", json=changes()), 401)


def test_a_first_pull_of_a_new_account_has_every_table_empty_and_a_timestamp_above_zero(pull, alice):
    pulled = pull(alice)
    assert pulled == {"changes": {name: {"created": [], "updated": [], "deleted": []} for name in TABLES},
                      "timestamp": 1}


def test_a_first_pull_brings_every_live_record_as_the_wire_carries_it(app, client, pull, alice, create_checkin,
                                                                      create_dose, create_reminder):
    checkin = create_checkin(alice, side_effects=["nausea", "constipation"], note="slept badly")
    dose = create_dose(alice)
    gone = create_dose(alice)
    assert client.delete(f"/v1/doses/{gone['id']}", headers=alice.headers).status_code == 204
    reminder = create_reminder(alice, times=["21:00", "09:00"])

    pulled = pull(alice)

    [record] = pulled["changes"]["checkins"]["updated"]
    assert record == {
        "id": checkin["id"], "recorded_at": millis(dt.datetime.fromisoformat(checkin["recorded_at"])),
        "pain": 5, "enjoyment_interference": 4, "activity_interference": 6, "focus": 2, "hyperactivity": None,
        "impulsivity": None, "restlessness": None, "mood": 6, "sleep_hours": None, "sleep_quality": None,
        "phq2_interest": None, "phq2_mood": None, "gad2_nervous": None, "gad2_worry": None,
        "side_effects": '["nausea","constipation"]', "withdrawal_symptoms": "[]", "note": "slept badly",
        "peg_score": 5.0, "created_at": millis(NOW), "updated_at": millis(NOW),
        "pain_today": None, "withdrawal_severity": "{}", "phq2_score": None, "gad2_score": None}
    assert ids(pulled, "doses", "updated") == [dose["id"]]  # the tombstone is not sent on a first sync
    [schedule] = pulled["changes"]["reminders"]["updated"]
    assert schedule["id"] == reminder["id"] and schedule["times"] == '["09:00","21:00"]'
    assert "next_fire_at" not in schedule  # moved by the jobs at every fire: read it through REST
    for table in TABLES:
        # Everything under `updated`: the app syncs with sendCreatedAsUpdated, as WatermelonDB asks.
        assert pulled["changes"][table]["created"] == [] and pulled["changes"][table]["deleted"] == []
    assert pulled["timestamp"] > 1


def test_records_written_before_sync_existed_come_in_the_first_pull(app, pull, alice, create_checkin):
    checkin = create_checkin(alice)
    with app.app_context():  # as migration 0007 left every row it found
        db.session.execute(sa.update(CheckIn).values(sync_seq=0))
        db.session.commit()
    assert ids(pull(alice), "checkins", "updated") == [checkin["id"]]


def test_a_later_pull_brings_only_what_changed_since_with_deletions_as_ids(client, pull, alice, create_checkin,
                                                                           create_dose):
    kept, corrected = create_checkin(alice), create_checkin(alice)
    dose = create_dose(alice)
    first = pull(alice)

    response = client.patch(f"/v1/checkins/{corrected['id']}", json={"pain": 8}, headers=alice.headers)
    assert response.status_code == 200
    assert client.delete(f"/v1/doses/{dose['id']}", headers=alice.headers).status_code == 204
    second = pull(alice, first["timestamp"])

    assert [r["id"] for r in second["changes"]["checkins"]["updated"]] == [corrected["id"]]
    assert second["changes"]["checkins"]["updated"][0]["pain"] == 8
    assert second["changes"]["checkins"]["created"] == []
    assert ids(second, "doses", "deleted") == [dose["id"]]
    assert second["timestamp"] > first["timestamp"]
    assert kept["id"] not in json.dumps(second)
    # Nothing new: the same cursor back, nothing in it.
    third = pull(alice, second["timestamp"])
    assert third["timestamp"] == second["timestamp"]
    assert all(third["changes"][t] == {"created": [], "updated": [], "deleted": []} for t in TABLES)


def test_a_same_value_patch_is_not_a_change_a_phone_is_sent_again(client, pull, alice, create_checkin):
    checkin = create_checkin(alice)
    before = pull(alice)
    response = client.patch(f"/v1/checkins/{checkin['id']}", json={"pain": 5}, headers=alice.headers)
    assert response.status_code == 200
    assert pull(alice, before["timestamp"])["timestamp"] == before["timestamp"]


def test_a_new_monitoring_prompt_and_its_acknowledgement_reach_the_next_pull(app, client, pull, alice):
    before = pull(alice)
    prompt_id = _raise_prompt(app, alice)
    after = pull(alice, before["timestamp"])
    [prompt] = after["changes"]["prompts"]["updated"]
    assert prompt["id"] == prompt_id and prompt["acknowledged_at"] is None
    assert json.loads(prompt["evidence"]) == {"seen": 3}
    assert client.post(f"/v1/prompts/{prompt_id}/ack", headers=alice.headers).status_code == 200
    acknowledged = pull(alice, after["timestamp"])
    assert acknowledged["changes"]["prompts"]["updated"][0]["acknowledged_at"] == millis(NOW)


def test_sending_a_prompt_does_not_make_it_a_change(app, pull, alice):
    prompt_id = _raise_prompt(app, alice)
    before = pull(alice)
    with app.app_context():
        db.session.get(Prompt, uuid.UUID(prompt_id)).push_status = "sent"
        db.session.commit()
    assert pull(alice, before["timestamp"])["timestamp"] == before["timestamp"]


def test_the_jobs_moving_a_reminders_next_fire_is_not_a_change_but_a_label_is(app, pull, alice, create_reminder):
    reminder = create_reminder(alice)
    before = pull(alice)
    with app.app_context():
        schedule = db.session.get(ReminderSchedule, uuid.UUID(reminder["id"]))
        schedule.next_fire_at = NOW + dt.timedelta(days=1)
        db.session.commit()
    assert pull(alice, before["timestamp"])["timestamp"] == before["timestamp"]
    with app.app_context():
        db.session.get(ReminderSchedule, uuid.UUID(reminder["id"])).label = "evening"
        db.session.commit()
    assert [r["label"] for r in pull(alice, before["timestamp"])["changes"]["reminders"]["updated"]] == ["evening"]


def test_a_migrated_phone_gets_the_tables_it_gained_and_those_that_gained_columns_in_full(
        app, pull, alice, create_checkin, create_dose):
    checkin = create_checkin(alice)
    create_dose(alice)
    prompt_id = _raise_prompt(app, alice)
    now = pull(alice)["timestamp"]
    migration = {"from": 1, "tables": ["prompts"], "columns": [{"table": "checkins", "columns": ["mood"]}]}
    pulled = pull(alice, now, schema_version=2, migration=json.dumps(migration))
    assert ids(pulled, "prompts", "updated") == [prompt_id]
    assert ids(pulled, "checkins", "updated") == [checkin["id"]]
    assert pulled["changes"]["doses"] == {"created": [], "updated": [], "deleted": []}


@pytest.mark.parametrize("query, parameter", [
    ({"last_pulled_at": "yesterday"}, "last_pulled_at"),
    ({"last_pulled_at": "-1"}, "last_pulled_at"),
    ({"last_pulled_at": "1.5"}, "last_pulled_at"),
    ({"schema_version": "0"}, "schema_version"),
    ({"migration": "{not json"}, "migration"),
    ({"migration": json.dumps({"from": 1, "tables": ["pets"], "columns": []}), "schema_version": 2}, "migration.tables.0"),
    ({"migration": json.dumps({"from": 1, "tables": [], "columns": [{"table": "doses", "columns": ["colour"]}]}),
      "schema_version": 2}, "migration.columns.0.columns"),
    ({"migration": json.dumps({"from": 1, "tables": [], "columns": []}), "schema_version": 1}, "migration"),
])
def test_a_malformed_pull_is_a_422_naming_the_parameter(client, alice, query, parameter):
    assert_problem(client.get("/v1/sync", query_string=query, headers=alice.headers), 422, parameter)


def test_a_cursor_from_the_future_is_refused_rather_than_silently_skipping_changes(client, pull, alice):
    ahead = pull(alice)["timestamp"] + 5
    assert_problem(client.get(f"/v1/sync?last_pulled_at={ahead}", headers=alice.headers), 422, "last_pulled_at")
    assert_problem(client.post(f"/v1/sync?last_pulled_at={ahead}", json=changes(), headers=alice.headers),
                   422, "last_pulled_at")


def test_a_change_committed_while_a_pull_runs_is_in_the_next_pull_never_skipped(pg_sync):
    """On PostgreSQL (SQLite runs one transaction at a time): a writer takes its change number before the
    pull reads the counter and commits after the pull answered. A clock-stamped cursor would already be
    past that change and lose it for good; the change number puts it in the next pull."""
    app, client, person = pg_sync
    first = pull_of(client, person)
    with app.app_context():
        user = person.user
        record_checkin(user, {"id": uuid.uuid4(), "recorded_at": NOW - dt.timedelta(hours=1), "pain": 3})
        writer = db.session()
        during = threading.Thread(target=lambda: results.append(pull_of(client, person, first["timestamp"])))
        results = []
        # The pull runs in another thread (its own session and connection) while this one holds its
        # uncommitted check-in and the locked counter.
        during.start()
        during.join(timeout=30)
        writer.commit()
    [middle] = results
    assert middle["changes"]["checkins"]["updated"] == []
    assert middle["timestamp"] == first["timestamp"]
    last = pull_of(client, person, middle["timestamp"])
    assert len(last["changes"]["checkins"]["updated"]) == 1


@pytest.fixture
def pg_sync():
    """An app on a PostgreSQL database of its own (even in the SQLite pass), a client and a person."""
    with own_postgres_app("careloop_sync") as app:
        client = app.test_client()
        person = Person(app, "pg-sync")
        assert client.get("/v1/me", headers=person.headers).status_code == 200
        with app.app_context():
            yield app, client, person


def pull_of(client, person, last_pulled_at=None):
    response = client.get("/v1/sync", query_string={"last_pulled_at": last_pulled_at or "null"},
                          headers=person.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


# --- push -----------------------------------------------------------------------------------------


def test_a_push_creates_records_once_with_one_event_each_however_often_it_is_retried(app, pull, push, alice):
    base = pull(alice)["timestamp"]
    body = changes(checkins={"created": [wire_checkin() for _ in range(3)]},
                   doses={"created": [wire_dose() for _ in range(2)]})
    result = push(alice, base, body)
    assert result.json == {"applied": {
        "checkins": {"created": 3, "updated": 0, "deleted": 0}, "doses": {"created": 2, "updated": 0, "deleted": 0},
        "reminders": {"created": 0, "updated": 0, "deleted": 0}, "prompts": {"created": 0, "updated": 0, "deleted": 0}}}

    # The response was lost: the phone pulls (its own records come back) and pushes the same again.
    again = pull(alice, base)
    assert len(again["changes"]["checkins"]["updated"]) == 3
    retried = push(alice, again["timestamp"], body)
    assert retried.json["applied"]["checkins"] == {"created": 0, "updated": 0, "deleted": 0}
    assert count(app, CheckIn) == 3 and count(app, Dose) == 2
    assert events_named(app, "CheckInRecorded") == 3 and events_named(app, "DoseLogged") == 2
    assert events_named(app, "CheckInChanged") == 0
    row = stored(app, CheckIn, body["checkins"]["created"][0]["id"])
    assert row["side_effects"] == ["constipation"] and row["sleep_hours"] == 7.5
    assert row["recorded_at"] == NOW - dt.timedelta(hours=3)


def test_a_push_writes_each_created_record_s_event_in_the_order_pushed_as_rest_would(app, pull, push, alice):
    body = changes(checkins={"created": [wire_checkin() for _ in range(3)]},
                   doses={"created": [wire_dose() for _ in range(2)]})
    push(alice, pull(alice)["timestamp"], body)
    with app.app_context():
        rows = db.session.scalars(sa.select(Event).order_by(Event.id)).all()
        assert [events.load(row) for row in rows] == (
            [events.CheckInRecorded(uuid.UUID(alice.id), uuid.UUID(r["id"])) for r in body["checkins"]["created"]]
            + [events.DoseLogged(uuid.UUID(alice.id), uuid.UUID(r["id"])) for r in body["doses"]["created"]])
        assert {(row.attempts, row.processed_at, row.created_at) for row in rows} == {(0, None, NOW)}


def test_a_pushed_record_reads_back_through_rest_as_if_posted_there(client, pull, push, alice):
    record = wire_checkin(note="from the plane", withdrawal_symptoms='["yawning","yawning"]')
    push(alice, pull(alice)["timestamp"], changes(checkins={"created": [record]}))
    response = client.get(f"/v1/checkins/{record['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json["note"] == "from the plane" and response.json["withdrawal_symptoms"] == ["yawning"]
    assert response.json["recorded_at"] == "2026-11-25T09:00:00Z"


def test_the_changes_may_come_wrapped_as_changes(pull, push, alice, app):
    push(alice, pull(alice)["timestamp"], {"changes": changes(doses={"created": [wire_dose()]})})
    assert count(app, Dose) == 1


def test_an_update_changes_only_what_the_phone_changed_and_raises_one_changed_event(app, client, pull, push, alice,
                                                                                    create_checkin):
    checkin = create_checkin(alice, recorded_at="2026-11-24T08:00:00.123456+00:00")
    pulled = pull(alice)
    [record] = pulled["changes"]["checkins"]["updated"]
    record.update(pain=9, _status="updated", _changed="pain")
    push(alice, pulled["timestamp"], changes(checkins={"updated": [record]}))
    row = stored(app, CheckIn, checkin["id"])
    assert row["pain"] == 9 and row["mood"] == 6
    # The milliseconds on the wire did not round the stored instant.
    assert row["recorded_at"] == dt.datetime(2026, 11, 24, 8, 0, 0, 123456, tzinfo=dt.timezone.utc)
    assert events_named(app, "CheckInChanged") == 1


def test_an_updated_record_the_server_does_not_have_is_created_and_a_created_one_it_has_is_updated(
        app, pull, push, alice, create_dose):
    dose = create_dose(alice)
    pulled = pull(alice)
    [known] = pulled["changes"]["doses"]["updated"]
    new = wire_dose(_status="updated")
    push(alice, pulled["timestamp"], changes(doses={"created": [{**known, "amount": 3.0}], "updated": [new]}))
    assert stored(app, Dose, dose["id"])["amount"] == 3.0
    assert stored(app, Dose, new["id"])["amount"] == 2.5


def test_deletes_leave_tombstones_and_unknown_or_repeated_deletes_are_ignored(app, client, pull, push, alice,
                                                                              create_checkin):
    checkin = create_checkin(alice, note="private")
    pulled = pull(alice)
    unknown = str(uuid.uuid4())
    result = push(alice, pulled["timestamp"], changes(checkins={"deleted": [checkin["id"], unknown]}))
    assert result.json["applied"]["checkins"] == {"created": 0, "updated": 0, "deleted": 1}
    row = stored(app, CheckIn, checkin["id"])
    assert row["deleted_at"] == NOW and row["note"] is None
    assert client.get(f"/v1/checkins/{checkin['id']}", headers=alice.headers).status_code == 404
    later = pull(alice, pulled["timestamp"])
    assert ids(later, "checkins", "deleted") == [checkin["id"]]
    push(alice, later["timestamp"], changes(checkins={"deleted": [checkin["id"]]}))


def test_a_record_changed_on_the_server_after_the_pull_refuses_the_whole_push_with_409(app, client, pull, push,
                                                                                       alice, create_checkin):
    checkin = create_checkin(alice)
    pulled = pull(alice)
    assert client.patch(f"/v1/checkins/{checkin['id']}", json={"mood": 2}, headers=alice.headers).status_code == 200
    [record] = pulled["changes"]["checkins"]["updated"]
    other = wire_dose()
    response = push(alice, pulled["timestamp"], changes(
        checkins={"updated": [{**record, "pain": 1}]}, doses={"created": [other]}), status=409)
    problem = assert_problem(response, 409)
    assert problem["errors"] == [{"table": "checkins", "id": checkin["id"],
                                  "detail": "Changed on the server after last_pulled_at."}]
    assert stored(app, CheckIn, checkin["id"])["pain"] == 5
    assert count(app, Dose) == 0
    # Pull, then the same push goes through: the phone's change of another column wins, the server's stays.
    fresh = pull(alice, pulled["timestamp"])
    push(alice, fresh["timestamp"], changes(checkins={"updated": [{**fresh["changes"]["checkins"]["updated"][0],
                                                                    "pain": 1}]}))
    assert (stored(app, CheckIn, checkin["id"])["pain"], stored(app, CheckIn, checkin["id"])["mood"]) == (1, 2)


def test_one_bad_record_refuses_the_push_naming_table_id_and_field_and_applies_nothing(app, pull, push, alice):
    good, bad = wire_checkin(), wire_checkin(pain=11)
    response = push(alice, pull(alice)["timestamp"], changes(
        checkins={"created": [good, bad]}, doses={"created": [wire_dose()]}), status=422)
    problem = assert_problem(response, 422, "pain")
    assert problem["errors"][0]["table"] == "checkins" and problem["errors"][0]["id"] == bad["id"]
    assert problem["errors"][0]["pointer"] == "#/checkins/created/1/pain"
    assert count(app, CheckIn) == 0 and count(app, Dose) == 0 and count(app, Event) == 0


def test_a_refused_push_names_every_bad_record_in_the_order_pushed(pull, push, alice):
    unanswered = dict(pain_today=None, pain=None, enjoyment_interference=None, activity_interference=None,
                      focus=None, mood=None, sleep_hours=None, side_effects="[]")
    records = [wire_checkin(), wire_checkin(pain=11), wire_checkin(pain="5"), wire_checkin(**unanswered),
               wire_checkin(id="7"), wire_checkin(mood=-1, **{"focus": 9})]
    response = push(alice, pull(alice)["timestamp"], changes(checkins={"created": records}), status=422)
    problem = assert_problem(response, 422)
    # A record's field error does not hide another record's rule between fields (a check-in needs an answer).
    assert [error["pointer"] for error in problem["errors"]] == [
        "#/checkins/created/1/pain", "#/checkins/created/2/pain", "#/checkins/created/3",
        "#/checkins/created/4/id", "#/checkins/created/5/focus", "#/checkins/created/5/mood"]


@pytest.mark.parametrize("mutate, field", [
    (lambda r: r.update(recorded_at="2026-11-25T09:00:00Z"), "recorded_at"),      # an instant must be a number
    (lambda r: r.update(recorded_at=millis(NOW + dt.timedelta(days=3))), "recorded_at"),  # not in the future
    (lambda r: r.update(recorded_at=1e20), "recorded_at"),
    (lambda r: r.update(pain="5"), "pain"),
    (lambda r: r.update(pain=True), "pain"),
    (lambda r: r.update(side_effects=["nausea"]), "side_effects"),                # lists travel as JSON text
    (lambda r: r.update(side_effects="[nausea"), "side_effects"),
    (lambda r: r.update(side_effects='["purple"]'), "side_effects.0"),
    (lambda r: r.update(colour="blue"), "colour"),
    (lambda r: r.update(id=r["id"].upper()), "id"),
    (lambda r: r.update(id="7"), "id"),
    (lambda r: r.update(pain_today=None, pain=None, enjoyment_interference=None, activity_interference=None, focus=None, mood=None,
                        sleep_hours=None, side_effects="[]"), None),               # a check-in needs an answer
])
def test_each_bad_record_is_a_422_naming_its_field(app, pull, push, alice, mutate, field):
    record = wire_checkin()
    mutate(record)
    response = push(alice, pull(alice)["timestamp"], changes(checkins={"created": [record]}), status=422)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == field and problem["errors"][0]["table"] == "checkins"
    assert count(app, CheckIn) == 0


@pytest.mark.parametrize("body, field", [
    ({"pets": {"created": [], "updated": [], "deleted": []}}, "pets"),
    ({"checkins": {"created": [], "renamed": []}}, "checkins.renamed"),
    ({"checkins": {"created": {"id": "x"}}}, "checkins.created"),
    ({"checkins": {"created": ["not a record"]}}, "checkins.created.0"),
    ([], None),
])
def test_a_malformed_changes_object_is_a_422(client, pull, alice, body, field):
    response = client.post(f"/v1/sync?last_pulled_at={pull(alice)['timestamp']}", json=body, headers=alice.headers)
    if field:
        assert_problem(response, 422, field)
    else:
        assert_problem(response, 422)


@pytest.mark.parametrize("query", ["", "?last_pulled_at=null", "?last_pulled_at=abc", "?last_pulled_at=0"])
def test_a_push_needs_the_cursor_of_its_pull(client, alice, query):
    assert_problem(client.post("/v1/sync" + query, json=changes(), headers=alice.headers), 422, "last_pulled_at")


def test_the_same_id_twice_in_one_push_is_refused(app, pull, push, alice):
    record = wire_checkin()
    response = push(alice, pull(alice)["timestamp"], changes(checkins={"created": [record], "updated": [record]}),
                    status=422)
    assert assert_problem(response, 422, "id")["errors"][0]["pointer"] == "#/checkins/updated/0/id"


def test_a_phone_never_touches_another_persons_records_whatever_ids_it_sends(app, pull, push, alice, bob,
                                                                           create_checkin):
    bobs = create_checkin(bob, note="bob's")
    [record] = pull(bob)["changes"]["checkins"]["updated"]
    base = pull(alice)["timestamp"]
    response = push(alice, base, changes(checkins={"updated": [{**record, "note": "mine now"}]}), status=422)
    assert assert_problem(response, 422, "id")["errors"][0]["id"] == bobs["id"]
    response = push(alice, base, changes(checkins={"created": [{**record, "note": "mine now"}]}), status=422)
    push(alice, base, changes(checkins={"deleted": [bobs["id"]]}))  # an id Alice cannot know: ignored
    row = stored(app, CheckIn, bobs["id"])
    assert row["note"] == "bob's" and row["deleted_at"] is None
    assert pull(alice)["changes"]["checkins"]["updated"] == []


def test_prompts_are_the_servers_a_phone_may_only_acknowledge_them(app, client, pull, push, alice):
    prompt_id = _raise_prompt(app, alice)
    pulled = pull(alice)
    [prompt] = pulled["changes"]["prompts"]["updated"]
    base = pulled["timestamp"]
    assert_problem(push(alice, base, changes(prompts={"created": [{**prompt, "id": str(uuid.uuid4())}]}), status=422), 422)
    assert_problem(push(alice, base, changes(prompts={"deleted": [prompt_id]}), status=422), 422)
    assert_problem(push(alice, base, changes(prompts={"updated": [{**prompt, "message": "nothing to see"}]}),
                        status=422), 422, "message")
    assert_problem(push(alice, base, changes(prompts={"updated": [{**prompt, "id": str(uuid.uuid4())}]}),
                        status=422), 422)

    read_at = NOW - dt.timedelta(minutes=5)
    result = push(alice, base, changes(prompts={"updated": [{**prompt, "acknowledged_at": millis(read_at),
                                                             "_status": "updated", "_changed": "acknowledged_at"}]}))
    assert result.json["applied"]["prompts"]["updated"] == 1
    listed = client.get("/v1/prompts", headers=alice.headers).json["items"]
    assert listed[0]["acknowledged_at"] == "2026-11-25T11:55:00Z"


def test_a_reminder_pushed_from_a_phone_is_planned_and_its_kind_stays(app, client, pull, push, alice):
    reminder = {"id": str(uuid.uuid4()), "_status": "created", "_changed": "", "kind": "checkin",
                "times": '["21:30","08:00"]', "days": '["mon","wed"]', "timezone": None, "active": True,
                "label": None, "follow_up_minutes": 30, "confirm_within_minutes": None, "alert_caregivers": False,
                "created_at": 0, "updated_at": 0}
    base = pull(alice)["timestamp"]
    push(alice, base, changes(reminders={"created": [reminder]}))
    listed = client.get(f"/v1/reminders/{reminder['id']}", headers=alice.headers).json
    assert listed["times"] == ["08:00", "21:30"] and listed["next_fire_at"] is not None
    fresh = pull(alice, base)
    [record] = fresh["changes"]["reminders"]["updated"]
    response = push(alice, fresh["timestamp"], changes(reminders={"updated": [{**record, "kind": "dose", "follow_up_minutes": None}]}),
                    status=422)
    assert_problem(response, 422, "kind")
    assert stored(app, ReminderSchedule, reminder["id"])["kind"] == "checkin"


def test_a_push_of_more_records_than_allowed_is_a_413(client, pull, alice, monkeypatch):
    from backend.sync import services
    monkeypatch.setattr(services, "MAX_PUSH_RECORDS", 3)
    body = changes(checkins={"created": [wire_checkin() for _ in range(4)]})
    response = client.post(f"/v1/sync?last_pulled_at={pull(alice)['timestamp']}", json=body, headers=alice.headers)
    assert_problem(response, 413)


def test_a_push_body_beyond_the_sync_limit_is_a_413_and_other_bodies_keep_theirs(app, client, pull, alice):
    limit = app.config["CARELOOP_SYNC_MAX_BODY_BYTES"]
    base = pull(alice)["timestamp"]
    big = changes(checkins={"created": [wire_checkin(note="x" * 2000) for _ in range(limit // 2000 + 1)]})
    response = client.post(f"/v1/sync?last_pulled_at={base}", json=big, headers=alice.headers)
    assert_problem(response, 413)
    # A week offline, far beyond the 64 KiB of a REST body, is welcome.
    week = changes(checkins={"created": [wire_checkin(note="y" * 400) for _ in range(300)]})
    assert client.post(f"/v1/sync?last_pulled_at={base}", json=week, headers=alice.headers).status_code == 200


def _raise_prompt(app, person):
    from backend.monitoring.rules import Finding

    with app.app_context():
        finding = Finding(rule="test", subject="kratom", severity="warning", dedupe_key=f"test:{uuid.uuid4()}",
                          message="You logged more than your own limit today.", evidence={"seen": 3})
        prompt = raise_prompt(person.user, finding, {"cooldown_hours": 24}, NOW)
        db.session.commit()
        return str(prompt.id)
