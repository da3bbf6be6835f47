"""Push texts for reminders: discreet by default, never a substance or symptom on a lock screen."""

from backend.push.base import PushMessage

DISCREET = {
    ("checkin", "reminder"): ("Careloop", "Time for your check-in"),
    ("checkin", "follow_up"): ("Careloop", "Your check-in is still open"),
    ("dose", "reminder"): ("Careloop", "Time for your reminder"),
    ("custom", "reminder"): ("Careloop", "Time for your reminder"),
}


def reminder_message(occurrence, purpose, user, token):
    """The message for one device; detailed texts (the private label) only if the user opted in."""
    stage = "follow_up" if purpose == "follow_up" else "reminder"
    title, body = DISCREET[(occurrence.kind, stage)] if (occurrence.kind, stage) in DISCREET else DISCREET[
        ("custom", "reminder")]
    label = occurrence.schedule.label
    if user.notification_privacy == "detailed" and label:
        body = f"{body}: {label}"
    return PushMessage(
        token=token, title=title, body=body,
        data={"type": "reminder", "occurrence_id": str(occurrence.id), "kind": occurrence.kind, "stage": stage},
        # A newer push of the same reminder replaces an older one still waiting on the phone.
        collapse_key=f"reminder-{occurrence.schedule_id}",
    )
