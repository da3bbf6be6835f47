"""WatermelonDB sync end to end: real WatermelonDB 0.28 phones (Node processes, tests/sync/phone)
against the app served over HTTP on the test database.

Each phone builds its database from GET /v1/sync/schema and syncs with WatermelonDB's own
synchronize(); the tests look at what the phones hold, at the rows and events in the database, and
at what the REST API answers. The clock is real here (the server and the phones share it), so
records lie in the recent past. A phone's sync must leave nothing in WatermelonDB's log: a warning
there is a protocol mismatch the app would hit too.
"""

import datetime as dt
import json
import time
import uuid

import pytest
import sqlalchemy as sa

from backend.checkins.models import CheckIn
from backend.doses.models import Dose
from backend.events.models import Event
from backend.extensions import db
from backend.monitoring.plan import effective_plan
from backend.monitoring.rules import Finding
from backend.monitoring.services import raise_prompt
from backend.sqltypes import utcnow
from tests.support import checkin_body, dose_body, iso, reminder_body, stored
from tests.sync.phones import phone_for  # noqa: F401  (fixture)

MINUTE_MS = 60_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


# Instants: the phones hold epoch milliseconds, the REST API writes RFC 3339.

def now_ms():
    return time.time_ns() // 1_000_000


def ago(minutes):
    """An instant `minutes` ago, in epoch milliseconds."""
    return now_ms() - minutes * MINUTE_MS


def ago_iso(minutes):
    return iso(utcnow() - dt.timedelta(minutes=minutes))


def micros(rfc3339):
    """An RFC 3339 instant in epoch microseconds (exactly: no float on the way)."""
    return (dt.datetime.fromisoformat(rfc3339) - EPOCH) // dt.timedelta(microseconds=1)


# What a phone holds, against what the REST API shows.

def checkin_fields(**fields):
    """A check-in as the phone app writes one (lists as the JSON text of its @json columns)."""
    return {"recorded_at": ago(30), "pain": 5, "enjoyment_interference": 4, "activity_interference": 6,
            "mood": 6, "side_effects": [], "withdrawal_symptoms": [], **fields}


def dose_fields(**fields):
    return {"taken_at": ago(20), "substance_kind": "kratom", "form": "leaf_powder", "product": "Green Malay",
            "amount": 2.5, "unit": "g", **fields}


def differences(raw, rest, column_types):
    """The columns where a phone's raw record does not hold what the REST representation says:
    instants to the millisecond, lists and objects as their JSON text. (The REST API may show more:
    a field the server moves on its own, like a reminder's next fire, is not synced.)"""
    found = {}
    for name in set(raw) - {"id", "_status", "_changed"} - set(column_types):
        found[name] = {"phone": raw[name], "server": "<not a column>"}
    for name, column_type in column_types.items():
        held, shown = raw.get(name, "<no column>"), rest.get(name, "<no field>")
        if column_type == "number" and isinstance(shown, str):
            same = isinstance(held, int) and abs(held * 1000 - micros(shown)) < 1000
        elif isinstance(shown, (list, dict)):
            same = isinstance(held, str) and json.loads(held) == shown
        else:
            same = held == shown
        if not same:
            found[name] = {"phone": held, "server": shown}
    return found


def assert_holds(phone, table, rest_records, column_types):
    """The phone holds exactly these records of `table`, synced, each as the REST API shows it."""
    held = phone.records(table)
    assert set(held) == {record["id"] for record in rest_records}, table
    for record in rest_records:
        raw = held[record["id"]]
        assert raw["_status"] == "synced" and raw["_changed"] == "", raw
        assert differences(raw, record, column_types[table]) == {}, (table, record["id"])


def requests_made(reply):
    return [(request["method"], request["path"].split("?")[0], request["status"]) for request in reply["requests"]]


