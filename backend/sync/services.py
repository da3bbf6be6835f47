"""Sync use cases: a pull of everything changed after a change number, and a push applied at once.

The protocol is WatermelonDB's (docs "Sync/Backend"; src/sync/index.d.ts of @nozbe/watermelondb
0.28). A pull's `timestamp` is the person's committed change number (see backend.records), never a
clock. A push lands whole or not at all: it is checked completely before anything is written, and
it runs in the request's one transaction, so an error part-way through rolls everything back.
"""

import dataclasses
import functools
import json
import uuid
from collections.abc import Callable

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from backend.api import Instant
from backend.checkins import services as checkins
from backend.database import dialect
from backend.doses import services as doses
from backend.errors import Conflict, InvalidInput, Problem
from backend.extensions import db
from backend.monitoring import services as monitoring
from backend.records import last_change, next_change
from backend.reminders import services as reminders
from backend.sync.schema import TABLES, from_millis

MAX_PUSH_RECORDS = 10_000
PULL_BATCH = 1_000
MAX_ERRORS = 50
# A cursor past the account's last change: the account was deleted and made anew, or the phone
# synced with another server. Only a fresh local database helps.
AHEAD = "Ahead of every change of this account: reset the phone's database and sync again."
# Keys WatermelonDB adds to every pushed record for its own bookkeeping.
BOOKKEEPING = ("_status", "_changed")


class PushRefused(Problem):
    """Records of a push break the rules: nothing of the push was applied."""

    status, title, slug = 422, "Unprocessable Content", "validation-error"


class PushTooLarge(Problem):
    status, title, slug = 413, "Content Too Large", "too-large"


# --- pull -----------------------------------------------------------------------------------------


def start_pull(user, last_pulled_at, migration=None):
    """Fix the pull's cursor now; returns a generator of the response's JSON text.

    Live records always go under `updated`, as WatermelonDB asks of a server when the app syncs with
    `sendCreatedAsUpdated` (the server does not track which records a phone has): on a first sync
    (no `last_pulled_at`) every live record and no deletions; later, every record stamped after
    `last_pulled_at` (and at most the cursor), tombstones under `deleted`. Tables a migrated phone
    gained (`migration.tables`), or whose columns it gained, come in full. The records are read and
    written out a batch at a time, so a pull of ten years of data never sits in memory at once.
    """
    upto = last_change(user.id)
    since = last_pulled_at or 0
    if since > upto:
        raise InvalidInput("last_pulled_at", AHEAD)
    gained = set(migration["tables"]) | {entry["table"] for entry in migration["columns"]} if migration else set()

    def body():
        yield '{"changes":{'
        for position, table in enumerate(TABLES.values()):
            full = since == 0 or table.name in gained
            yield ("," if position else "") + json.dumps(table.name) + ':{"created":[],"updated":['
            yield from _records(table, user.id, None if full else since, upto)
            yield '],"deleted":['
            if since and table.deletable:
                yield from _deleted(table, user.id, since, upto)
            yield "]}"
        yield '},"timestamp":' + str(upto) + "}"

    return body()


def _records(table, user_id, since, upto):
    model, encode = table.model, _encoder(table)
    # A full pull has no lower bound: rows written before sync existed carry 0.
    query = sa.select(*encode.selected).where(model.user_id == user_id, model.sync_seq <= upto)
    if since is not None:
        query = query.where(model.sync_seq > since)
    if table.deletable:
        query = query.where(model.deleted_at.is_(None))
    result = db.session.execute(query.execution_options(yield_per=PULL_BATCH))
    first = True
    for rows in result.partitions():
        text = json.dumps([encode(row) for row in rows], separators=(",", ":"), ensure_ascii=False)[1:-1]
        yield text if first else "," + text
        first = False


class _Encoder:
    """Turns a row of a table's synced columns into a wire record: plain values as they are, instants
    to epoch milliseconds, lists and objects to JSON text, derived fields computed from the row."""

    def __init__(self, table):
        model, mapped = table.model, table.model.__table__.c
        stored = [c for c in table.columns if c.attribute in mapped]
        self.selected = [model.id] + [mapped[c.attribute] for c in stored]
        self.names = ["id"] + [c.name for c in stored]
        self.converted = [(c.name, c.convert) for c in stored if c.convert is not None]
        # Derived fields (a check-in's PEG score) are the model's properties, read off the row.
        self.derived = [(c.name, getattr(model, c.attribute).fget) for c in table.columns if c.attribute not in mapped]

    def __call__(self, row):
        record = dict(zip(self.names, row))
        record["id"] = str(record["id"])
        for name, convert in self.converted:
            if record[name] is not None:
                record[name] = convert(record[name])
        for name, derive in self.derived:
            record[name] = derive(row)
        return record


_ENCODERS = {}


