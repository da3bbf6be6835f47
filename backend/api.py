"""Project-wide API base classes: the Api, schemas, instants, and cursor pages."""

import base64
import binascii
import datetime as dt
import http
import json
import uuid

import marshmallow as ma
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint  # noqa: F401  (re-exported for feature modules)
from flask_smorest.spec import prepare_response

from backend.errors import PROBLEM_MIMETYPE
from backend.sqltypes import utcnow

# Nothing we record happened before this, and clocks more than a day ahead are wrong.
EARLIEST_INSTANT = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
CLOCK_SKEW_ALLOWED = dt.timedelta(days=1)


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error response of this API is shaped."""

    type = ma.fields.String(required=True, metadata={"description": "URI identifying the kind of problem"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    instance = ma.fields.String()
    errors = ma.fields.List(
        ma.fields.Dict(),
        metadata={"description": "Field errors: `pointer` and `field` for body fields, "
                                 "`parameter` and `in` for query or path parameters, and `detail`."},
    )


class Api(SmorestApi):
    """flask-smorest Api whose documented error responses are problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):
        # backend.errors registers the one handler for every error.
        pass

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def schema_name(schema):
    """OpenAPI component name: the class name without 'Schema', marked when loaded partially."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not isinstance(schema, type) and schema.partial and not name.endswith("Patch"):
        name += "Patch"
    return name


class Schema(ma.Schema):
    """Base schema: unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = ma.RAISE
        ordered = True


class Instant(ma.fields.AwareDateTime):
    """An RFC 3339 instant that must carry an offset; loaded as UTC, dumped as UTC with 'Z'."""

    def __init__(self, *, past_only=True, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("description", "RFC 3339 with offset, e.g. 2026-11-25T08:30:00+01:00")
        super().__init__(format="iso", **kwargs)
        self.error_messages["invalid_awareness"] = self.error_messages["invalid"] = (
            "Must be an RFC 3339 timestamp with an offset, e.g. 2026-11-25T08:30:00+01:00.")
        self.past_only = past_only

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs).astimezone(dt.timezone.utc)
        if value < EARLIEST_INSTANT:
            raise ma.ValidationError("Must not be before 2000-01-01.")
        if self.past_only and value > utcnow() + CLOCK_SKEW_ALLOWED:
            raise ma.ValidationError("Must not be in the future.")
        return value

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


class Cursor:
    """Opaque keyset cursor: the sort instant and id of the last item of a page."""

    @staticmethod
    def encode(instant, record_id):
        raw = json.dumps([instant.astimezone(dt.timezone.utc).isoformat(), str(record_id)])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def decode(token):
        try:
            padded = token + "=" * (-len(token) % 4)
            instant, record_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            instant = dt.datetime.fromisoformat(instant)
            if instant.tzinfo is None:
                raise ValueError("naive")
            return instant, uuid.UUID(record_id)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise ma.ValidationError("Not a valid cursor.") from None


class CursorField(ma.fields.String):
    """A `cursor` query parameter, decoded into (instant, id)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return Cursor.decode(super()._deserialize(value, attr, data, **kwargs))


class RangeQuerySchema(Schema):
    """Time range and keyset page of a newest-first list."""

    since = Instant(past_only=False, metadata={"description": "Only items at or after this instant"})
    until = Instant(past_only=False, metadata={"description": "Only items before this instant"})
    cursor = CursorField(metadata={"description": "`next_cursor` of the previous page"})
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, 200))

    @ma.validates_schema
    def _range_in_order(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ma.ValidationError("Must be after `since`.", "until")


def page_schema(item_schema):
    """Response schema `{items: [...], next_cursor}` for a list of `item_schema`."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return type(name, (Schema,), {
        "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
        "next_cursor": ma.fields.String(required=True, allow_none=True),
    })