def assert_refused_for_the_id(reply, record_id):
    """The push was refused as a whole (422), naming the check-in id at fault."""
    assert not reply["ok"] and reply["error"]["status"] == 422, reply
    assert [(error["table"], error["id"], error["field"]) for error in reply["error"]["body"]["errors"]] == [
        ("checkins", record_id, "id")]
    assert requests_made(reply)[-1] == ("POST", "/v1/sync", 422)


# The server's side: REST reads, rows and events.

def rest(client, person, path, status=200):
    response = client.get(path, headers=person.headers)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json


def rest_items(client, person, path):
    """The items of a list (the tests' lists fit in one page)."""
    return rest(client, person, path + "?limit=100")["items"]


def user_id(person):
    return uuid.UUID(person.id)


def stored_ids(app, model, person):
    """The ids of the person's rows of `model`, tombstones included."""
    with app.app_context():
        return {str(record_id) for record_id in db.session.scalars(
            sa.select(model.id).where(model.user_id == user_id(person)))}


def events(app, person):
    """The person's outbox events as (name, subject id) pairs, in the order they were written."""
    with app.app_context():
        found = db.session.scalars(sa.select(Event).where(Event.user_id == user_id(person)).order_by(Event.id))
        return [(event.name, next(iter(event.payload.values()))) for event in found]


def raise_a_prompt(app, person, rule="daily_limit", subject="kratom", key=None):
    """A monitoring prompt, raised as the rules raise one; returns its id."""
    with app.app_context():
        user = person.user
        finding = Finding(rule, subject, "warning", key or f"{rule}:{subject}:{uuid.uuid4()}",
                          "Your logged kratom adds up to 12 g today, above the daily limit of 10 g in your plan.",
                          {"date": utcnow().date().isoformat(), "total": 12.0, "unit": "g", "limit": 10})
        prompt = raise_prompt(user, finding, effective_plan(user), utcnow())
        assert prompt is not None
        prompt_id = str(prompt.id)
        db.session.commit()
    return prompt_id


def post(client, person, path, body, status=201):
    response = client.post(path, json=body, headers=person.headers)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json


@pytest.fixture
def column_types(client, alice):
    """Each table's column types, from the schema the phones build their databases from."""
    schema = rest(client, alice, "/v1/sync/schema")
    return {table["name"]: {column["name"]: column["type"] for column in table["columns"]}
            for table in schema["tables"]}


# 1

def test_first_sync_of_an_empty_phone_pulls_every_record_the_server_holds(app, client, alice, bob, phone_for,
                                                                        column_types):
    post(client, alice, "/v1/checkins", checkin_body(recorded_at=ago_iso(90), side_effects=["constipation"],
                                                     note="after a bad night"))
    post(client, alice, "/v1/checkins", checkin_body(recorded_at=ago_iso(30), sleep_hours=6.5))
    post(client, alice, "/v1/doses", dose_body(taken_at=ago_iso(80)))
    post(client, alice, "/v1/doses", dose_body(taken_at=ago_iso(20), substance_kind="nsaid", form=None,
                                                product="Ibuprofen", amount=400, unit="mg"))
    post(client, alice, "/v1/reminders", reminder_body(times=["09:00", "21:00"], days=["mon", "wed"],
                                                       follow_up_minutes=30))
    raise_a_prompt(app, alice)
    post(client, bob, "/v1/checkins", checkin_body(recorded_at=ago_iso(10)))  # someone else's

    phone = phone_for(alice)
    reply = phone.sync()

    assert requests_made(reply) == [("GET", "/v1/sync", 200)]  # nothing of its own to push
    assert reply["pulled"] == 6
    for table, path in [("checkins", "/v1/checkins"), ("doses", "/v1/doses"), ("reminders", "/v1/reminders"),
                        ("prompts", "/v1/prompts")]:
        assert_holds(phone, table, rest_items(client, alice, path), column_types)
    assert not phone.unsynced()

    again = phone.sync()
    assert again["pulled"] == 0 and again["pushed"] == 0
    assert again["last_pulled_at"] >= reply["last_pulled_at"]


# 2

