"""Event handlers of reminders, run by the jobs (idempotent)."""

from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.extensions import db
from backend.reminders.services import answer_with_checkin


def on_checkin_recorded(event, now):
    """A check-in answers the check-in reminders it was done for (even a late one)."""
    checkin = db.session.get(CheckIn, event.checkin_id)
    if checkin is None or checkin.deleted_at is not None:
        return
    answer_with_checkin(db.session.get(User, event.user_id), checkin.recorded_at, now)