def _encoder(table):
    if table.name not in _ENCODERS:
        _ENCODERS[table.name] = _Encoder(table)
    return _ENCODERS[table.name]


def _deleted(table, user_id, since, upto):
    model = table.model
    query = sa.select(model.id).where(model.user_id == user_id, model.deleted_at.is_not(None),
                                      model.sync_seq > since, model.sync_seq <= upto)
    first = True
    for ids in db.session.scalars(query.execution_options(yield_per=PULL_BATCH)).partitions():
        text = ",".join(f'"{record_id}"' for record_id in ids)
        yield text if first else "," + text
        first = False


# --- push -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Pushed:
    """One pushed record, read into what its REST schema loads."""

    table: str
    list_name: str
    position: int
    id: uuid.UUID
    raw: dict
    data: dict | None = None


@dataclasses.dataclass(frozen=True)
class Writer:
    """How a table's records are created, corrected and deleted: the features' own use cases, so a
    record that arrives by sync raises the same events as one that arrives through REST."""

    create_many: Callable   # (user, rows)
    update: Callable        # (user, id, changes)
    delete: Callable        # (user, id)
    fixed: tuple = ()       # fields a record keeps for life


def _create_reminders(user, rows):
    for row in rows:
        reminders.create_reminder(user, row)


WRITERS = {
    "checkins": Writer(checkins.record_checkins, checkins.correct_checkin, checkins.delete_checkin),
    "doses": Writer(doses.log_doses, doses.correct_dose, doses.delete_dose),
    "reminders": Writer(_create_reminders, reminders.update_reminder, reminders.delete_reminder, fixed=("kind",)),
}


class _AckSchema(ma.Schema):
    """What a phone may write of a prompt."""

    acknowledged_at = Instant(allow_none=True)