def test_a_thousand_offline_check_ins_and_doses_reach_the_server_once_even_when_the_push_is_retried(
        app, client, alice, phone_for, column_types):
    phone = phone_for(alice)
    phone.sync()
    checkin_ids = phone.create_many("checkins", [
        checkin_fields(recorded_at=ago(n + 1), pain=n % 11, mood=10 - n % 11, focus=n % 5,
                       side_effects=["nausea"] if n % 7 == 0 else [])
        for n in range(1000)])
    dose_ids = phone.create_many("doses", [
        dose_fields(taken_at=ago(n + 1), amount=1 + n % 4 / 2) for n in range(1000)])

    # The push reaches the server and is applied; its answer never reaches the phone.
    lost = phone.try_sync(drop_push_response=True)
    assert not lost["ok"] and lost["error"]["name"] == "ResponseLost", lost
    assert requests_made(lost) == [("GET", "/v1/sync", 200), ("POST", "/v1/sync", 200)]
    assert lost["logged"] == []
    assert phone.unsynced()  # as far as the phone knows, nothing went through
    assert stored_ids(app, CheckIn, alice) == set(checkin_ids)
    assert stored_ids(app, Dose, alice) == set(dose_ids)
    announced = events(app, alice)
    assert sorted(announced) == sorted([("CheckInRecorded", id_) for id_ in checkin_ids]
                                       + [("DoseLogged", id_) for id_ in dose_ids])

    # The next sync pulls the records back and pushes them all again: nothing new on the server.
    retried = phone.sync()
    assert requests_made(retried) == [("GET", "/v1/sync", 200), ("POST", "/v1/sync", 200)]
    assert retried["pushed"] == 2000
    assert not phone.unsynced()
    assert stored_ids(app, CheckIn, alice) == set(checkin_ids)
    assert stored_ids(app, Dose, alice) == set(dose_ids)
    assert events(app, alice) == announced

    # What the server holds is what the phone made.
    quiet = phone.sync()
    assert requests_made(quiet) == [("GET", "/v1/sync", 200)]
    for table, ids in (("checkins", checkin_ids), ("doses", dose_ids)):
        held = phone.records(table)
        for record_id in ids[::97]:
            record = rest(client, alice, f"/v1/{table}/{record_id}")
            assert differences(held[record_id], record, column_types[table]) == {}


# 3

def test_two_phones_editing_one_check_in_agree_with_the_server_after_the_later_push_is_refused_and_retried(
        app, client, alice, phone_for, column_types):
    checkin = post(client, alice, "/v1/checkins", checkin_body(recorded_at=ago_iso(60), pain=5, mood=6, note=None))
    first, second = phone_for(alice, "first phone"), phone_for(alice, "second phone")
    first.sync()
    second.sync()

    first.update("checkins", checkin["id"], pain=7, note="from the first phone")
    second.update("checkins", checkin["id"], mood=3, note="from the second phone")
    # The second phone pulls, then the first phone's push lands before the second one pushes.
    second.pull_and_hold_push()
    first.sync()
    refused = second.release_push()

    assert not refused["ok"] and refused["error"]["status"] == 409, refused
    assert refused["error"]["body"]["status"] == 409
    assert requests_made(refused) == [("GET", "/v1/sync", 200), ("POST", "/v1/sync", 409)]
    assert refused["logged"] == []
    # The refused push changed nothing.
    assert rest(client, alice, f"/v1/checkins/{checkin['id']}")["note"] == "from the first phone"

    # As the app does: sync again. The pull brings the first phone's edit; the second phone's own
    # changes win column by column (mood, and the note both changed), and its push goes through.
    retried = second.sync()
    assert retried["conflicts"] == 1
    assert requests_made(retried) == [("GET", "/v1/sync", 200), ("POST", "/v1/sync", 200)]
    for phone in (first, second, first, second):
        phone.sync_as_app()

    server = rest(client, alice, f"/v1/checkins/{checkin['id']}")
    assert (server["pain"], server["mood"], server["note"]) == (7, 3, "from the second phone")
    assert server["peg_score"] == pytest.approx((7 + checkin["enjoyment_interference"]
                                                 + checkin["activity_interference"]) / 3, abs=0.01)
    for phone in (first, second):
        assert_holds(phone, "checkins", [server], column_types)
    assert first.everything() == second.everything()
    assert [name for name, _ in events(app, alice)] == ["CheckInRecorded", "CheckInChanged", "CheckInChanged"]


