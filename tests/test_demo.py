"""`careloop run`'s promise: the demo reminder is pushed within a minute, at any hour of the day,
even though the demo patient has quiet hours at night."""

import datetime as dt

import pytest
import sqlalchemy as sa

import jobs
from backend.demo import schedule_demo_reminder, seed_demo_data
from backend.extensions import db
from backend.push.models import LocalPush
from tests.support import local


@pytest.mark.parametrize("hour", [3, 12, 23])
def test_the_demo_reminder_is_pushed_within_a_minute_at_any_hour(app, time_machine, hour):
    started = local("Europe/London", 2026, 11, 25, hour, 0, 20)
    time_machine.move_to(started, tick=False)
    with app.app_context():
        user = seed_demo_data(days=2)
        due = schedule_demo_reminder(user)
        db.session.commit()
    assert dt.timedelta(0) < due - started <= dt.timedelta(minutes=1)
    time_machine.move_to(due + dt.timedelta(seconds=5), tick=False)
    with app.app_context():
        jobs.send_reminders()
        pushed = db.session.scalars(sa.select(LocalPush.title)).all()
    assert len(pushed) == 1
