"""The app-side database schema, generated from the server's own definitions.

WatermelonDB keeps each synced table on the phone; its `appSchema` names the columns and their
types (string, number or boolean) and says which may be null. Building it from the same
marshmallow schemas the REST API reads and writes with means the app and the server cannot drift:
the columns are the REST field names, instants travel as epoch milliseconds (numbers), and lists
and objects as JSON text (WatermelonDB's `@json`). Fields the phone may not write are listed as
read-only beside the schema.
"""

import marshmallow as ma

from backend.checkins.schemas import CheckInSchema
from backend.doses.schemas import DoseSchema
from backend.monitoring.schemas import PromptSchema
from backend.reminders.schemas import ReminderSchema

# Bumped whenever a table or column is added; the phone's migrations follow it.
SCHEMA_VERSION = 1

# The tables a phone holds, by their sync name, with the schema of their REST representation.
TABLES = {
    "checkins": CheckInSchema,
    "doses": DoseSchema,
    "reminders": ReminderSchema,
    "prompts": PromptSchema,
}
# Prompts are the server's: a phone may only mark one as read.
PHONE_WRITABLE = {"prompts": ("acknowledged_at",)}


def column_type(field):
    """The WatermelonDB column type a REST field travels as."""
    if isinstance(field, ma.fields.Boolean):
        return "boolean"
    if isinstance(field, (ma.fields.Number, ma.fields.DateTime)):  # instants: epoch milliseconds
        return "number"
    return "string"  # text, ids, and lists or objects as JSON text


def columns(schema_class):
    """The columns of one table: every field but the id, which WatermelonDB keeps itself."""
    schema = schema_class()
    return [{"name": name, "type": column_type(field), "isOptional": bool(field.allow_none)}
            for name, field in schema.fields.items() if name != "id"]


def read_only(table, schema_class):
    """Columns the server derives or owns: in every pull, refused in a push."""
    schema = schema_class()
    writable = PHONE_WRITABLE.get(table)
    return [name for name, field in schema.fields.items()
            if name != "id" and (field.dump_only if writable is None else name not in writable)]


def app_schema():
    """The WatermelonDB appSchema the phone builds its database from, and the read-only columns."""
    return {
        "version": SCHEMA_VERSION,
        "tables": [{"name": table, "columns": columns(schema_class)} for table, schema_class in TABLES.items()],
        "read_only": {table: read_only(table, schema_class) for table, schema_class in TABLES.items()},
    }
