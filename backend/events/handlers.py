"""The handler registry: which handlers run for which event (one explicit dict)."""

from backend import events
from backend.monitoring import handlers as monitoring
from backend.reminders import handlers as reminders

HANDLERS = {
    events.CheckInRecorded: [reminders.on_checkin_recorded, monitoring.on_checkin],
    events.CheckInChanged: [monitoring.on_checkin],
    events.DoseLogged: [monitoring.on_dose],
    events.DoseChanged: [monitoring.on_dose],
    events.ReminderMissed: [monitoring.on_reminder_missed],
    events.ShareAccepted: [],
    events.ShareRevoked: [],
}
