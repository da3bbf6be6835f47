"""Domain events: frozen dataclasses named in the past tense, recorded in the outbox.

`record()` adds the event to the current transaction, so an event exists exactly when the change
that caused it was committed. The jobs drain the outbox and run the handlers in HANDLERS.
"""

import dataclasses
import functools
import json
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


@dataclasses.dataclass(frozen=True)
class CheckInRecorded:
    user_id: uuid.UUID
    checkin_id: uuid.UUID


@dataclasses.dataclass(frozen=True)
class CheckInChanged:
    user_id: uuid.UUID
    checkin_id: uuid.UUID


@dataclasses.dataclass(frozen=True)
class DoseLogged:
    user_id: uuid.UUID
    dose_id: uuid.UUID


@dataclasses.dataclass(frozen=True)
class DoseChanged:
    user_id: uuid.UUID
    dose_id: uuid.UUID


@dataclasses.dataclass(frozen=True)
class ReminderMissed:
    user_id: uuid.UUID
    occurrence_id: uuid.UUID


EVENT_TYPES = {cls.__name__: cls for cls in (
    CheckInRecorded, CheckInChanged, DoseLogged, DoseChanged, ReminderMissed)}


def record(event):
    """Append `event` to the outbox in the caller's transaction (flushed with the change)."""
    from backend.events.models import Event
    from backend.extensions import db

    db.session.add(Event(**_row(event)))


def outbox_entry(event):
    """`event` as a (table, row) pair, for a statement that writes it with the change it follows
    (records.create_once's `along`: one round trip for a new record and its event)."""
    from backend.events.models import Event

    return Event.__table__, _row(event)


def _row(event):
    # Not dataclasses.asdict: it deep-copies every field, a third of a 5,000-record sync push.
    payload = {field.name: str(getattr(event, field.name)) for field in dataclasses.fields(event)
               if field.name != "user_id"}
    return {"user_id": event.user_id, "name": type(event).__name__, "payload": payload}


def load(row):
    """The dataclass for an outbox row."""
    cls = EVENT_TYPES[row.name]
    fields = {f.name: uuid.UUID(row.payload[f.name]) for f in dataclasses.fields(cls) if f.name != "user_id"}
    return cls(user_id=row.user_id, **fields)


def record_all(events_):
    """Append many events to the outbox in one statement (a sync push of a thousand check-ins)."""
    from backend.database import dialect
    from backend.events.models import Event
    from backend.extensions import db

    rows = [_row(event) for event in events_]
    if not rows:
        return
    if dialect() != "postgresql":
        db.session.execute(sa.insert(Event.__table__), rows)  # Core: the ORM's bulk insert costs twice the Python
        return
    # One JSON document, not an executemany: the driver's work per pipelined row cost a 5,000-record
    # sync push more than its records' own insert (python -m bench sync).
    listed = [(str(row["user_id"]), row["name"], row["payload"]) for row in rows]
    db.session.execute(_insert_listed(), {"events": json.dumps(listed)})


@functools.cache
def _insert_listed():
    """INSERT … SELECT of the events listed in a JSON array (`events`) of `[user id, name, payload]`,
    in their order (the outbox's sequence keeps it), the other columns at their defaults. Built
    once: statements are reused with new parameters."""
    from backend.events.models import Event

    table = Event.__table__
    listed = sa.func.json_array_elements(sa.cast(sa.bindparam("events", type_=sa.Text), postgresql.JSON)) \
        .table_valued(sa.column("event", postgresql.JSON), with_ordinality="position").render_derived()
    event = listed.c.event
    return sa.insert(table).from_select(
        ["user_id", "name", "payload"],
        sa.select(event[0].astext.cast(table.c.user_id.type), event[1].astext, event[2]).order_by(listed.c.position))
