"""The retention job: operational rows go after their documented periods, everything younger (and
every unfinished row) stays, and no setting keeps the access log for less than six years."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

import jobs
from backend.accounts.models import User
from backend.config import ConfigError, RETENTION_DAYS, retention_days
from backend.events.models import Event
from backend.extensions import db
from backend.push.models import Device, LocalPush, PushDelivery, Status
from backend.reminders.models import PENDING, ReminderOccurrence, ReminderSchedule
from backend.sharing.models import AccessLogEntry
from tests.support import NOW, count

DAY = dt.timedelta(days=1)


def aged(name, extra_days):
    """An instant just past (extra_days > 0) or just within (< 0) the retention period of `name`."""
    return NOW - dt.timedelta(days=RETENTION_DAYS[name] + extra_days)


@pytest.fixture
def old_and_young_rows(app, clock):
    with app.app_context():
        user = User(firebase_uid="retention", timezone="UTC")
        db.session.add(user)
        db.session.flush()
        device = Device(user_id=user.id, token="retention-phone", platform="android", last_seen_at=NOW)
        schedule = ReminderSchedule(id=uuid.uuid4(), user_id=user.id, kind="checkin", times=["09:00"],
                                    days=["mon"], active=True)
        db.session.add_all([device, schedule])
        db.session.flush()
        for label, extra in (("old", 1), ("young", -1)):
            db.session.add_all([
                Event(user_id=user.id, name="DoseLogged", payload={"dose_id": str(uuid.uuid4())},
                      created_at=aged("events", extra), processed_at=aged("events", extra)),
                PushDelivery(id=uuid.uuid4(), purpose="reminder", subject_id=uuid.uuid4(), device_id=device.id, about_user_id=user.id,
                             status=Status.SENT, attempts=1, expires_at=NOW,
                             created_at=aged("push_deliveries", extra), updated_at=NOW),
                LocalPush(token="t", title="t", body="b", data={}, ttl_seconds=60,
                          created_at=aged("local_pushes", extra)),
                AccessLogEntry(patient_id=user.id, viewer_label=label, data_kind="summary",
                               at=aged("access_log", extra)),
            ])
            due = aged("reminder_occurrences", extra)
            db.session.add(ReminderOccurrence(id=uuid.uuid4(), schedule_id=schedule.id, user_id=user.id,
                                              kind="checkin", local_date=due.date(), local_time=label,
                                              due_at=due, send_after=due, status=PENDING))
        # Never pruned, however old: an unhandled event and a delivery still being retried.
        db.session.add_all([
            Event(user_id=user.id, name="DoseLogged", payload={"dose_id": str(uuid.uuid4())},
                  created_at=NOW - 400 * DAY),
            PushDelivery(id=uuid.uuid4(), purpose="reminder", subject_id=uuid.uuid4(), device_id=device.id, about_user_id=user.id,
                         status=Status.RETRY, attempts=3, expires_at=NOW, created_at=NOW - 400 * DAY,
                         updated_at=NOW, next_attempt_at=NOW + DAY),
        ])
        db.session.commit()


def test_the_retention_job_forgets_what_is_past_its_period_and_keeps_the_rest(app, old_and_young_rows):
    before = {model: count(app, model) for model in (Event, PushDelivery, LocalPush, AccessLogEntry,
                                                     ReminderOccurrence)}
    [prune] = [job for job in jobs.JOBS if job.name == "prune-old-rows"]
    assert jobs.JobRunner(app, prune)() == 5
    after = {model: count(app, model) for model in before}
    assert {model.__name__: before[model] - after[model] for model in before} == {
        "Event": 1, "PushDelivery": 1, "LocalPush": 1, "AccessLogEntry": 1, "ReminderOccurrence": 1}
    with app.app_context():
        assert db.session.scalars(sa.select(AccessLogEntry.viewer_label)).all() == ["young"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)
                                 .where(Event.processed_at.is_(None))) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PushDelivery)
                                 .where(PushDelivery.status == Status.RETRY)) == 1


def test_periods_are_configurable_but_the_access_log_stays_six_years():
    assert retention_days("events=14, push_deliveries=60")["events"] == 14
    for setting in ("access_log=365", "events=0", "events=soon", "tweets=3"):
        with pytest.raises(ConfigError, match="CARELOOP_RETENTION"):
            retention_days(setting)
