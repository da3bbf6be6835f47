"""/v1/sync: WatermelonDB's sync protocol (pull and push), and the schema a phone builds its database from."""

import json

import marshmallow as ma
from flask import Response, current_app, request, stream_with_context
from flask.views import MethodView

from backend.accounts.auth import authenticate, current_user
from backend.api import Blueprint, Schema, refused
from backend.sync import services
from backend.sync.schema import SCHEMA_VERSION, TABLES, app_schema

blp = Blueprint("sync", __name__, url_prefix="/v1/sync", description="Offline sync (WatermelonDB protocol)")
blp.before_request(authenticate)


@blp.before_request
def _push_body_limit():
    """A push carries everything a phone did offline: it may be larger than other bodies."""
    if request.method == "POST":
        request.max_content_length = current_app.config["CARELOOP_SYNC_MAX_BODY_BYTES"]


class ChangeNumber(ma.fields.Integer):
    """A sync timestamp: the change number of the last pull; `null` (as the app sends it) is none."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("null", ""):
            if not self.allow_none:
                raise self.make_error("null")
            return None
        return super()._deserialize(value, attr, data, **kwargs)


class AtLeast(ma.validate.Range):
    """A lower bound that lets a null through (a missing cursor)."""

    def __init__(self, minimum):
        super().__init__(min=minimum)

    def __call__(self, value):
        return value if value is None else super().__call__(value)


class MigrationColumnsSchema(Schema):
    table = ma.fields.String(required=True, validate=ma.validate.OneOf(TABLES))
    columns = ma.fields.List(ma.fields.String(), required=True)

    @ma.validates_schema
    def _known_columns(self, data, **kwargs):
        known = {column.name for column in TABLES[data["table"]].columns}
        unknown = sorted(set(data["columns"]) - known)
        if unknown:
            raise ma.ValidationError(f"Unknown columns of {data['table']}: {', '.join(unknown)}.", "columns")


class MigrationSchema(Schema):
    from_version = ma.fields.Integer(required=True, data_key="from", strict=True, validate=ma.validate.Range(1))
    tables = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(TABLES)), required=True)
    columns = ma.fields.List(ma.fields.Nested(MigrationColumnsSchema), required=True)


class JsonText(ma.fields.Nested):
    """A nested object sent as JSON text in a query parameter; `null` is none."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("null", ""):
            return None
        try:
            value = json.loads(value)
        except ValueError:
            raise ma.ValidationError("Must be JSON.") from None
        if value is None:
            return None
        return super()._deserialize(value, attr, data, **kwargs)


class PullQuerySchema(Schema):
    last_pulled_at = ChangeNumber(validate=AtLeast(0), allow_none=True, load_default=None, metadata={
        "description": "The `timestamp` of the last pull; null, 0 or absent for a first sync. "
                       + refused(services.AHEAD)})
    schema_version = ma.fields.Integer(load_default=SCHEMA_VERSION, validate=ma.validate.Range(1), metadata={
        "description": "The app's WatermelonDB schema version"})
    migration = JsonText(MigrationSchema, allow_none=True, load_default=None, metadata={
        "description": "WatermelonDB's migration sync: JSON `{from, tables, columns}` of what the app's "
                       "database gained since `from`; those tables and columns come in full"})

    @ma.validates_schema
    def _migration_from_before_now(self, data, **kwargs):
        migration = data.get("migration")
        if migration and migration["from_version"] >= data["schema_version"]:
            raise ma.ValidationError("`from` must be below schema_version.", "migration")


class PushQuerySchema(Schema):
    last_pulled_at = ChangeNumber(validate=AtLeast(1), required=True, metadata={
        "description": "The `timestamp` of the pull this push follows"})


RECORD = ("A WatermelonDB raw record: `id` (a canonical lowercase UUID) and the table's columns as "
          "GET /v1/sync/schema lists them; `_status` and `_changed` are ignored, read-only columns too. "
          "Each record is held to the rules of its table's REST schema.")


