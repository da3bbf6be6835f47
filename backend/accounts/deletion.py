"""Deleting an account: every row that is the person's, or that points at them, goes.

Each table is emptied of the person's rows by an explicit statement, children before parents, so
the outcome does not hang on the database enforcing its foreign keys. The ON DELETE CASCADE
constraints still back it up on PostgreSQL, should a jobs process insert a push delivery for the
person between these statements and the commit.

One thing stays: where the person read someone else's data through a share, that other patient's
access log keeps the entry, without the reference to the account and with the name it had then
marked "(account deleted)". The log is the patient's record of who saw their data; deleting one's
account must not erase one's own reads from it.
"""

import logging

import sqlalchemy as sa

from backend.accounts.models import Device, User
from backend.checkins.models import CheckIn
from backend.doses.models import Dose
from backend.events.models import Event
from backend.extensions import db
from backend.monitoring.models import Plan, Prompt
from backend.push.models import LocalPush, PushDelivery
from backend.reminders.models import ReminderOccurrence, ReminderSchedule
from backend.sharing.models import AccessLogEntry, ReportLink, Share, ShareInvite

log = logging.getLogger(__name__)

CONFIRMATION = "delete my account and data"
DELETED_MARK = " (account deleted)"


def delete_account(user):
    """Remove the person and everything that is theirs; returns the number of rows per table."""
    uid = user.id
    devices = sa.select(Device.id).where(Device.user_id == uid)
    tokens = db.session.scalars(sa.select(Device.token).where(Device.user_id == uid)).all()
    schedules = db.session.scalars(sa.select(ReminderSchedule.id).where(ReminderSchedule.user_id == uid)).all()
    occurrences = sa.select(ReminderOccurrence.id).where(ReminderOccurrence.user_id == uid)
    prompts = sa.select(Prompt.id).where(Prompt.user_id == uid)
    prompt_ids = db.session.scalars(prompts).all()
    shares = sa.select(Share.id).where(sa.or_(Share.patient_id == uid, Share.viewer_id == uid))

    counts = {}

    def run(statement, table):
        counts[table] = counts.get(table, 0) + db.session.execute(
            statement, execution_options={"synchronize_session": False}).rowcount

    # Someone else's log of reads the person made keeps the entry, not the reference.
    run(sa.update(AccessLogEntry)
        .where(AccessLogEntry.viewer_id == uid, AccessLogEntry.patient_id != uid)
        .values(viewer_id=None,
                viewer_label=sa.func.substr(AccessLogEntry.viewer_label + DELETED_MARK, 1, 120)),
        "access_log (reads of others' data, kept)")
    run(sa.delete(AccessLogEntry).where(AccessLogEntry.patient_id == uid), "access_log")
    # Invites other patients made that the person accepted point at shares about to go.
    run(sa.update(ShareInvite).where(ShareInvite.share_id.in_(shares)).values(share_id=None),
        "share_invites (accepted by them, kept)")
    run(sa.delete(ShareInvite).where(ShareInvite.patient_id == uid), "share_invites")
    run(sa.delete(Share).where(Share.id.in_(shares)), "shares")
    run(sa.delete(ReportLink).where(ReportLink.patient_id == uid), "report_links")
    # Pushes to their phones, and about their reminders and prompts (alerts on caregivers' phones too).
    run(sa.delete(PushDelivery).where(sa.or_(
        PushDelivery.device_id.in_(devices), PushDelivery.occurrence_id.in_(occurrences),
        PushDelivery.prompt_id.in_(prompts))), "push_deliveries")
    # The local (development) transport's record of sent pushes holds tokens and ids as plain values:
    # pushes to the person's phones, of their reminders and prompts, and alerts about them.
    run(sa.delete(LocalPush).where(sa.or_(
        LocalPush.token.in_(tokens),
        LocalPush.collapse_key.in_([f"reminder-{schedule_id}" for schedule_id in schedules] + [f"alert-{uid}"]),
        LocalPush.data["prompt_id"].as_string().in_([str(prompt_id) for prompt_id in prompt_ids]),
    )), "local_pushes")
    run(sa.delete(Prompt).where(Prompt.user_id == uid), "prompts")
    run(sa.delete(Plan).where(Plan.user_id == uid), "plans")
    run(sa.delete(Event).where(Event.user_id == uid), "events")
    run(sa.delete(ReminderOccurrence).where(ReminderOccurrence.user_id == uid), "reminder_occurrences")
    run(sa.delete(ReminderSchedule).where(ReminderSchedule.user_id == uid), "reminder_schedules")
    run(sa.delete(CheckIn).where(CheckIn.user_id == uid), "checkins")
    run(sa.delete(Dose).where(Dose.user_id == uid), "doses")
    run(sa.delete(Device).where(Device.user_id == uid), "devices")
    run(sa.delete(User).where(User.id == uid), "users")
    db.session.expunge_all()  # the session's copies of these rows describe nothing any more
    # Counts only: the log must not keep who the deleted person was.
    log.info("account deleted: %s", ", ".join(f"{table} {n}" for table, n in counts.items() if n))
    return counts
