"""/v1/reminders: schedules (their fields, next fires, changes and deletion), their occurrences (ack,
snooze, receipts), isolation between people, and the `careloop jobs` / `careloop pushes` commands.
The client-record contract schedules share with check-ins and doses (idempotent create, pages,
corrections, tombstones, isolation) is tested once for all three in
tests/records/test_client_records.py."""

import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

import jobs
from backend.extensions import db
from backend.push.models import LocalPush, PushDelivery
from backend.reminders.models import WEEKDAYS, ReminderOccurrence, ReminderSchedule
from backend.reminders.schemas import MAX_TIMES
from backend.reminders.services import MAX_SNOOZES
from tests.support import NOW, assert_problem, count, reminder_body, stored, utc

# Reminders fire at wall-clock times, and these tests are about which fire comes next: they start
# on NOW's day at 08:00 UTC, before the 09:30 Berlin (08:30 UTC) fire most of them use.
MORNING = NOW.replace(hour=8)


@pytest.fixture
def clock(clock):
    """The shared frozen clock, moved back to MORNING."""
    clock.move_to(MORNING, tick=False)
    return clock


# People are created after the clock is frozen, so their tokens are issued in frozen time.
@pytest.fixture
def alice(clock, make_person):
    return make_person("alice", name="Alice")


@pytest.fixture
def bob(clock, make_person):
    return make_person("bob", name="Bob")


def register_device(client, person, token="fcm-token-alice-phone"):
    response = client.post("/v1/devices", json={"token": token, "platform": "android"}, headers=person.headers)
    assert response.status_code == 201, response.json


@pytest.fixture
def run_jobs(app, clock):
    """Move the clock to `when` (if given) and run the reminder jobs there, as the jobs process does."""
    def run(when=None):
        if when is not None:
            clock.move_to(when, tick=False)
        with app.app_context():
            return jobs.send_reminders()
    return run


def local_pushes(app):
    with app.app_context():
        return [{"token": p.token, "title": p.title, "body": p.body, "data": p.data}
                for p in db.session.scalars(sa.select(LocalPush).order_by(LocalPush.id))]


def delivery_purposes(app):
    with app.app_context():
        return [d.label for d in db.session.scalars(sa.select(PushDelivery).order_by(PushDelivery.created_at))]


def occurrences(client, person, **query):
    response = client.get("/v1/reminders/occurrences", query_string=query, headers=person.headers)
    assert response.status_code == 200, response.json
    return response.json["items"]


@pytest.fixture
def sent_occurrence(client, alice, create_reminder, run_jobs):
    """Alice's 09:30 Berlin check-in reminder, pushed to her phone at 08:30 UTC; returns its occurrence."""
    register_device(client, alice)
    create_reminder(alice, times=["09:30"], timezone="Europe/Berlin")
    run_jobs(utc(2026, 11, 25, 8, 30))
    [occurrence] = occurrences(client, alice)
    return occurrence


# Create

def test_creating_a_reminder_returns_it_with_its_next_fire_in_utc(client, alice):
    client.patch("/v1/me", json={"timezone": "Europe/Berlin"}, headers=alice.headers)
    body = reminder_body(times=["09:30"], label="Morning check-in", follow_up_minutes=30)
    response = client.post("/v1/reminders", json=body, headers=alice.headers)
    assert response.status_code == 201
    assert response.json == dict(
        body, days=list(WEEKDAYS), timezone=None, active=True, confirm_within_minutes=None, alert_caregivers=False,
        next_fire_at="2026-11-25T08:30:00Z", created_at="2026-11-25T08:00:00Z", updated_at="2026-11-25T08:00:00Z")