def test_two_phones_editing_one_check_in_one_after_the_other_resolve_on_the_pull(
        client, alice, phone_for, column_types):
    checkin = post(client, alice, "/v1/checkins", checkin_body(recorded_at=ago_iso(60), pain=5, mood=6))
    first, second = phone_for(alice, "first phone"), phone_for(alice, "second phone")
    first.sync()
    second.sync()

    first.update("checkins", checkin["id"], pain=8, note="first")
    second.update("checkins", checkin["id"], pain=2, note="second")
    first.sync_as_app()
    [resolved] = second.sync_as_app()  # its pull sees the first phone's edit: no 409
    assert resolved["conflicts"] == 1
    first.sync_as_app()
    second.sync_as_app()  # the server's own columns of the merged record (PEG score, updated_at)

    server = rest(client, alice, f"/v1/checkins/{checkin['id']}")
    assert (server["pain"], server["note"]) == (2, "second")  # the later phone's own columns won
    for phone in (first, second):
        assert_holds(phone, "checkins", [server], column_types)


# 4

def test_a_deletion_on_one_phone_disappears_from_the_other_at_its_next_sync(app, client, alice, phone_for):
    first, second = phone_for(alice, "first phone"), phone_for(alice, "second phone")
    dose_id = first.create("doses", **dose_fields())
    kept_id = first.create("doses", **dose_fields(taken_at=ago(10)))
    checkin_id = first.create("checkins", **checkin_fields())
    first.sync()
    second.sync()
    assert set(second.records("doses")) == {dose_id, kept_id}

    first.delete("doses", dose_id)
    first.delete("checkins", checkin_id)
    pushed = first.sync()
    assert pushed["pushed"] == 2
    assert not first.unsynced()

    assert stored(app, Dose, dose_id)["deleted_at"] is not None  # a tombstone, for the phones
    assert stored(app, CheckIn, checkin_id)["deleted_at"] is not None
    rest(client, alice, f"/v1/doses/{dose_id}", status=404)
    assert [dose["id"] for dose in rest_items(client, alice, "/v1/doses")] == [kept_id]

    pulled = second.sync()
    assert pulled["pulled"] == 2
    assert set(second.records("doses")) == {kept_id}
    assert second.records("checkins") == {}
    assert first.everything() == second.everything()


def test_an_edit_of_a_check_in_deleted_on_another_phone_gives_way_to_the_deletion(app, client, alice, phone_for):
    checkin = post(client, alice, "/v1/checkins", checkin_body(recorded_at=ago_iso(60)))
    first, second = phone_for(alice, "first phone"), phone_for(alice, "second phone")
    first.sync()
    second.sync()

    first.delete("checkins", checkin["id"])
    second.update("checkins", checkin["id"], pain=9)
    second.pull_and_hold_push()
    first.sync()
    refused = second.release_push()
    assert not refused["ok"] and refused["error"]["status"] == 409, refused

    second.sync()
    assert second.records("checkins") == first.records("checkins") == {}
    assert not second.unsynced()
    assert stored(app, CheckIn, checkin["id"])["deleted_at"] is not None
    assert [name for name, _ in events(app, alice)] == ["CheckInRecorded"]


# 5

