"""Check-in use cases."""

from backend import events, records
from backend.database import owned
from backend.checkins.models import CheckIn


def record_checkin(user, data):
    """Store a check-in under its client id (a retry returns the one already stored). Its event
    lets the jobs answer the reminders it was done for and run the monitoring rules."""
    return records.create_once(CheckIn, user, data,
                               along=[events.outbox_entry(events.CheckInRecorded(user.id, data["id"]))])


def record_checkins(user, rows):
    """Store many new check-ins at once (a phone's offline week, by sync), one CheckInRecorded
    event each. The caller made sure none of the ids exists (see records.create_many)."""
    return records.create_many(CheckIn, user, rows, on_create=lambda ids: events.record_all(
        events.CheckInRecorded(user.id, checkin_id) for checkin_id in ids))


def get_checkin(user, checkin_id):
    return owned(CheckIn, user, checkin_id)


def list_checkins(user, args):
    return records.list_page(CheckIn, user, args)


def correct_checkin(user, checkin_id, changes, expected=None):
    return records.update_owned(CheckIn, user, checkin_id, changes, expected=expected,
                                on_change=lambda c: events.record(events.CheckInChanged(user.id, c.id)))


def delete_checkin(user, checkin_id, expected=None):
    return records.delete_owned(CheckIn, user, checkin_id, expected)
