"""DELETE /v1/me: after it, no row anywhere refers to the person, and everyone else's data is as it was
(but for the two references to them that are cleared: their reads in another patient's access
log, and another patient's invite that they accepted)."""

import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

import jobs
from backend.extensions import db
from backend.monitoring.models import Prompt
from backend.mydata.schemas import CONFIRMATION
from backend.push.models import Device
from backend.reminders.models import ReminderOccurrence
from backend.sharing.models import ReportLink, ShareInvite
from tests.mydata import account_world

CONFIRM = {"confirm": CONFIRMATION}


@pytest.fixture
def world(app, client, make_person, time_machine):
    return account_world.build(app, client, make_person, time_machine)


def snapshot(app):
    """Every row of every table, as {table: {primary key: {column: value}}}."""
    with app.app_context():
        db.session.remove()
        rows = {}
        for table in db.metadata.sorted_tables:
            key = [column.name for column in table.primary_key.columns]
            rows[table.name] = {tuple(row[name] for name in key): dict(row)
                                for row in db.session.execute(sa.select(table)).mappings()}
        return rows


def plain(value):
    """A value as text, in every spelling a reference to it could take (uuids with and without dashes)."""
    if isinstance(value, uuid.UUID):
        return f"{value} {value.hex}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def fingerprints(app, lived):
    """Everything that identifies the person as a plain value: their id and Firebase uid, their
    push token, and the ids of their phones and of every record of theirs."""
    with app.app_context():
        uid = uuid.UUID(lived.person.id)
        ids = [uid]
        for model, column in ((Device, Device.user_id), (ReminderOccurrence, ReminderOccurrence.user_id),
                              (Prompt, Prompt.user_id), (ReportLink, ReportLink.patient_id),
                              (ShareInvite, ShareInvite.patient_id)):
            ids += db.session.scalars(sa.select(model.id).where(column == uid)).all()
        db.session.remove()
    ids += [uuid.UUID(record["id"]) for record in lived.checkins + lived.doses + [lived.reminder]]
    return [lived.person.uid, lived.token, *lived.old_tokens] + [
        text for value in ids for text in (str(value), value.hex)]


def rows_mentioning(rows, needles):
    return {(table, key) for table, table_rows in rows.items() for key, row in table_rows.items()
            if any(needle in plain(value) for value in row.values() for needle in needles)}


def columns_pointing_at_users(app):
    with app.app_context():
        return [(table.name, column.name) for table in db.metadata.sorted_tables for column in table.columns
                if any(fk.column.table.name == "users" for fk in column.foreign_keys)]


def delete_me(client, person):
    return client.delete("/v1/me", json=CONFIRM, headers=person.headers)


def test_deleting_an_account_leaves_no_row_that_refers_to_it(app, client, world):
    alice = world.alice
    needles = fingerprints(app, alice)
    before = snapshot(app)
    mentioning = rows_mentioning(before, needles)
    # The world really holds the person in every table that can hold them.
    assert {table for table, _ in mentioning} >= {
        "users", "devices", "checkins", "doses", "reminder_schedules", "reminder_occurrences", "push_deliveries",
        "local_pushes", "events", "plans", "prompts", "shares", "share_invites", "report_links", "access_log"}

    response = delete_me(client, alice.person)
    assert response.status_code == 204, response.json
    after = snapshot(app)

    # No foreign key to users holds their id ...
    uid = uuid.UUID(alice.person.id)
    for table, column in columns_pointing_at_users(app):
        assert not [row for row in after[table].values() if row[column] == uid], (table, column)
    # ... and no column anywhere holds their id, uid, token or the id of anything of theirs.
    assert rows_mentioning(after, needles) == set()

    # Two kinds of other people's rows lose their reference to her and keep the rest: Alice's read
    # of Carol's data stays in Carol's log, name marked; Carol's invite that Alice accepted stays
    # Carol's, pointing at no share any more.
    her_shares = {key[0] for key, row in before["shares"].items() if uid in (row["patient_id"], row["viewer_id"])}
    cleared = {("access_log", key): {"viewer_id": None, "viewer_label": "Alice (account deleted)"}
               for key, row in before["access_log"].items() if row["viewer_id"] == uid and row["patient_id"] != uid}
    cleared |= {("share_invites", key): {"share_id": None}
                for key, row in before["share_invites"].items() if row["share_id"] in her_shares
                and row["patient_id"] != uid}
    assert [table for table, _ in cleared] == ["access_log", "share_invites"]
    for (table, key), changes in cleared.items():
        assert after[table][key] == {**before[table][key], **changes}
    # Every other row that did not mention her is exactly as it was.
    for table, table_rows in before.items():
        for key, row in table_rows.items():
            if (table, key) not in mentioning and (table, key) not in cleared:
                assert after[table][key] == row, (table, key)
    kept = {(table, key) for table, table_rows in after.items() for key in table_rows}
    assert kept == {(table, key) for table, table_rows in before.items() for key in table_rows
                    if (table, key) not in mentioning or (table, key) in cleared}