def test_rest_changes_and_new_prompts_reach_the_phone_and_its_acknowledgement_reaches_the_server(
        app, client, alice, phone_for, column_types):
    checkin = post(client, alice, "/v1/checkins", checkin_body(recorded_at=ago_iso(60), pain=5))
    gone = post(client, alice, "/v1/checkins", checkin_body(recorded_at=ago_iso(50)))
    phone = phone_for(alice)
    phone.sync()

    response = client.patch(f"/v1/checkins/{checkin['id']}", json={"pain": 2, "note": "better today"},
                            headers=alice.headers)
    assert response.status_code == 200, response.json
    assert client.delete(f"/v1/checkins/{gone['id']}", headers=alice.headers).status_code == 204
    prompt_id = raise_a_prompt(app, alice)

    pulled = phone.sync()
    assert pulled["pulled"] == 3
    assert_holds(phone, "checkins", rest_items(client, alice, "/v1/checkins"), column_types)
    assert phone.record("checkins", checkin["id"])["pain"] == 2
    assert_holds(phone, "prompts", rest_items(client, alice, "/v1/prompts"), column_types)
    assert phone.record("prompts", prompt_id)["acknowledged_at"] is None

    read_at = now_ms()
    phone.update("prompts", prompt_id, acknowledged_at=read_at)
    pushed = phone.sync()
    assert pushed["pushed"] == 1

    [prompt] = rest_items(client, alice, "/v1/prompts")
    assert abs(micros(prompt["acknowledged_at"]) - read_at * 1000) < 1000
    phone.sync()
    assert_holds(phone, "prompts", [prompt], column_types)


# 6

def test_a_phone_never_receives_or_changes_another_persons_records(app, client, alice, bob, phone_for,
                                                                  column_types):
    theirs = post(client, alice, "/v1/checkins", checkin_body(recorded_at=ago_iso(60), pain=5))
    post(client, alice, "/v1/doses", dose_body(taken_at=ago_iso(50)))
    raise_a_prompt(app, alice)
    own = post(client, bob, "/v1/checkins", checkin_body(recorded_at=ago_iso(40), pain=3))

    bobs = phone_for(bob, "Bob's phone")
    bobs.sync()
    assert_holds(bobs, "checkins", [own], column_types)
    assert bobs.records("doses") == bobs.records("reminders") == bobs.records("prompts") == {}
    alice_before = rest(client, alice, f"/v1/checkins/{theirs['id']}")

    # A phone that claims Alice's check-in id as a new record of its own …
    claiming = phone_for(bob, "a phone claiming Alice's id")
    claiming.create("checkins", record_id=theirs["id"], **checkin_fields(pain=0, note="mine now"))
    refused = claiming.try_sync()
    assert_refused_for_the_id(refused, theirs["id"])
    # … or as one it pulled and then changed.
    editing = phone_for(bob, "a phone editing Alice's check-in")
    raw = {name: value for name, value in bobs.record("checkins", own["id"]).items()
           if name not in ("_status", "_changed")}
    editing.adopt("checkins", {**raw, "id": theirs["id"]})
    editing.update("checkins", theirs["id"], pain=0, note="mine now")
    refused = editing.try_sync()
    assert_refused_for_the_id(refused, theirs["id"])
    # … or deletes it: an id it does not know, ignored.
    deleting = phone_for(bob, "a phone deleting Alice's check-in")
    deleting.adopt("checkins", {**raw, "id": theirs["id"]})
    deleting.delete("checkins", theirs["id"])
    deleting.sync()

    assert rest(client, alice, f"/v1/checkins/{theirs['id']}") == alice_before
    assert stored(app, CheckIn, theirs["id"])["deleted_at"] is None
    assert stored_ids(app, CheckIn, bob) == {own["id"]}

    # Alice's later changes are not in Bob's pulls either.
    response = client.patch(f"/v1/checkins/{theirs['id']}", json={"pain": 9}, headers=alice.headers)
    assert response.status_code == 200, response.json
    post(client, alice, "/v1/checkins", checkin_body(recorded_at=ago_iso(5)))
    later = bobs.sync()
    assert later["pulled"] == 0
    assert set(bobs.records("checkins")) == {own["id"]}
    fresh = phone_for(bob, "Bob's new phone")
    fresh.sync()
    assert fresh.everything() == bobs.everything()
