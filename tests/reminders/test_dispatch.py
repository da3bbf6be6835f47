"""The reminder engine end to end: occurrences, pushes, quiet hours, travel, follow-ups, retries."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

import jobs
from backend.extensions import db
from backend.push.base import INVALID_TOKEN, REJECTED, THROTTLED, UNAVAILABLE, UNREGISTERED, PushResult
from backend.push.models import Device, LocalPush, PushDelivery, Status
from backend.reminders.models import ReminderOccurrence
from tests.fakes.transports import ScriptedTransport
from tests.support import utc


@pytest.fixture
def run_jobs(app, time_machine):
    """Freeze time at `when` and run the reminder jobs there, letting any error surface."""
    def run(when):
        time_machine.move_to(when, tick=False)
        with app.app_context():
            jobs.monitor()  # drains the outbox: check-ins answer their reminders there
            jobs.send_reminders()
            jobs.follow_up_checkins()
            jobs.retry_pushes()
    return run


@pytest.fixture
def pushes(app):
    """What the local transport sent: (instant, token, body, data) in order."""
    def read():
        with app.app_context():
            rows = db.session.scalars(sa.select(LocalPush).order_by(LocalPush.id)).all()
            return [(p.created_at, p.token, p.body, p.data) for p in rows]
    return read


@pytest.fixture
def patient(make_person, client, time_machine):
    """Someone with a phone registered, in a given zone."""
    def make(timezone="America/New_York", *, token="phone-1", at=utc(2026, 11, 20, 12)):
        time_machine.move_to(at, tick=False)
        person = make_person(timezone=timezone)
        response = client.post("/v1/devices", json={"token": token, "platform": "android"}, headers=person.headers)
        assert response.status_code == 201
        return person
    return make


@pytest.fixture
def remind(client):
    def create(person, times, **fields):
        body = {"id": str(uuid.uuid4()), "kind": "checkin", "times": times, **fields}
        response = client.post("/v1/reminders", json=body, headers=person.headers)
        assert response.status_code == 201, response.json
        return response.json
    return create


def every(start, end, step):
    while start <= end:
        yield start
        start += step


def occurrences(app):
    with app.app_context():
        return db.session.scalars(sa.select(ReminderOccurrence).order_by(ReminderOccurrence.due_at)).all()


def test_reminder_is_pushed_at_its_local_time_with_a_discreet_text(patient, remind, run_jobs, pushes):
    person = patient("Europe/Berlin")
    remind(person, ["09:30"], label="Kratom and pain check")
    run_jobs(utc(2026, 11, 21, 8, 29))
    assert pushes() == []
    run_jobs(utc(2026, 11, 21, 8, 30, 4))
    [(at, token, body, data)] = pushes()
    assert (at, token, body) == (utc(2026, 11, 21, 8, 30, 4), "phone-1", "Time for your check-in")
    assert data["type"] == "reminder" and "Kratom" not in str(data)


def test_running_the_jobs_again_never_pushes_twice(patient, remind, run_jobs, pushes):
    person = patient("UTC")
    remind(person, ["10:00"])
    for second in range(0, 50, 10):
        run_jobs(utc(2026, 11, 21, 10, 0, second))
    assert len(pushes()) == 1


@pytest.mark.parametrize("tz, local, start, end, expected_utc", [
    # Every 10 minutes of two days around each change; the 09:00 reminder fires once a day.
    ("America/New_York", "09:00", utc(2026, 3, 7, 12), utc(2026, 3, 9, 16),
     [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), utc(2026, 3, 9, 13)]),
    ("Europe/London", "09:00", utc(2026, 10, 24, 7), utc(2026, 10, 26, 10),
     [utc(2026, 10, 24, 8), utc(2026, 10, 25, 9), utc(2026, 10, 26, 9)]),
])
def test_daily_reminder_keeps_local_time_across_dst(patient, remind, run_jobs, pushes, tz, local, start,
                                                    end, expected_utc):
    person = patient(tz, at=start - dt.timedelta(hours=1))
    remind(person, [local])
    for when in every(start, end, dt.timedelta(minutes=10)):
        run_jobs(when)
    assert [at for at, *_ in pushes()] == expected_utc


@pytest.mark.parametrize("tz, local, start, end, expected", [
    # 01:30 happens twice in New York on 1 November: one push, at the first.
    ("America/New_York", "01:30", utc(2026, 11, 1, 4), utc(2026, 11, 1, 8), [utc(2026, 11, 1, 5, 30)]),
    ("Europe/London", "01:30", utc(2026, 10, 24, 23), utc(2026, 10, 25, 3), [utc(2026, 10, 25, 0, 30)]),
    ("Australia/Lord_Howe", "01:45", utc(2026, 4, 4, 14), utc(2026, 4, 4, 16), [utc(2026, 4, 4, 14, 45)]),
])
def test_fall_back_day_fires_once(patient, remind, run_jobs, pushes, app, tz, local, start, end, expected):
    person = patient(tz, at=start - dt.timedelta(hours=2))
    remind(person, [local])
    for when in every(start, end, dt.timedelta(minutes=5)):
        run_jobs(when)
    assert [at for at, *_ in pushes()] == expected
    assert len(occurrences(app)) == 1


@pytest.mark.parametrize("tz, local, start, end, expected", [
    ("America/New_York", "02:30", utc(2026, 3, 8, 6), utc(2026, 3, 8, 9), [utc(2026, 3, 8, 7, 30)]),
    ("Australia/Lord_Howe", "02:15", utc(2026, 10, 3, 15), utc(2026, 10, 3, 17), [utc(2026, 10, 3, 15, 45)]),
])
def test_spring_forward_missing_time_fires_once_shifted(patient, remind, run_jobs, pushes, tz, local, start,
                                                        end, expected):
    person = patient(tz, at=start - dt.timedelta(hours=2))
    remind(person, [local])
    for when in every(start, end, dt.timedelta(minutes=5)):
        run_jobs(when)
    assert [at for at, *_ in pushes()] == expected


def test_travel_from_utc_minus_8_to_utc_plus_9_moves_future_reminders(patient, remind, run_jobs, pushes, client,
                                                                       time_machine, app):
    person = patient("America/Los_Angeles", at=utc(2026, 11, 20, 12))
    reminder = remind(person, ["09:00"])
    run_jobs(utc(2026, 11, 20, 17, 0, 5))                         # 09:00 in Los Angeles on the 20th
    time_machine.move_to(utc(2026, 11, 20, 20), tick=False)        # lands in Tokyo: 05:00 on the 21st
    response = client.patch("/v1/me", json={"timezone": "Asia/Tokyo"}, headers=person.headers)
    assert response.status_code == 200
    moved = client.get(f"/v1/reminders/{reminder['id']}", headers=person.headers).json
    assert moved["next_fire_at"] == "2026-11-21T00:00:00Z"         # 09:00 in Tokyo on the 21st
    for when in every(utc(2026, 11, 20, 20), utc(2026, 11, 22, 1), dt.timedelta(minutes=15)):
        run_jobs(when)
    assert [at for at, *_ in pushes()] == [utc(2026, 11, 20, 17, 0, 5), utc(2026, 11, 21), utc(2026, 11, 22)]
    keys = [(o.local_date.isoformat(), o.local_time) for o in occurrences(app)]
    assert keys == [("2026-11-20", "09:00"), ("2026-11-21", "09:00"), ("2026-11-22", "09:00")]


def test_flying_west_does_not_repeat_a_local_day(patient, remind, run_jobs, pushes, client, time_machine):
    person = patient("Asia/Tokyo", at=utc(2026, 11, 20, 12))
    remind(person, ["09:00"])
    run_jobs(utc(2026, 11, 21, 0, 0, 5))                           # 09:00 on the 21st in Tokyo
    time_machine.move_to(utc(2026, 11, 21, 2), tick=False)          # lands in Los Angeles: 18:00 on the 20th
    client.patch("/v1/me", json={"timezone": "America/Los_Angeles"}, headers=person.headers)
    for when in every(utc(2026, 11, 21, 2), utc(2026, 11, 22, 18), dt.timedelta(minutes=15)):
        run_jobs(when)
    # 09:00 on the 21st in Los Angeles is the same local date and time: it does not fire again.
    assert [at for at, *_ in pushes()] == [utc(2026, 11, 21, 0, 0, 5), utc(2026, 11, 22, 17)]


def test_quiet_hours_hold_a_reminder_back_until_they_end(patient, remind, run_jobs, pushes, client):
    person = patient("Europe/Paris")
    client.patch("/v1/me", json={"quiet_hours": {"start": "22:00", "end": "07:30"}}, headers=person.headers)
    remind(person, ["23:00"])
    for when in every(utc(2026, 11, 20, 21, 55), utc(2026, 11, 21, 6, 40), dt.timedelta(minutes=5)):
        run_jobs(when)
    assert [at for at, *_ in pushes()] == [utc(2026, 11, 21, 6, 30)]  # 07:30 in Paris


def test_a_checkin_done_just_before_answers_the_reminder_and_nothing_is_pushed(patient, remind, run_jobs, pushes,
                                                                               create_checkin, app, time_machine):
    person = patient("UTC")
    remind(person, ["20:00"], follow_up_minutes=30)
    time_machine.move_to(utc(2026, 11, 21, 19, 45), tick=False)
    create_checkin(person, recorded_at="2026-11-21T19:44:00Z")
    for when in every(utc(2026, 11, 21, 19, 50), utc(2026, 11, 21, 21), dt.timedelta(minutes=5)):
        run_jobs(when)
    assert pushes() == []
    [occurrence] = occurrences(app)
    assert (occurrence.status, occurrence.answered_by) == ("answered", "checkin")


def test_no_checkin_gets_one_follow_up_then_missed_and_a_late_checkin_still_answers(
        patient, remind, run_jobs, pushes, create_checkin, app, client, time_machine):
    person = patient("UTC")
    remind(person, ["20:00"], follow_up_minutes=30)
    for when in every(utc(2026, 11, 21, 19, 55), utc(2026, 11, 21, 22), dt.timedelta(minutes=5)):
        run_jobs(when)
    assert [(at, body) for at, _, body, _ in pushes()] == [
        (utc(2026, 11, 21, 20), "Time for your check-in"),
        (utc(2026, 11, 21, 20, 30), "Your check-in is still open"),
    ]
    [occurrence] = occurrences(app)
    assert occurrence.status == "missed"
    create_checkin(person, recorded_at="2026-11-21T21:58:00Z")
    run_jobs(utc(2026, 11, 21, 22, 0, 2))  # the check-in's event is handled by the next monitor pass
    listed = client.get("/v1/reminders/occurrences", headers=person.headers).json["items"]
    assert [(o["status"], o["adherence"], o["answered_by"]) for o in listed] == [("answered", "answered", "checkin")]


def test_every_active_device_gets_the_push_and_inactive_ones_do_not(patient, remind, run_jobs, pushes, client,
                                                                   app):
    person = patient("UTC", token="phone-1")
    client.post("/v1/devices", json={"token": "tablet-2", "platform": "ios"}, headers=person.headers)
    with app.app_context():
        db.session.execute(sa.update(Device).where(Device.token == "tablet-2").values(active=False))
        db.session.commit()
    client.post("/v1/devices", json={"token": "watch-3", "platform": "web"}, headers=person.headers)
    remind(person, ["08:00"])
    run_jobs(utc(2026, 11, 21, 8))
    assert sorted(token for _, token, _, _ in pushes()) == ["phone-1", "watch-3"]


def test_server_down_for_hours_does_not_send_stale_reminders(patient, remind, run_jobs, pushes, app):
    person = patient("UTC")
    remind(person, ["08:00", "11:30"])
    run_jobs(utc(2026, 11, 21, 12))  # first run since 07:00: 08:00 is 4 hours late, 11:30 is fine
    assert [at for at, *_ in pushes()] == [utc(2026, 11, 21, 12)]
    assert [o.local_time for o in occurrences(app)] == ["11:30"]


def test_switching_a_reminder_off_drops_its_pending_occurrence(patient, remind, run_jobs, pushes, client, app,
                                                              time_machine):
    person = patient("UTC")
    client.patch("/v1/me", json={"quiet_hours": {"start": "07:00", "end": "09:00"}}, headers=person.headers)
    reminder = remind(person, ["08:00"])
    run_jobs(utc(2026, 11, 21, 8))  # created, held back by quiet hours
    assert [o.status for o in occurrences(app)] == ["pending"]
    client.patch(f"/v1/reminders/{reminder['id']}", json={"active": False}, headers=person.headers)
    run_jobs(utc(2026, 11, 21, 9, 5))
    assert pushes() == [] and occurrences(app) == []


def test_devices_unseen_for_270_days_are_pruned(patient, app, time_machine):
    patient("UTC", token="old-phone", at=utc(2026, 1, 1))
    patient("UTC", token="new-phone", at=utc(2026, 6, 1))
    time_machine.move_to(utc(2026, 9, 29), tick=False)  # 271 days after 1 January
    with app.app_context():
        assert jobs.prune_devices() == 1
        assert db.session.scalars(sa.select(Device.token)).all() == ["new-phone"]


@pytest.fixture
def scripted(use_transport):
    return lambda answers: use_transport(ScriptedTransport(answers))


def deliveries(app):
    with app.app_context():
        rows = db.session.execute(sa.select(PushDelivery, Device.token, Device.active)
                                  .join(Device, Device.id == PushDelivery.device_id)).all()
        return {token: (d.status, d.attempts, d.error, d.next_attempt_at, active) for d, token, active in rows}


def test_delivery_outcomes_deactivate_dead_tokens_and_never_block_the_batch(patient, remind, run_jobs, client,
                                                                           scripted, app):
    person = patient("UTC", token="ok")
    for token in ("gone", "bad", "odd"):
        client.post("/v1/devices", json={"token": token, "platform": "android"}, headers=person.headers)
    transport = scripted({
        "gone": PushResult(ok=False, error=UNREGISTERED, detail="UNREGISTERED"),
        "bad": PushResult(ok=False, error=INVALID_TOKEN, detail="INVALID_ARGUMENT"),
        "odd": PushResult(ok=False, error=REJECTED, detail="PERMISSION_DENIED"),
    })
    remind(person, ["08:00"])
    run_jobs(utc(2026, 11, 21, 8))
    assert sorted(transport.sent) == ["bad", "gone", "odd", "ok"]
    outcome = deliveries(app)
    assert outcome["ok"][:3] == ("sent", 1, None)
    assert outcome["gone"][0] == "failed" and outcome["gone"][4] is False
    assert outcome["bad"][0] == "failed" and outcome["bad"][4] is False
    assert outcome["odd"][0] == "failed" and outcome["odd"][4] is True  # the token may still be fine


def test_throttled_push_waits_for_retry_after_then_is_sent_once(patient, remind, run_jobs, scripted, app):
    person = patient("UTC", token="busy")
    transport = scripted({"busy": PushResult(ok=False, error=THROTTLED, retry_after=600)})
    remind(person, ["08:00"])
    run_jobs(utc(2026, 11, 21, 8))
    status, attempts, error, next_attempt, _ = deliveries(app)["busy"]
    assert (status, attempts, error) == ("retry", 1, "throttled")
    assert next_attempt >= utc(2026, 11, 21, 8, 10)
    run_jobs(utc(2026, 11, 21, 8, 5))
    assert transport.sent == ["busy"]  # not before Retry-After
    transport.answers.clear()
    run_jobs(next_attempt + dt.timedelta(seconds=1))
    run_jobs(next_attempt + dt.timedelta(seconds=30))
    assert transport.sent == ["busy", "busy"]
    assert deliveries(app)["busy"][:2] == ("sent", 2)


class CrashingTransport:
    """A jobs process that dies after handing its batch to FCM and before recording the outcome."""

    def __init__(self):
        self.sent = []

    def send(self, messages):
        self.sent += [m.token for m in messages]
        raise SystemExit("killed mid-batch")


def test_a_resend_after_a_lost_outcome_still_waits_out_the_last_retry_after(patient, remind, run_jobs, scripted,
                                                                            use_transport, app):
    person = patient("UTC", token="busy")
    scripted({"busy": PushResult(ok=False, error=THROTTLED, retry_after=600)})
    remind(person, ["08:00"])
    run_jobs(utc(2026, 11, 21, 8))
    due = deliveries(app)["busy"][3]
    crashing = use_transport(CrashingTransport())
    with pytest.raises(SystemExit):
        run_jobs(due + dt.timedelta(seconds=1))  # sent to FCM, then the process died: no outcome recorded
    assert crashing.sent == ["busy"]
    after_crash = scripted({})
    run_jobs(due + dt.timedelta(seconds=3))
    run_jobs(due + dt.timedelta(minutes=9))
    assert after_crash.sent == []  # the server asked for 600 s between tries, lost outcome or not
    run_jobs(due + dt.timedelta(minutes=10, seconds=2))
    assert after_crash.sent == ["busy"]
    assert deliveries(app)["busy"][:2] == ("sent", 3)


def test_a_push_that_keeps_failing_expires_instead_of_arriving_late(patient, remind, run_jobs, scripted, app):
    person = patient("UTC", token="down")
    transport = scripted({"down": PushResult(ok=False, error=UNAVAILABLE)})
    remind(person, ["08:00"])
    for when in every(utc(2026, 11, 21, 8), utc(2026, 11, 21, 10), dt.timedelta(minutes=1)):
        run_jobs(when)
    status, attempts, *_ = deliveries(app)["down"]
    assert status == "expired"
    assert 2 <= attempts <= len(transport.sent) <= 6
    with app.app_context():
        last = db.session.scalar(sa.select(PushDelivery.updated_at))
    assert last < utc(2026, 11, 21, 9)  # nothing tried after the push's hour of usefulness


def test_reregistering_a_dead_token_reactivates_it(patient, remind, run_jobs, scripted, client, app):
    person = patient("UTC", token="phone")
    scripted({"phone": PushResult(ok=False, error=UNREGISTERED)})
    remind(person, ["08:00"])
    run_jobs(utc(2026, 11, 21, 8))
    assert deliveries(app)["phone"][4] is False
    client.post("/v1/devices", json={"token": "phone", "platform": "android"}, headers=person.headers)
    with app.app_context():
        assert db.session.scalar(sa.select(Device.active).where(Device.token == "phone")) is True


def test_occurrences_are_unique_per_schedule_and_local_time_in_the_database(patient, remind, run_jobs, app):
    person = patient("UTC")
    remind(person, ["08:00"])
    run_jobs(utc(2026, 11, 21, 8))
    with app.app_context():
        [occurrence] = db.session.scalars(sa.select(ReminderOccurrence)).all()
        twin = ReminderOccurrence(schedule_id=occurrence.schedule_id, user_id=occurrence.user_id, kind="checkin",
                                  local_date=occurrence.local_date, local_time=occurrence.local_time,
                                  due_at=occurrence.due_at, send_after=occurrence.due_at)
        db.session.add(twin)
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
        db.session.rollback()
    assert Status.SENT == "sent"