def test_other_people_keep_their_data_and_lose_only_the_share(client, world):
    delete_me(client, world.alice.person)
    bob, carol = world.bob.person, world.carol.person
    for lived in (world.bob, world.carol):
        response = client.get("/v1/checkins", headers=lived.person.headers)
        assert {c["id"] for c in response.json["items"]} == {c["id"] for c in lived.checkins}
        response = client.get("/v1/doses", headers=lived.person.headers)
        assert {d["id"] for d in response.json["items"]} == {d["id"] for d in lived.doses}
    assert client.get("/v1/shares", headers=bob.headers).json["items"] == []
    assert client.get("/v1/shares", headers=carol.headers).json["items"] == []
    assert client.get(f"/v1/patients/{world.alice.person.id}/checkins", headers=bob.headers).status_code == 404
    log = client.get("/v1/me/access-log", headers=carol.headers).json["items"]
    assert [(entry["who"], entry["viewer_id"]) for entry in log] == [("Alice (account deleted)", None)]


def test_the_same_sign_in_afterwards_starts_a_fresh_empty_account(client, world):
    alice = world.alice.person
    assert delete_me(client, alice).status_code == 204
    response = client.get("/v1/me", headers=alice.headers)
    assert response.status_code == 200 and response.json["id"] != alice.id
    document = client.get("/v1/me/export", headers=alice.headers).json
    assert all(document[name] == [] for name in ("devices", "checkins", "doses", "reminders", "shares",
                                                 "access_log", "prompts"))
    # The report link Alice gave out is gone with her account.
    token = world.report_link["url"].rsplit("/", 1)[1]
    assert client.get(f"/r/{token}").status_code == 404


@pytest.mark.parametrize("body", [
    None, {}, {"confirm": "yes"}, {"confirm": CONFIRMATION.upper()}, {"confirm": CONFIRMATION, "extra": 1}])
def test_deletion_needs_the_exact_confirmation(client, make_person, create_checkin, body):
    person = make_person()
    create_checkin(person)
    response = client.delete("/v1/me", json=body, headers=person.headers) if body is not None else client.delete(
        "/v1/me", headers=person.headers)
    assert response.mimetype == "application/problem+json"
    if body is None:
        assert response.status_code == 400
    else:
        assert response.status_code == 422
        fields = {error["field"] for error in response.json["errors"]}
        assert fields == ({"extra"} if "extra" in body else {"confirm"})
    assert len(client.get("/v1/checkins", headers=person.headers).json["items"]) == 1


def test_deletion_needs_sign_in(client):
    response = client.delete("/v1/me", json=CONFIRM)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"


def test_deleting_an_account_that_only_just_signed_in_works(client, make_person):
    person = make_person()
    assert delete_me(client, person).status_code == 204
    assert delete_me(client, person).status_code == 204  # the next request made a new, empty one


def test_the_jobs_push_nothing_to_a_deleted_person(app, client, world, time_machine):
    """The next day's reminders go to everyone else's phones; nothing of hers is left to push."""
    delete_me(client, world.alice.person)
    time_machine.move_to(account_world.NOW + dt.timedelta(days=1, hours=1, minutes=1), tick=False)
    with app.app_context():
        jobs.send_reminders()
        jobs.monitor()
    after = snapshot(app)
    tokens = {row["token"] for row in after["local_pushes"].values()}
    assert world.alice.token not in tokens and {world.bob.token, world.carol.token} <= tokens