class TableChangesSchema(Schema):
    created = ma.fields.List(ma.fields.Dict(metadata={"description": RECORD}), load_default=list)
    updated = ma.fields.List(ma.fields.Dict(metadata={"description": RECORD}), load_default=list)
    deleted = ma.fields.List(ma.fields.String(), load_default=list, metadata={"description": "Ids of deleted records"})


class ChangesSchema(Schema):
    """WatermelonDB's changes object: per table, created and updated records and deleted ids.
    `{"changes": {…}}` is taken as well."""

    checkins = ma.fields.Nested(TableChangesSchema)
    doses = ma.fields.Nested(TableChangesSchema)
    reminders = ma.fields.Nested(TableChangesSchema)
    prompts = ma.fields.Nested(TableChangesSchema)

    @ma.pre_load
    def _unwrap(self, data, **kwargs):
        if isinstance(data, dict) and set(data) == {"changes"}:
            return data["changes"]
        return data


class PulledTableSchema(Schema):
    created = ma.fields.List(ma.fields.Dict(), required=True)
    updated = ma.fields.List(ma.fields.Dict(), required=True)
    deleted = ma.fields.List(ma.fields.String(), required=True)


class PullSchema(Schema):
    changes = ma.fields.Dict(keys=ma.fields.String(validate=ma.validate.OneOf(TABLES)),
                             values=ma.fields.Nested(PulledTableSchema), required=True)
    timestamp = ma.fields.Integer(required=True, metadata={
        "description": "A change number (not a clock): send it as last_pulled_at next time"})


class AppliedSchema(Schema):
    created = ma.fields.Integer(required=True)
    updated = ma.fields.Integer(required=True)
    deleted = ma.fields.Integer(required=True)


class PushResultSchema(Schema):
    applied = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(AppliedSchema), required=True)


class ColumnSchema(Schema):
    name = ma.fields.String(required=True)
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(("string", "number", "boolean")))
    isOptional = ma.fields.Boolean(required=True)  # noqa: N815  (WatermelonDB's own spelling)


class TableSchema(Schema):
    name = ma.fields.String(required=True)
    columns = ma.fields.List(ma.fields.Nested(ColumnSchema), required=True)


class MigrationStepSchema(Schema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(("add_columns",)))
    table = ma.fields.String(required=True)
    columns = ma.fields.List(ma.fields.Nested(ColumnSchema), required=True)


class SchemaMigrationSchema(Schema):
    toVersion = ma.fields.Integer(required=True)  # noqa: N815  (WatermelonDB's own spelling)
    steps = ma.fields.List(ma.fields.Nested(MigrationStepSchema), required=True)


class AppSchemaSchema(Schema):
    version = ma.fields.Integer(required=True, metadata={"description": "WatermelonDB schema version"})
    migrations = ma.fields.List(ma.fields.Nested(SchemaMigrationSchema), required=True, metadata={
        "description": "WatermelonDB schemaMigrations, newest first: what each version added"})
    tables = ma.fields.List(ma.fields.Nested(TableSchema), required=True)
    read_only = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()), required=True,
                               metadata={"description": "Per table, the columns the server owns: pulled, ignored "
                                                        "in a push (of a prompt, only acknowledged_at may change)"})


@blp.route("")
class Sync(MethodView):
    @blp.arguments(PullQuerySchema, location="query")
    @blp.response(200, PullSchema)
    def get(self, args):
        """Pull: every change of my records after `last_pulled_at` (everything on a first sync)."""
        body = services.start_pull(current_user(), args["last_pulled_at"], args["migration"])
        return Response(stream_with_context(body), mimetype="application/json")

    @blp.arguments(PushQuerySchema, location="query")
    @blp.arguments(ChangesSchema)
    @blp.response(200, PushResultSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, args, changes):
        """Push: apply a phone's changes at once, or none of them (409: pull first; 422: a bad record)."""
        return {"applied": services.push(current_user(), args["last_pulled_at"], changes)}


@blp.route("/schema")
class SyncSchema(MethodView):
    @blp.response(200, AppSchemaSchema)
    def get(self):
        """The WatermelonDB appSchema of the tables a phone syncs, generated from the API's own fields."""
        return app_schema()