@pytest.mark.parametrize("profile_zone, schedule_zone, times, expected", [
    ("Europe/Berlin", None, ["09:30"], "2026-11-25T08:30:00Z"),
    ("America/New_York", None, ["09:30"], "2026-11-25T14:30:00Z"),
    # The schedule's own zone wins over the profile's.
    ("Europe/Berlin", "America/New_York", ["09:30"], "2026-11-25T14:30:00Z"),
    ("America/New_York", "Europe/Berlin", ["09:30"], "2026-11-25T08:30:00Z"),
    # 08:30 in Berlin (07:30 UTC) has passed today: tomorrow's is next.
    ("Europe/Berlin", None, ["08:30"], "2026-11-26T07:30:00Z"),
    ("UTC", None, ["07:00", "12:00", "08:15"], "2026-11-25T08:15:00Z"),
    ("Asia/Tokyo", None, ["09:30"], "2026-11-26T00:30:00Z"),
])
def test_next_fire_follows_the_schedules_zone_or_else_the_profiles(
        client, alice, create_reminder, profile_zone, schedule_zone, times, expected):
    client.patch("/v1/me", json={"timezone": profile_zone}, headers=alice.headers)
    created = create_reminder(alice, times=times, timezone=schedule_zone)
    assert created["next_fire_at"] == expected
    assert created["timezone"] == schedule_zone


def test_a_reminder_on_some_weekdays_next_fires_on_the_first_of_them(alice, create_reminder):
    created = create_reminder(alice, times=["09:30"], days=["fri", "mon"])
    assert created["next_fire_at"] == "2026-11-27T09:30:00Z"


def test_days_default_to_every_day(alice, create_reminder):
    assert create_reminder(alice)["days"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def test_times_and_days_are_deduplicated_and_sorted(alice, create_reminder):
    created = create_reminder(alice, times=["21:30", "08:00", "21:30", "00:05"], days=["sun", "mon", "fri", "mon"])
    assert created["times"] == ["00:05", "08:00", "21:30"]
    assert created["days"] == ["mon", "fri", "sun"]


def test_an_inactive_reminder_is_created_without_a_next_fire(alice, create_reminder):
    created = create_reminder(alice, active=False)
    assert created["active"] is False
    assert created["next_fire_at"] is None


# Validation

@pytest.mark.parametrize("fields, field", [
    ({"times": ["9:00"]}, "times.0"),
    ({"times": ["24:00"]}, "times.0"),
    ({"times": ["12:60"]}, "times.0"),
    ({"times": ["noon"]}, "times.0"),
    ({"times": ["08:00", "09:00:00"]}, "times.1"),
    ({"times": [900]}, "times.0"),
    ({"times": []}, "times"),
    ({"times": [f"{hour:02}:00" for hour in range(MAX_TIMES + 1)]}, "times"),
    ({"times": "08:00"}, "times"),
    ({"days": ["mon", "funday"]}, "days.1"),
    ({"days": []}, "days"),
    ({"kind": "medication"}, "kind"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "localtime"}, "timezone"),
    ({"follow_up_minutes": 4}, "follow_up_minutes"),
    ({"follow_up_minutes": 721}, "follow_up_minutes"),
    ({"follow_up_minutes": 30.5}, "follow_up_minutes"),
    ({"kind": "dose", "follow_up_minutes": 30}, "follow_up_minutes"),
    ({"kind": "custom", "follow_up_minutes": 30}, "follow_up_minutes"),
    ({"label": "x" * 81}, "label"),
    ({"label": ""}, "label"),
    ({"next_fire_at": "2026-11-25T08:30:00Z"}, "next_fire_at"),
])
def test_an_invalid_reminder_is_rejected_naming_the_field(app, client, alice, fields, field):
    response = client.post("/v1/reminders", json=reminder_body(**fields), headers=alice.headers)
    assert_problem(response, 422, field)
    assert count(app, ReminderSchedule) == 0


@pytest.mark.parametrize("missing", ["kind", "times"])
def test_a_reminder_without_a_required_field_is_rejected(client, alice, missing):
    body = reminder_body()
    del body[missing]
    assert_problem(client.post("/v1/reminders", json=body, headers=alice.headers), 422, missing)


@pytest.mark.parametrize("changes, field", [
    ({"times": ["7:30"]}, "times.0"),
    ({"times": []}, "times"),
    ({"days": ["someday"]}, "days.0"),
    ({"timezone": "Nowhere/Land"}, "timezone"),
    ({"follow_up_minutes": 0}, "follow_up_minutes"),
    ({"label": "x" * 81}, "label"),
    # The kind of a reminder is fixed at creation (its id too, as for every client record).
    ({"kind": "dose"}, "kind"),
])
def test_an_invalid_change_is_rejected_naming_the_field_and_changes_nothing(client, alice, create_reminder,
                                                                              changes, field):
    created = create_reminder(alice)
    response = client.patch(f"/v1/reminders/{created['id']}", json=changes, headers=alice.headers)
    assert_problem(response, 422, field)
    assert client.get(f"/v1/reminders/{created['id']}", headers=alice.headers).json == created


