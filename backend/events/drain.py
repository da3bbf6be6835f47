"""Draining the outbox: claim the pending events of some users, run their handlers in order.

Users, not single events, are claimed (FOR UPDATE SKIP LOCKED on their rows), so one person's
events are handled in the order they were written, by one process at a time, while other
processes take other people. A failing handler is logged and its event retried with backoff;
it does not stop the other events. Handlers are idempotent, so a crash simply replays.
"""

import datetime as dt
import logging

import sqlalchemy as sa

from backend import events
from backend.accounts.models import User
from backend.database import delete_older
from backend.errors import where
from backend.events.models import Event
from backend.extensions import db
from backend.registry import registry

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def _due(now):
    return sa.and_(Event.processed_at.is_(None),
                   sa.or_(Event.next_attempt_at.is_(None), Event.next_attempt_at <= now))


def drain_events(now, batch_size=50):
    """Handle the pending events of up to `batch_size` users; returns how many events it handled."""
    # FOR NO KEY UPDATE (key_share): it excludes other drains, but not the person's own new rows,
    # whose foreign keys lock the user row FOR KEY SHARE; FOR UPDATE would stall their writes.
    user_ids = db.session.scalars(
        sa.select(User.id).where(User.id.in_(sa.select(Event.user_id).where(_due(now))))
        .limit(batch_size).with_for_update(skip_locked=True, key_share=True)).all()
    if not user_ids:
        return 0
    rows = db.session.scalars(sa.select(Event).where(Event.user_id.in_(user_ids), _due(now))
                              .order_by(Event.id)).all()
    for row in rows:
        handle(row, now)
    db.session.flush()
    return len(rows)


def handle(row, now):
    event = events.load(row)
    failed = False
    for handler in registry().event_handlers.get(type(event), ()):
        try:
            with db.session.begin_nested():
                handler(event, now)
        except Exception as error:  # one failing handler must not block the others
            if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
                # The connection is gone, not the handler wrong: the job rolls the batch back and
                # backs off as from any outage; the events are handled once the database is back.
                raise
            failed = True
            log.error("event %s #%s: handler %s failed with %s\n%s", row.name, row.id, handler.__name__,
                      type(error).__name__, where(error))
            row.last_error = f"{handler.__name__}: {type(error).__name__}"[:255]
    row.attempts += 1
    if not failed:
        row.processed_at = now
    elif row.attempts >= MAX_ATTEMPTS:
        log.error("event %s #%s given up after %s attempts", row.name, row.id, row.attempts)
        row.processed_at = now
    else:
        row.next_attempt_at = now + dt.timedelta(seconds=30 * 2 ** (row.attempts - 1))


def prune_processed(now, keep, batch_size=5000):
    """Forget handled events after `keep`: handlers are idempotent and a failed event is retried
    within hours, so nothing replays older ones. Returns how many went."""
    return delete_older(Event, Event.processed_at, now - keep, batch_size, Event.processed_at.is_not(None))


def backlog(now):
    """The outbox's pending events and how long the oldest has waited (metrics gauges)."""
    pending = Event.processed_at.is_(None)
    count, oldest = db.session.execute(sa.select(sa.func.count(), sa.func.min(Event.created_at)).where(pending)).one()
    return [("careloop_outbox_pending", "Outbox events not yet handled", count),
            ("careloop_outbox_oldest_pending_seconds", "Age of the oldest unhandled outbox event",
             (now - oldest).total_seconds() if oldest else 0)]