class Push:
    """The checks and the writes of one push, in that order."""

    def __init__(self, user, last_pulled_at, changes):
        self.user, self.last_pulled_at, self.changes = user, last_pulled_at, changes
        self.errors, self.conflicts = [], []
        self.applied = {name: {"created": 0, "updated": 0, "deleted": 0} for name in changes}

    def error(self, table, list_name, position, record_id, field, detail):
        pointer = f"#/{table}/{list_name}/{position}" + (f"/{field}" if field else "")
        self.errors.append({"pointer": pointer, "table": table, "id": record_id, "field": field, "detail": detail})

    def refuse_if_errors(self):
        if self.errors:
            shown = self.errors[:MAX_ERRORS]
            raise PushRefused(f"{len(self.errors)} problem(s) in the pushed records; nothing was applied.",
                              errors=shown)

    def run(self):
        total = sum(len(lists["created"]) + len(lists["updated"]) + len(lists["deleted"])
                    for lists in self.changes.values())
        if total > MAX_PUSH_RECORDS:
            raise PushTooLarge(f"At most {MAX_PUSH_RECORDS} records per push; this one has {total}.")
        if self.last_pulled_at > last_change(self.user.id):
            raise InvalidInput("last_pulled_at", AHEAD)
        pushed, deletes = self.read()
        self.refuse_if_errors()
        if not pushed and not deletes:
            return self.applied
        # The person's change counter, locked from here to the commit: no other write of theirs
        # can slip in between the checks below and the writes after them.
        next_change(self.user.id)
        stored = self.load_stored(pushed, deletes)
        self.check(pushed, deletes, stored)
        self.refuse_if_errors()
        if self.conflicts:
            raise Conflict("Changed on the server since your last pull: pull, then push again.",
                           errors=self.conflicts[:MAX_ERRORS])
        self.apply(pushed, deletes, stored)
        return self.applied

    # Reading: every record parsed and validated before anything is looked up or written.

    def read(self):
        pushed, deletes, seen = [], [], set()
        for name, lists in self.changes.items():
            table = TABLES[name]
            for list_name in ("created", "updated"):
                pushed += self.read_records(_reader(table), list_name, lists[list_name], seen)
            for position, raw in enumerate(lists["deleted"]):
                record_id = self.read_id(name, "deleted", position, raw, seen)
                if record_id is None:
                    continue
                if not table.deletable:
                    self.error(name, "deleted", position, str(record_id), None,
                               f"The server keeps {name}; a phone cannot delete one.")
                    continue
                deletes.append(Pushed(name, "deleted", position, record_id, {}))
        return pushed, deletes

    def read_records(self, reader, list_name, raws, seen):
        """A list's records loaded by their table's schema, all in one load. When any breaks a rule,
        the list is read again a record at a time: a load of many skips every record's schema rules
        once one record has a field error, and the 422 names each problem, in the records' order."""
        mark, seen_before = len(self.errors), set(seen)
        records, sources = self.read_each(reader, list_name, raws, seen, one_by_one=False)
        if len(self.errors) == mark:
            try:
                loaded = reader.schema.load(sources, many=True)
            except ma.ValidationError:
                pass
            else:
                for record, data in zip(records, loaded):
                    record.data = data
                return records
        del self.errors[mark:]
        seen.clear()
        seen.update(seen_before)
        return self.read_each(reader, list_name, raws, seen, one_by_one=True)[0]

    def read_each(self, reader, list_name, raws, seen, *, one_by_one):
        """The list's records, leaving out those with errors (noted), and what their schema is to
        load of each; `one_by_one`, loaded as well (each record's data)."""
        table, records, sources = reader.table, [], []
        for position, raw in enumerate(raws):
            record_id = self.read_id(table.name, list_name, position, raw.get("id"), seen)
            if record_id is None:
                continue
            record = Pushed(table.name, list_name, position, record_id, raw)
            if table.load_schema is None and list_name == "created":
                self.error(table.name, list_name, position, str(record_id), None,
                           f"The server raises {table.name}; a phone cannot create one.")
                continue
            source = self.decode(reader, record)
            if source is None or (one_by_one and self.load(reader, record, source) is None):
                continue
            records.append(record)
            sources.append(source)
        return records, sources

    def read_id(self, table, list_name, position, value, seen):
        try:
            record_id = uuid.UUID(value) if isinstance(value, str) else None
        except ValueError:
            record_id = None
        if record_id is None or str(record_id) != value:
            self.error(table, list_name, position, value if isinstance(value, str) else None, "id",
                       "Must be a canonical lowercase UUID (set WatermelonDB's id generator to UUID v4).")
            return None
        if (table, record_id) in seen:
            self.error(table, list_name, position, value, "id", "The same record appears twice in this push.")
            return None
        seen.add((table, record_id))
        return record_id

    def decode(self, reader, record):
        """The pushed record as its REST schema is to load it (its columns' wire values read back),
        or None (with the errors noted)."""
        table = reader.table
        source, failed = ({} if table.load_schema is None else {"id": record.id}), False
        for name, value in record.raw.items():
            if name == "id" or name in BOOKKEEPING:
                continue
            column = reader.columns.get(name)
            if column is None:
                problem = f"Unknown column of {table.name}."
            elif value is None:
                problem = None if column.optional or column.read_only else "Must not be null."
            elif not isinstance(value, reader.types[name]) or isinstance(value, bool) != reader.boolean[name]:
                problem = f"Must be a {column.type}."
            elif column.kind == "instant":
                try:
                    value = from_millis(value)
                    problem = None
                except (OverflowError, ValueError, OSError):
                    problem = "Out of range (epoch milliseconds)."
            elif column.kind == "json":
                if value == "":
                    continue  # WatermelonDB's default for a string column the app never set: not given
                try:
                    value = json.loads(value)
                    problem = None
                except ValueError:
                    problem = "Must be JSON text."
            else:
                problem = None
            if problem:
                self.error(table.name, record.list_name, record.position, str(record.id), name, problem)
                failed = True
            elif name in reader.kept:
                source[name] = value
        return None if failed else source

    def load(self, reader, record, source):
        """What the record's schema loads of it (kept as its data), or None (with the errors noted)."""
        try:
            record.data = reader.schema.load(source)
            return record.data
        except ma.ValidationError as invalid:
            for field, messages in _flat(invalid.messages):
                self.error(record.table, record.list_name, record.position, str(record.id), field, messages)
            return None

    # Checking against what is stored.

    def load_stored(self, pushed, deletes):
        ids = {}
        for record in pushed + deletes:
            ids.setdefault(record.table, []).append(record.id)
        return {(name, row.id): row for name, table_ids in ids.items() for row in _rows(TABLES[name].model, table_ids)}

    def check(self, pushed, deletes, stored):
        for record in pushed + deletes:
            row = stored.get((record.table, record.id))
            if row is None:
                if TABLES[record.table].load_schema is None:
                    self.error(record.table, record.list_name, record.position, str(record.id), None,
                               f"No such {TABLES[record.table].model.noun}: the server raises them.")
                continue
            if row.user_id != self.user.id:
                if record.list_name != "deleted":  # deleting an unknown id is a no-op, whoever's it is
                    self.error(record.table, record.list_name, record.position, str(record.id), "id",
                               "This id belongs to another record: give the record a new id.")
                continue
            if row.sync_seq > self.last_pulled_at:
                self.conflicts.append({"table": record.table, "id": str(record.id),
                                       "detail": "Changed on the server after last_pulled_at."})
            elif TABLES[record.table].load_schema is None:
                self.check_server_owned(record, row)

    def check_server_owned(self, record, row):
        """A phone may only mark a prompt read: every other column must be what the server sent."""
        for column in TABLES[record.table].columns:
            if not column.read_only or column.name not in record.raw:
                continue
            sent, held = record.raw[column.name], column.encode(getattr(row, column.attribute))
            if _wire_equal(column, sent, held) is False:
                self.error(record.table, record.list_name, record.position, str(record.id), column.name,
                           "Only acknowledged_at can change: the server owns the rest.")

    # Writing, through each feature's own use cases.

    def apply(self, pushed, deletes, stored):
        creates = {}
        for record in pushed:
            row = stored.get((record.table, record.id))
            if row is None:
                creates.setdefault(record.table, []).append(record.data)
            elif getattr(row, "deleted_at", None) is not None:
                continue  # deleted, and the phone was told before this push: a deletion stands
            elif record.table == "prompts":
                self.acknowledge(record, row)
            else:
                self.update(record, row)
        for name, rows in creates.items():
            WRITERS[name].create_many(self.user, rows)
            self.applied[name]["created"] += len(rows)
        for record in deletes:
            row = stored.get((record.table, record.id))
            if row is not None and row.user_id == self.user.id and row.deleted_at is None:
                WRITERS[record.table].delete(self.user, record.id)
                self.applied[record.table]["deleted"] += 1

    def update(self, record, row):
        """Change the columns whose pushed value differs from the stored one (per column, the
        phone's wins: it pulled the stored one before it changed it)."""
        table, writer = TABLES[record.table], WRITERS[record.table]
        changes = {}
        for column in table.columns:
            if column.read_only or column.name not in record.raw or column.name not in record.data:
                continue  # not the phone's to write, or not sent (an unset JSON column arrives as "")
            if _wire_equal(column, record.raw[column.name], column.encode(getattr(row, column.attribute))):
                continue
            if column.name in writer.fixed:
                self.error(record.table, record.list_name, record.position, str(record.id), column.name,
                           "Cannot change: make a new record instead.")
                self.refuse_if_errors()
            changes[column.attribute] = record.data[column.name]
        if changes:
            try:
                writer.update(self.user, record.id, changes)
            except InvalidInput as invalid:
                for entry in invalid.errors:
                    self.error(record.table, record.list_name, record.position, str(record.id),
                               entry["field"], entry["detail"])
                self.refuse_if_errors()
            self.applied[record.table]["updated"] += 1

    def acknowledge(self, record, row):
        acknowledged_at = record.data.get("acknowledged_at")
        if acknowledged_at is not None and row.acknowledged_at is None:
            monitoring.acknowledge_prompt(self.user, record.id, now=acknowledged_at)
            self.applied[record.table]["updated"] += 1


