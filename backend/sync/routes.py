"""/v1/sync: what a WatermelonDB app syncs with (the schema it builds its database from)."""

import marshmallow as ma
from flask.views import MethodView

from backend.accounts.auth import authenticate
from backend.api import Blueprint, Schema
from backend.sync.schema import app_schema

blp = Blueprint("sync", __name__, url_prefix="/v1/sync", description="Offline sync (WatermelonDB protocol)")
blp.before_request(authenticate)


class ColumnSchema(Schema):
    name = ma.fields.String(required=True)
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(("string", "number", "boolean")))
    isOptional = ma.fields.Boolean(required=True)  # noqa: N815  (WatermelonDB's own spelling)


class TableSchema(Schema):
    name = ma.fields.String(required=True)
    columns = ma.fields.List(ma.fields.Nested(ColumnSchema), required=True)


class AppSchemaSchema(Schema):
    version = ma.fields.Integer(required=True, metadata={"description": "WatermelonDB schema version"})
    tables = ma.fields.List(ma.fields.Nested(TableSchema), required=True)
    read_only = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()), required=True,
                               metadata={"description": "Per table, the columns the server owns: pulled, never pushed"})


@blp.route("/schema")
class SyncSchema(MethodView):
    @blp.response(200, AppSchemaSchema)
    def get(self):
        """The WatermelonDB appSchema of the tables a phone syncs, generated from the API's own fields."""
        return app_schema()
