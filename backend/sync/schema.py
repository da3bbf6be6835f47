"""The tables a phone holds, and how their records travel: generated from the server's own definitions.

WatermelonDB keeps each synced table on the phone; its `appSchema` names the columns and their
types (string, number or boolean) and says which may be null. Building it from the same
marshmallow schemas the REST API reads and writes with means the app and the server cannot drift:
the columns are the REST field names, instants travel as epoch milliseconds (numbers), and lists
and objects as JSON text (WatermelonDB's `@json`). Fields the phone may not write are listed as
read-only beside the schema. A column the server moves on its own (a model's `quiet_columns`,
such as a reminder's next fire) is not synced at all.
"""

import dataclasses
import datetime as dt
import json

import marshmallow as ma

from backend.checkins.models import CheckIn
from backend.checkins.schemas import CheckInCreateSchema, CheckInSchema
from backend.doses.models import Dose
from backend.doses.schemas import DoseCreateSchema, DoseSchema
from backend.monitoring.models import Prompt
from backend.monitoring.schemas import PromptSchema
from backend.reminders.models import ReminderSchedule
from backend.reminders.schemas import ReminderCreateSchema, ReminderSchema

# What each schema version added, as the phone's WatermelonDB schemaMigrations need it (served with
# the schema) and as a migration sync asks for it. A column added to a REST schema must be listed
# here under a new version: a test holds the versions to the columns.
ADDED = {
    2: {"checkins": ("pain_today", "withdrawal_severity", "phq2_score", "gad2_score")},
}
SCHEMA_VERSION = max(ADDED, default=1)


def to_millis(instant):
    return round(instant.timestamp() * 1000)


def from_millis(millis):
    """An instant from epoch milliseconds (an aware datetime, which the REST fields load as they
    load RFC 3339 text: the same rules, without writing and parsing the text)."""
    return dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc)


def to_json_text(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclasses.dataclass(frozen=True)
class Column:
    """One synced column: its wire type, and how a value goes out to the phone."""

    name: str
    attribute: str
    type: str            # WatermelonDB's: "string", "number" or "boolean"
    optional: bool
    read_only: bool
    kind: str            # "instant", "json" or "plain"

    @property
    def convert(self):
        """How a stored non-null value becomes its wire value, or None when it travels as it is."""
        return {"instant": to_millis, "json": to_json_text}.get(self.kind)

    def encode(self, value):
        if value is None or self.convert is None:
            return value
        return self.convert(value)


@dataclasses.dataclass(frozen=True)
class SyncTable:
    """A table a phone holds: the model, the REST schema it reads as, and the one a pushed record loads with."""

    name: str
    model: type
    schema: type
    load_schema: type | None            # None: the phone cannot create or replace these records
    phone_writable: tuple | None = None  # None: every field the REST schema loads

    @property
    def columns(self):
        return _columns(self)

    @property
    def deletable(self):
        return hasattr(self.model, "deleted_at")


def _kind(field):
    if isinstance(field, ma.fields.DateTime):
        return "instant"
    if isinstance(field, (ma.fields.List, ma.fields.Dict, ma.fields.Nested)):
        return "json"
    return "plain"


def column_type(field):
    """The WatermelonDB column type a REST field travels as."""
    if isinstance(field, ma.fields.Boolean):
        return "boolean"
    if isinstance(field, (ma.fields.Number, ma.fields.DateTime)):  # instants: epoch milliseconds
        return "number"
    return "string"  # text, ids, and lists or objects as JSON text


_COLUMNS = {}


def _columns(table):
    """The synced columns of a table: every REST field but the id (WatermelonDB keeps it itself)
    and the columns the server moves on its own."""
    if table.name not in _COLUMNS:
        quiet = set(table.model.quiet_columns)
        columns = []
        for name, field in table.schema().fields.items():
            if name == "id" or name in quiet:
                continue
            writable = (not field.dump_only) if table.phone_writable is None else name in table.phone_writable
            columns.append(Column(name, field.attribute or name, column_type(field), bool(field.allow_none),
                                  not writable, _kind(field)))
        _COLUMNS[table.name] = tuple(columns)
    return _COLUMNS[table.name]


# The tables a phone holds, by their sync name. Prompts are the server's: a phone may only mark one as read.
TABLES = {table.name: table for table in (
    SyncTable("checkins", CheckIn, CheckInSchema, CheckInCreateSchema),
    SyncTable("doses", Dose, DoseSchema, DoseCreateSchema),
    SyncTable("reminders", ReminderSchedule, ReminderSchema, ReminderCreateSchema),
    SyncTable("prompts", Prompt, PromptSchema, None, phone_writable=("acknowledged_at",)),
)}


def migrations():
    """WatermelonDB's schemaMigrations: per version, the columns it added to each table."""
    columns = {table.name: {c.name: c for c in table.columns} for table in TABLES.values()}
    return [{"toVersion": version, "steps": [
        {"type": "add_columns", "table": table,
         "columns": [_column_schema(columns[table][name]) for name in names]}
        for table, names in added.items()]} for version, added in sorted(ADDED.items(), reverse=True)]


def _column_schema(column):
    return {"name": column.name, "type": column.type, "isOptional": column.optional}


def app_schema():
    """The WatermelonDB appSchema the phone builds its database from, its migrations, and the
    read-only columns."""
    return {
        "version": SCHEMA_VERSION,
        "migrations": migrations(),
        "tables": [{"name": table.name,
                    "columns": [_column_schema(c) for c in table.columns]}
                   for table in TABLES.values()],
        "read_only": {table.name: [c.name for c in table.columns if c.read_only] for table in TABLES.values()},
    }
