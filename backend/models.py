"""Every feature's models, imported together so the metadata (and Alembic) sees all tables."""

from backend.accounts.models import User  # noqa: F401
from backend.checkins.models import CheckIn  # noqa: F401
from backend.doses.models import Dose  # noqa: F401
from backend.push.models import Device, LocalPush, PushDelivery  # noqa: F401
from backend.reminders.models import ReminderOccurrence, ReminderSchedule  # noqa: F401
from backend.sharing.models import AccessLogEntry, ReportLink, Share, ShareInvite  # noqa: F401
from backend.events.models import Event  # noqa: F401
from backend.monitoring.models import Plan, Prompt  # noqa: F401