def push(user, last_pulled_at, changes):
    """Apply a phone's changes as one unit; returns what was created, updated and deleted per table."""
    return Push(user, last_pulled_at, changes).run()


class _Reader:
    """How a table's pushed records are read: each column's wire type, the columns the phone
    writes, and the schema that loads them (a prompt's: only what a phone may write of one)."""

    # The Python values each WatermelonDB column type arrives as (JSON has no other).
    WIRE_TYPES = {"number": (int, float), "boolean": (bool,), "string": (str,)}

    def __init__(self, table):
        self.table = table
        self.columns = {column.name: column for column in table.columns}
        self.types = {column.name: self.WIRE_TYPES[column.type] for column in table.columns}
        self.boolean = {column.name: column.type == "boolean" for column in table.columns}  # bool is an int
        self.kept = frozenset(column.name for column in table.columns if not column.read_only)
        self.schema = _AckSchema() if table.load_schema is None else table.load_schema()


@functools.cache
def _reader(table):
    """A table's _Reader, built once per process."""
    return _Reader(table)


def _rows(model, ids):
    """The rows of `model` with these ids. On PostgreSQL one statement with the ids as one array:
    lists of a thousand parameters cost the driver more to write and parse than the look-up."""
    if dialect() == "postgresql":
        listed = sa.bindparam("ids", ids, type_=postgresql.ARRAY(model.id.type))
        yield from db.session.scalars(sa.select(model).where(model.id == sa.any_(listed)))
        return
    for start in range(0, len(ids), 1000):
        yield from db.session.scalars(sa.select(model).where(model.id.in_(ids[start:start + 1000])))


def _wire_equal(column, sent, held):
    """Whether a pushed value is the stored one, as the wire carries both (instants to the
    millisecond, JSON text by what it says)."""
    if column.kind == "json" and isinstance(sent, str) and held is not None:
        try:
            return json.loads(sent) == json.loads(held)
        except ValueError:
            return False
    if column.kind == "instant" and sent is not None and held is not None:
        return round(sent) == held
    return sent == held


def _flat(messages, path=()):
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flat(value, path if key == "_schema" else path + (str(key),))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        yield ".".join(path) or None, " ".join(messages)
    elif isinstance(messages, list):
        for item in messages:
            yield from _flat(item, path)
    else:
        yield ".".join(path) or None, str(messages)
