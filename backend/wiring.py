"""How the features fit together: the one place that fills the lower features' registries.

It sits at the top of the import order, beside `create_app`, which installs it: events learn who
handles them, push learns who builds the messages of each purpose, accounts learn who follows a
person's time zone. Each is an explicit table, read top to bottom.
"""

from backend import events
from backend.events import drain
from backend.push import pipeline
from backend.reminders import dispatch
from backend.monitoring import handlers as monitoring
from backend.monitoring.delivery import PromptPushes
from backend.push.models import Purpose
from backend.registry import Registry
from backend.reminders import handlers as reminders
from backend.reminders.messages import ReminderPushes
from backend.reminders.services import follow_profile_timezone
from backend.sharing.services import log_device_moved

EVENT_HANDLERS = {
    events.CheckInRecorded: [reminders.on_checkin_recorded, monitoring.on_checkin],
    events.CheckInChanged: [monitoring.on_checkin],
    events.DoseLogged: [monitoring.on_dose],
    events.DoseChanged: [monitoring.on_dose],
    events.ReminderMissed: [monitoring.on_reminder_missed],
}

_reminder_pushes, _prompt_pushes = ReminderPushes(), PromptPushes()
PUSH_BUILDERS = {
    Purpose.REMINDER: _reminder_pushes,
    Purpose.FOLLOW_UP: _reminder_pushes,
    Purpose.PROMPT: _prompt_pushes,
    Purpose.ALERT: _prompt_pushes,
}

REGISTRY = Registry(
    event_handlers=EVENT_HANDLERS,
    push_builders=PUSH_BUILDERS,
    zone_followers=(follow_profile_timezone,),
    device_move_watchers=(log_device_moved,),
    backlog_gauges=(drain.backlog, dispatch.backlog, pipeline.backlog),
)
