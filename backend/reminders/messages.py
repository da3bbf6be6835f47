"""Push texts for reminders: discreet by default, never a substance or symptom on a lock screen.

`ReminderPushes` is what reminders register with the push pipeline for their purposes (the first
push of an occurrence, each snooze as a new round, and a check-in's follow-up nudge).
"""

import dataclasses

import sqlalchemy as sa

from backend.accounts.models import User
from backend.extensions import db
from backend.push.base import PushMessage
from backend.push.models import Purpose
from backend.reminders.models import ANSWERED, ReminderOccurrence

DISCREET = {
    ("checkin", "reminder"): ("Careloop", "Time for your check-in"),
    ("checkin", "follow_up"): ("Careloop", "Your check-in is still open"),
    ("dose", "reminder"): ("Careloop", "Time for your reminder"),
    ("custom", "reminder"): ("Careloop", "Time for your reminder"),
}


def reminder_message(occurrence, purpose, user, token):
    """The message for one device; detailed texts (the private label) only if the user opted in."""
    stage = "follow_up" if purpose == Purpose.FOLLOW_UP else "reminder"
    title, body = DISCREET.get((occurrence.kind, stage), DISCREET[("custom", "reminder")])
    label = occurrence.schedule.label
    if user.notification_privacy == "detailed" and label:
        body = f"{body}: {label}"
    return PushMessage(
        token=token, title=title, body=body,
        data={"type": "reminder", "occurrence_id": str(occurrence.id), "kind": occurrence.kind, "stage": stage},
        # A newer push of the same reminder replaces an older one still waiting on the phone.
        collapse_key=f"reminder-{occurrence.schedule_id}",
    )


@dataclasses.dataclass(frozen=True)
class ReminderSubject:
    occurrence: ReminderOccurrence
    user: User


class ReminderPushes:
    """The message builder of reminder pushes (Purpose.REMINDER and Purpose.FOLLOW_UP)."""

    def message(self, subject, delivery, device):
        return reminder_message(subject.occurrence, delivery.purpose, subject.user, device.token)

    def reload(self, deliveries, devices):
        """A reminder answered since its push failed is not pushed again."""
        occurrences = {o.id: o for o in db.session.scalars(sa.select(ReminderOccurrence).where(
            ReminderOccurrence.id.in_({d.subject_id for d in deliveries})))}
        users = {u.id: u for u in db.session.scalars(sa.select(User).where(
            User.id.in_({o.user_id for o in occurrences.values()})))}
        wanted = {}
        for delivery in deliveries:
            occurrence = occurrences.get(delivery.subject_id)
            if occurrence is not None and occurrence.status != ANSWERED:
                wanted[delivery.id] = ReminderSubject(occurrence, users[occurrence.user_id])
        return wanted