@pytest.mark.parametrize("kind", ["dose", "custom"])
def test_only_checkin_reminders_can_get_a_follow_up_by_patch(client, alice, create_reminder, kind):
    created = create_reminder(alice, kind=kind)
    response = client.patch(f"/v1/reminders/{created['id']}", json={"follow_up_minutes": 30}, headers=alice.headers)
    assert_problem(response, 422, "follow_up_minutes")
    assert client.get(f"/v1/reminders/{created['id']}", headers=alice.headers).json["follow_up_minutes"] is None


def test_a_checkin_reminder_can_get_a_follow_up_by_patch(client, alice, create_reminder):
    created = create_reminder(alice)
    response = client.patch(f"/v1/reminders/{created['id']}", json={"follow_up_minutes": 45}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json["follow_up_minutes"] == 45


# Change

def test_changing_the_times_moves_the_next_fire(client, alice, create_reminder):
    created = create_reminder(alice, times=["09:30"], timezone="Europe/Berlin")
    response = client.patch(f"/v1/reminders/{created['id']}", json={"times": ["10:00", "07:00", "10:00"]},
                            headers=alice.headers)
    assert response.status_code == 200
    assert response.json["times"] == ["07:00", "10:00"]
    assert response.json["next_fire_at"] == "2026-11-25T09:00:00Z"
    # What was not sent stays as it was.
    assert response.json["timezone"] == "Europe/Berlin"
    assert response.json["days"] == list(WEEKDAYS)


def test_changing_the_days_moves_the_next_fire(client, alice, create_reminder):
    created = create_reminder(alice, times=["09:30"])
    response = client.patch(f"/v1/reminders/{created['id']}", json={"days": ["sat", "fri"]}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json["days"] == ["fri", "sat"]
    assert response.json["next_fire_at"] == "2026-11-27T09:30:00Z"


def test_changing_the_timezone_moves_the_next_fire(client, alice, create_reminder):
    created = create_reminder(alice, times=["09:30"], timezone="Europe/Berlin")
    assert created["next_fire_at"] == "2026-11-25T08:30:00Z"
    response = client.patch(f"/v1/reminders/{created['id']}", json={"timezone": "America/New_York"},
                            headers=alice.headers)
    assert response.json["next_fire_at"] == "2026-11-25T14:30:00Z"
    # null: back to following the profile (UTC for alice).
    response = client.patch(f"/v1/reminders/{created['id']}", json={"timezone": None}, headers=alice.headers)
    assert response.json["timezone"] is None
    assert response.json["next_fire_at"] == "2026-11-25T09:30:00Z"


def test_switching_a_reminder_off_clears_its_next_fire_and_on_again_plans_from_now(client, alice, create_reminder,
                                                                                   clock):
    created = create_reminder(alice, times=["08:30"])
    off = client.patch(f"/v1/reminders/{created['id']}", json={"active": False}, headers=alice.headers)
    assert off.status_code == 200
    assert (off.json["active"], off.json["next_fire_at"]) == (False, None)
    # Today's 08:30 passes while it is off; switched on again, tomorrow's is next.
    clock.move_to(utc(2026, 11, 25, 9, 0), tick=False)
    on = client.patch(f"/v1/reminders/{created['id']}", json={"active": True}, headers=alice.headers)
    assert (on.json["active"], on.json["next_fire_at"]) == (True, "2026-11-26T08:30:00Z")


def test_a_reminder_switched_off_is_not_pushed(app, client, alice, create_reminder, run_jobs):
    register_device(client, alice)
    created = create_reminder(alice, times=["08:30"])
    client.patch(f"/v1/reminders/{created['id']}", json={"active": False}, headers=alice.headers)
    run_jobs(utc(2026, 11, 25, 8, 30))
    assert occurrences(client, alice) == []
    assert local_pushes(app) == []


def test_switching_a_reminder_off_drops_its_unsent_occurrence_at_once(client, alice, create_reminder, run_jobs):
    register_device(client, alice)
    client.patch("/v1/me", json={"quiet_hours": {"start": "22:00", "end": "07:00"}}, headers=alice.headers)
    created = create_reminder(alice, times=["23:00"])
    run_jobs(utc(2026, 11, 25, 23, 0))
    assert [o["status"] for o in occurrences(client, alice)] == ["pending"]
    client.patch(f"/v1/reminders/{created['id']}", json={"active": False}, headers=alice.headers)
    assert occurrences(client, alice) == []


# Profile time zone

def test_a_new_profile_zone_moves_reminders_that_follow_it_but_not_those_with_their_own(client, alice,
                                                                                          create_reminder):
    following = create_reminder(alice, times=["09:30"])
    own_zone = create_reminder(alice, times=["09:30"], timezone="Europe/Berlin")
    paused = create_reminder(alice, times=["09:30"], active=False)
    assert (following["next_fire_at"], own_zone["next_fire_at"]) == ("2026-11-25T09:30:00Z", "2026-11-25T08:30:00Z")

    response = client.patch("/v1/me", json={"timezone": "America/New_York"}, headers=alice.headers)
    assert response.status_code == 200

    def next_fire(reminder):
        return client.get(f"/v1/reminders/{reminder['id']}", headers=alice.headers).json["next_fire_at"]
    assert next_fire(following) == "2026-11-25T14:30:00Z"
    assert next_fire(own_zone) == "2026-11-25T08:30:00Z"
    assert next_fire(paused) is None


def test_a_new_profile_zone_moves_only_that_persons_reminders(client, alice, bob, create_reminder):
    alices = create_reminder(alice, times=["09:30"])
    bobs = create_reminder(bob, times=["09:30"])
    client.patch("/v1/me", json={"timezone": "Asia/Tokyo"}, headers=alice.headers)
    assert client.get(f"/v1/reminders/{alices['id']}", headers=alice.headers).json["next_fire_at"] == \
        "2026-11-26T00:30:00Z"
    assert client.get(f"/v1/reminders/{bobs['id']}", headers=bob.headers).json["next_fire_at"] == \
        "2026-11-25T09:30:00Z"


# Delete

def test_deleting_a_reminder_drops_its_unsent_occurrences_and_nothing_is_pushed_later(app, client, alice,
                                                                                      create_reminder, run_jobs):
    register_device(client, alice)
    # Quiet hours hold the 23:00 reminder back until 07:00: it stays pending, unsent.
    client.patch("/v1/me", json={"quiet_hours": {"start": "22:00", "end": "07:00"}}, headers=alice.headers)
    created = create_reminder(alice, times=["23:00"])
    run_jobs(utc(2026, 11, 25, 23, 0))
    [pending] = occurrences(client, alice)
    assert (pending["status"], pending["adherence"], pending["send_after"]) == (
        "pending", "upcoming", "2026-11-26T07:00:00Z")

    assert client.delete(f"/v1/reminders/{created['id']}", headers=alice.headers).status_code == 204
    assert occurrences(client, alice) == []
    assert count(app, ReminderOccurrence) == 0
    run_jobs(utc(2026, 11, 26, 7, 0))
    assert local_pushes(app) == []


def test_deleting_a_reminder_keeps_the_occurrences_already_pushed(client, alice, sent_occurrence):
    client.delete(f"/v1/reminders/{sent_occurrence['reminder_id']}", headers=alice.headers)
    assert occurrences(client, alice) == [sent_occurrence]


# Isolation

def test_another_person_cannot_see_or_touch_my_occurrences(client, alice, bob, sent_occurrence):
    url = f"/v1/reminders/occurrences/{sent_occurrence['id']}"
    assert_problem(client.get(url, headers=bob.headers), 404)
    assert_problem(client.post(f"{url}/ack", headers=bob.headers), 404)
    assert_problem(client.post(f"{url}/snooze", json={"minutes": 10}, headers=bob.headers), 404)
    assert_problem(client.post(f"{url}/receipt", json={"event": "opened"}, headers=bob.headers), 404)
    assert occurrences(client, bob) == []
    assert occurrences(client, bob, reminder_id=sent_occurrence["reminder_id"]) == []
    assert client.get(url, headers=alice.headers).json == sent_occurrence


# Occurrences

def test_a_pushed_reminder_shows_as_an_occurrence_awaiting_an_answer(app, client, alice, sent_occurrence):
    [reminder] = client.get("/v1/reminders", headers=alice.headers).json["items"]
    assert sent_occurrence == {
        "id": sent_occurrence["id"], "reminder_id": reminder["id"], "kind": "checkin",
        "local_date": "2026-11-25", "local_time": "09:30", "due_at": "2026-11-25T08:30:00Z",
        "send_after": "2026-11-25T08:30:00Z", "status": "sent", "adherence": "awaiting",
        "sent_at": "2026-11-25T08:30:00Z", "answered_at": None, "answered_by": None, "snooze_count": 0,
        "follow_up_sent_at": None, "delivered_at": None, "opened_at": None, "dismissed_at": None,
    }
    assert reminder["next_fire_at"] == "2026-11-26T08:30:00Z"
    assert len(local_pushes(app)) == 1
    assert client.get(f"/v1/reminders/occurrences/{sent_occurrence['id']}",
                      headers=alice.headers).json == sent_occurrence


def test_occurrences_are_listed_newest_first(client, alice, create_reminder, run_jobs):
    register_device(client, alice)
    create_reminder(alice, times=["08:30", "09:00"])
    run_jobs(utc(2026, 11, 25, 8, 30))
    run_jobs(utc(2026, 11, 25, 9, 0))
    listed = occurrences(client, alice)
    assert [(o["due_at"], o["adherence"]) for o in listed] == [
        ("2026-11-25T09:00:00Z", "awaiting"), ("2026-11-25T08:30:00Z", "awaiting")]


def test_occurrences_can_be_listed_for_one_reminder(client, alice, create_reminder, run_jobs):
    register_device(client, alice)
    walk = create_reminder(alice, times=["08:30"], kind="custom")
    pills = create_reminder(alice, times=["08:30"], kind="dose")
    run_jobs(utc(2026, 11, 25, 8, 30))
    assert len(occurrences(client, alice)) == 2
    [only] = occurrences(client, alice, reminder_id=pills["id"])
    assert (only["reminder_id"], only["kind"]) == (pills["id"], "dose")
    assert [o["reminder_id"] for o in occurrences(client, alice, reminder_id=walk["id"])] == [walk["id"]]
    assert occurrences(client, alice, reminder_id=str(uuid.uuid4())) == []


def test_an_invalid_reminder_filter_is_rejected_naming_the_parameter(client, alice):
    response = client.get("/v1/reminders/occurrences", query_string={"reminder_id": "pills"}, headers=alice.headers)
    assert_problem(response, 422, "reminder_id")


def test_reading_an_unknown_occurrence_is_not_found(client, alice):
    assert_problem(client.get(f"/v1/reminders/occurrences/{uuid.uuid4()}", headers=alice.headers), 404)


def test_acknowledging_an_occurrence_answers_it(app, client, alice, sent_occurrence, clock):
    clock.move_to(utc(2026, 11, 25, 8, 34), tick=False)
    response = client.post(f"/v1/reminders/occurrences/{sent_occurrence['id']}/ack", headers=alice.headers)
    assert response.status_code == 200
    assert response.json == dict(sent_occurrence, status="answered", adherence="answered",
                                 answered_at="2026-11-25T08:34:00Z", answered_by="ack")
    row = stored(app, ReminderOccurrence, sent_occurrence["id"])
    assert (row["status"], row["answered_by"]) == ("answered", "ack")


def test_acknowledging_twice_keeps_the_first_answer(client, alice, sent_occurrence, clock):
    url = f"/v1/reminders/occurrences/{sent_occurrence['id']}/ack"
    clock.move_to(utc(2026, 11, 25, 8, 34), tick=False)
    first = client.post(url, headers=alice.headers)
    clock.move_to(utc(2026, 11, 25, 8, 50), tick=False)
    second = client.post(url, headers=alice.headers)
    assert second.status_code == 200
    assert second.json == first.json


def test_snoozing_puts_the_occurrence_back_and_pushes_it_again_later(app, client, alice, sent_occurrence,
                                                                      clock, run_jobs):
    clock.move_to(utc(2026, 11, 25, 8, 32), tick=False)
    response = client.post(f"/v1/reminders/occurrences/{sent_occurrence['id']}/snooze", json={"minutes": 10},
                           headers=alice.headers)
    assert response.status_code == 200
    assert response.json == dict(sent_occurrence, status="pending", adherence="snoozed", snooze_count=1,
                                 send_after="2026-11-25T08:42:00Z")

    run_jobs(utc(2026, 11, 25, 8, 41))
    assert len(local_pushes(app)) == 1
    run_jobs(utc(2026, 11, 25, 8, 42))
    assert len(local_pushes(app)) == 2
    assert delivery_purposes(app) == ["reminder", "snooze-1"]
    again = client.get(f"/v1/reminders/occurrences/{sent_occurrence['id']}", headers=alice.headers).json
    assert (again["status"], again["adherence"], again["snooze_count"]) == ("sent", "awaiting", 1)
    # It still counts from when it was first pushed.
    assert again["sent_at"] == "2026-11-25T08:30:00Z"


@pytest.mark.parametrize("body", [{"minutes": 0}, {"minutes": 241}, {"minutes": "10"}, {"minutes": 2.5}, {},
                                  {"minutes": 10, "until": "2026-11-25T09:00:00Z"}])
def test_an_invalid_snooze_is_rejected_and_changes_nothing(client, alice, sent_occurrence, body):
    url = f"/v1/reminders/occurrences/{sent_occurrence['id']}"
    response = client.post(f"{url}/snooze", json=body, headers=alice.headers)
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert response.json["errors"]
    assert client.get(url, headers=alice.headers).json == sent_occurrence


@pytest.mark.parametrize("minutes", [0, 241])
def test_a_snooze_out_of_range_names_minutes(client, alice, sent_occurrence, minutes):
    response = client.post(f"/v1/reminders/occurrences/{sent_occurrence['id']}/snooze", json={"minutes": minutes},
                           headers=alice.headers)
    assert_problem(response, 422, "minutes")


def test_an_answered_occurrence_cannot_be_snoozed(client, alice, sent_occurrence):
    url = f"/v1/reminders/occurrences/{sent_occurrence['id']}"
    client.post(f"{url}/ack", headers=alice.headers)
    answered = client.get(url, headers=alice.headers).json
    assert_problem(client.post(f"{url}/snooze", json={"minutes": 10}, headers=alice.headers), 409)
    assert client.get(url, headers=alice.headers).json == answered


def test_an_occurrence_can_be_snoozed_only_so_often(app, client, alice, sent_occurrence, run_jobs):
    url = f"/v1/reminders/occurrences/{sent_occurrence['id']}"
    when = utc(2026, 11, 25, 8, 30)
    for _ in range(MAX_SNOOZES):
        assert client.post(f"{url}/snooze", json={"minutes": 5}, headers=alice.headers).status_code == 200
        when += dt.timedelta(minutes=5)
        run_jobs(when)
    assert_problem(client.post(f"{url}/snooze", json={"minutes": 5}, headers=alice.headers), 409)
    final = client.get(url, headers=alice.headers).json
    assert (final["status"], final["snooze_count"]) == ("sent", MAX_SNOOZES)
    assert delivery_purposes(app) == ["reminder"] + [f"snooze-{n}" for n in range(1, MAX_SNOOZES + 1)]


def test_an_opened_receipt_is_recorded_once(client, alice, sent_occurrence, clock):
    url = f"/v1/reminders/occurrences/{sent_occurrence['id']}/receipt"
    clock.move_to(utc(2026, 11, 25, 8, 40), tick=False)
    first = client.post(url, json={"event": "opened"}, headers=alice.headers)
    assert first.status_code == 200
    assert first.json == dict(sent_occurrence, opened_at="2026-11-25T08:40:00Z")
    clock.move_to(utc(2026, 11, 25, 9, 15), tick=False)
    second = client.post(url, json={"event": "opened"}, headers=alice.headers)
    assert second.status_code == 200
    assert second.json["opened_at"] == "2026-11-25T08:40:00Z"


def test_a_receipt_may_say_when_it_happened_on_the_phone(client, alice, sent_occurrence, clock):
    clock.move_to(utc(2026, 11, 25, 8, 45), tick=False)
    response = client.post(f"/v1/reminders/occurrences/{sent_occurrence['id']}/receipt",
                           json={"event": "delivered", "at": "2026-11-25T09:31:00+01:00"}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json["delivered_at"] == "2026-11-25T08:31:00Z"
    assert response.json["adherence"] == "awaiting"


def test_a_dismissed_reminder_counts_as_ignored(client, alice, sent_occurrence, clock):
    clock.move_to(utc(2026, 11, 25, 8, 33), tick=False)
    response = client.post(f"/v1/reminders/occurrences/{sent_occurrence['id']}/receipt",
                           json={"event": "dismissed"}, headers=alice.headers)
    assert response.status_code == 200
    assert (response.json["dismissed_at"], response.json["adherence"]) == ("2026-11-25T08:33:00Z", "ignored")
    assert response.json["status"] == "sent"


@pytest.mark.parametrize("body, field", [
    ({"event": "read"}, "event"),
    ({}, "event"),
    ({"event": "opened", "at": "2026-11-25T08:40:00"}, "at"),
    ({"event": "opened", "at": "2026-11-28T08:40:00Z"}, "at"),
    ({"event": "opened", "source": "watch"}, "source"),
])
def test_an_invalid_receipt_is_rejected_naming_the_field(client, alice, sent_occurrence, body, field):
    url = f"/v1/reminders/occurrences/{sent_occurrence['id']}"
    assert_problem(client.post(f"{url}/receipt", json=body, headers=alice.headers), 422, field)
    assert client.get(url, headers=alice.headers).json == sent_occurrence


def test_an_unanswered_pushed_reminder_counts_as_ignored_after_twelve_hours(client, alice, sent_occurrence, clock):
    url = f"/v1/reminders/occurrences/{sent_occurrence['id']}"
    clock.move_to(utc(2026, 11, 25, 20, 29, 59), tick=False)
    assert client.get(url, headers=alice.headers).json["adherence"] == "awaiting"
    clock.move_to(utc(2026, 11, 25, 20, 30), tick=False)
    assert client.get(url, headers=alice.headers).json["adherence"] == "ignored"
    assert occurrences(client, alice)[0]["adherence"] == "ignored"


# Commands

def test_jobs_once_runs_every_job_and_prints_what_each_handled(app, client, alice, create_reminder, clock):
    register_device(client, alice)
    create_reminder(alice, times=["08:30"])
    clock.move_to(utc(2026, 11, 25, 8, 30), tick=False)
    result = app.test_cli_runner().invoke(args=["jobs", "--once"])
    assert result.exit_code == 0, result.output
    printed = dict(line.split(": ") for line in result.output.splitlines())
    assert set(printed) == {"send-reminders", "retry-pushes", "follow-up-checkins", "monitor", "missed-checkins",
                            "prune-devices", "prune-old-rows"}
    assert all(value.isdigit() for value in printed.values()), result.output
    assert int(printed["send-reminders"]) > 0
    assert (printed["follow-up-checkins"], printed["prune-devices"]) == ("0", "0")
    assert len(local_pushes(app)) == 1
    # Run again, nothing is left to do.
    again = app.test_cli_runner().invoke(args=["jobs", "--once"])
    assert again.output == ("send-reminders: 0\nfollow-up-checkins: 0\nmonitor: 0\nretry-pushes: 0\n"
                            "missed-checkins: 0\nprune-devices: 0\nprune-old-rows: 0\n")
    assert len(local_pushes(app)) == 1


def test_pushes_says_so_when_nothing_was_pushed(app):
    result = app.test_cli_runner().invoke(args=["pushes"])
    assert result.exit_code == 0
    assert result.output == "No pushes recorded yet.\n"


def test_pushes_lists_the_recorded_pushes_with_a_discreet_text(app, client, alice, create_reminder, run_jobs):
    register_device(client, alice, token="fcm-token-ending-ABCD1234")
    create_reminder(alice, times=["08:30"], label="Oxycodone 5 mg")
    run_jobs(utc(2026, 11, 25, 8, 30))
    result = app.test_cli_runner().invoke(args=["pushes"])
    assert result.exit_code == 0
    [line] = result.output.splitlines()
    assert line.startswith("2026-11-25 08:30:00Z  …ABCD1234  Careloop: Time for your check-in  ")
    assert "Oxycodone" not in line


def test_pushes_json_prints_one_object_per_line(app, client, alice, create_reminder, run_jobs):
    register_device(client, alice)
    created = create_reminder(alice, times=["08:30", "09:00"])
    run_jobs(utc(2026, 11, 25, 8, 30))
    run_jobs(utc(2026, 11, 25, 9, 0))
    result = app.test_cli_runner().invoke(args=["pushes", "--json"])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.output.splitlines()]
    newest = occurrences(client, alice)[0]
    assert [line["at"] for line in lines] == ["2026-11-25T09:00:00+00:00", "2026-11-25T08:30:00+00:00"]
    assert lines[0] == {
        "at": "2026-11-25T09:00:00+00:00", "token": "fcm-token-alice-phone", "title": "Careloop",
        "body": "Time for your check-in",
        "data": {"type": "reminder", "occurrence_id": newest["id"], "kind": "checkin", "stage": "reminder"},
        "collapse_key": f"reminder-{created['id']}", "ttl_seconds": 3600,
    }


@pytest.mark.parametrize("kind, body", [
    ("checkin", "Time for your check-in: Evening meds"),
    ("dose", "Time for your reminder: Evening meds"),
    ("custom", "Time for your reminder: Evening meds"),
])
def test_detailed_texts_append_the_reminder_label(app, client, alice, create_reminder, run_jobs, kind, body):
    client.patch("/v1/me", json={"notification_privacy": "detailed"}, headers=alice.headers)
    register_device(client, alice)
    create_reminder(alice, kind=kind, times=["08:30"], label="Evening meds")
    run_jobs(utc(2026, 11, 25, 8, 30))
    [push] = local_pushes(app)
    assert (push["title"], push["body"]) == ("Careloop", body)
    result = app.test_cli_runner().invoke(args=["pushes", "--json"])
    assert json.loads(result.output)["body"] == body


@pytest.mark.parametrize("kind", ["checkin", "dose", "custom"])
def test_discreet_texts_never_carry_the_label(app, client, alice, create_reminder, run_jobs, kind):
    client.patch("/v1/me", json={"notification_privacy": "discreet"}, headers=alice.headers)
    register_device(client, alice)
    create_reminder(alice, kind=kind, times=["08:30"], label="Methadone 40 mg")
    run_jobs(utc(2026, 11, 25, 8, 30))
    [push] = local_pushes(app)
    assert "Methadone" not in json.dumps(push)
    for command in (["pushes"], ["pushes", "--json"]):
        output = app.test_cli_runner().invoke(args=command).output
        assert output.strip()
        assert "Methadone" not in output


def test_changing_only_the_label_of_a_due_reminder_does_not_skip_it(app, client, alice, create_reminder, clock,
                                                                     run_jobs):
    register_device(client, alice)
    created = create_reminder(alice, times=["08:30"])
    # 08:30 has come, and the jobs have not run yet (they run every few seconds, or were down).
    clock.move_to(utc(2026, 11, 25, 8, 30, 5), tick=False)
    response = client.patch(f"/v1/reminders/{created['id']}", json={"label": "Walk first"}, headers=alice.headers)
    assert response.status_code == 200
    run_jobs()
    assert [o["due_at"] for o in occurrences(client, alice)] == ["2026-11-25T08:30:00Z"]
    assert len(local_pushes(app)) == 1


def test_jobs_check_says_whether_a_job_ran_in_the_last_minute(app, tmp_path, monkeypatch):
    """The compose health check of the jobs process (`careloop jobs --check`)."""
    import os
    import time

    import jobs

    heartbeat = tmp_path / "heartbeat"
    monkeypatch.setitem(app.config, "CARELOOP_JOBS_HEARTBEAT", str(heartbeat))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["jobs", "--check"]).exit_code == 1  # never ran
    [prune] = [job for job in jobs.JOBS if job.name == "prune-devices"]
    jobs.JobRunner(app, prune)()
    assert runner.invoke(args=["jobs", "--check"]).exit_code == 0
    stale = time.time() - jobs.HEARTBEAT_STALE_SECONDS - 5
    os.utime(heartbeat, (stale, stale))
    assert runner.invoke(args=["jobs", "--check"]).exit_code == 1
