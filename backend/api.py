"""Project-wide API base classes: the Api, schemas, JSON fields, instants, and cursor pages."""

import base64
import binascii
import copy
import dataclasses
import datetime as dt
import functools
import http
import json
import re
import uuid

import marshmallow as ma
import sqlalchemy as sa
from apispec import BasePlugin
from apispec.ext import marshmallow as apispec_marshmallow
from flask import abort, current_app, request
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.spec import prepare_response
from webargs.core import missing
from webargs.flaskparser import FlaskParser, is_json_request

from backend.domain import HHMM_PATTERN
from backend.errors import PROBLEM_MIMETYPE
from backend.sqltypes import utcnow

# Nothing we record happened before this, and clocks more than a day ahead are wrong.
EARLIEST_INSTANT = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
CLOCK_SKEW_ALLOWED = dt.timedelta(days=1)


class FieldErrorSchema(ma.Schema):
    """What one part of a request got wrong."""

    detail = ma.fields.String(required=True)
    pointer = ma.fields.String(metadata={"description": "JSON Pointer into the body, e.g. `#/pain`"})
    field = ma.fields.String(allow_none=True, metadata={"description": "The body field, dotted when nested"})
    parameter = ma.fields.String(metadata={"description": "The query, path or header parameter"})
    in_ = ma.fields.String(data_key="in", metadata={"description": "Where the parameter was: query, path or header"})
    table = ma.fields.String(metadata={"description": "A sync push: the table of the refused record"})
    id = ma.fields.String(allow_none=True, metadata={"description": "A sync push: the id of the refused record"})


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error response of this API is shaped."""

    type = ma.fields.String(required=True, metadata={"description": "URI identifying the kind of problem"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    instance = ma.fields.String()
    errors = ma.fields.List(
        ma.fields.Nested(FieldErrorSchema),
        metadata={"description": "Field errors: `pointer` and `field` for body fields, "
                                 "`parameter` and `in` for query or path parameters, and `detail`."},
    )
    record = ma.fields.String(metadata={
        "description": "The URL of the record the problem is about (a create retried with other content: "
                       "PATCH it there)"})


# Headers of the refusals that say when to come back (Flask-Limiter's, and the 503 of an outage).
RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait before trying again",
                                      "schema": {"type": "integer", "minimum": 0}}}
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests allowed in the current window", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in the current window", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "When the window resets (Unix time, seconds)", "schema": {"type": "integer"}},
}
RESPONSE_HEADERS = {429: {**RETRY_AFTER_HEADER, **RATE_LIMIT_HEADERS}, 503: RETRY_AFTER_HEADER}


class Api(SmorestApi):
    """flask-smorest Api whose documented error responses are problem+json: each operation lists the
    ones it can answer (`ProblemResponses`, and a view's own `alt_response`s), never a catch-all."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_pagination_header(self):
        # Lists page with opaque cursors (`page_schema`), not flask-smorest's page numbers.
        pass

    def _register_error_handlers(self):
        # backend.errors registers the one handler for every error.
        pass

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            if status in RESPONSE_HEADERS:
                response["headers"] = RESPONSE_HEADERS[status]
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)

    def init_app(self, app, *args, **kwargs):
        super().init_app(app, *args, **kwargs)
        session = app.extensions["sqlalchemy"].session
        if not sa.event.contains(session, "after_flush", _note_flush):
            sa.event.listen(session, "after_flush", _note_flush)
            sa.event.listen(session, "do_orm_execute", _note_statement)
        app.after_request(protective_headers)

    def _init_spec(self, *args, extra_plugins=(), **kwargs):
        super()._init_spec(*args, extra_plugins=[*extra_plugins, ProblemResponses()], **kwargs)
        self.ma_plugin.converter.add_attribute_function(exclusive_bounds)
        self.ma_plugin.converter.add_attribute_function(dict_key_choices)
        self.ma_plugin.converter.add_attribute_function(named_choices)
        self.ma_plugin.converter.add_attribute_function(omitted_in_words)


class Converter(apispec_marshmallow.OpenAPIConverter):
    def schema2jsonschema(self, schema):
        jsonschema = super().schema2jsonschema(schema)
        # apispec 6.10 leaves additionalProperties out of a schema whose Meta has a description (an
        # `elif`); ours refuse unknown fields all the same.
        if apispec_marshmallow.common.resolve_schema_instance(schema).unknown == ma.RAISE:
            jsonschema.setdefault("additionalProperties", False)
        return jsonschema


class MarshmallowPlugin(apispec_marshmallow.MarshmallowPlugin):
    Converter = Converter


class ProblemResponses(BasePlugin):
    """Documents the errors that follow from an operation's shape, where they happen:

    - signed in (no `security: []`): 401 without a valid token, 503 while the database (or the token
      certificates) cannot be reached, with Retry-After;
    - a record in the path: 404;
    - a JSON body: 400 unreadable, 413 too large, 415 not JSON, 422 invalid;
    - an If-Match header: 412.

    What only the code knows (403 out of a share's scopes, 409 conflicts, 429 limits) each view
    states with `alt_response`. It also links a create's 201 to the operations on the created
    record (OpenAPI `links`), so clients and stateful tests can chain them."""

    def init_spec(self, spec):
        self.creates = {}  # collection path -> its POST operation
        self.records = {}  # collection path -> (record path, its parameter, its operations)

    def operation_helper(self, path=None, operations=None, **kwargs):
        rule = kwargs.get("rule")
        for operation in operations.values():
            responses = operation.setdefault("responses", {})

            def add(status):
                if status not in responses and str(status) not in responses:
                    responses[str(status)] = http.HTTPStatus(status).name

            if operation.get("security") != []:
                add(401)
                add(503)
            if rule is not None and rule.arguments:
                add(404)
            if "requestBody" in operation:
                for status in (400, 413, 415, 422):
                    add(status)
            if any(parameter.get("name") == "If-Match" for parameter in operation.get("parameters", ())):
                add(412)
        self._link(path, operations, rule)

    def _link(self, path, operations, rule):
        if "post" in operations and (201 in operations["post"]["responses"] or "201" in operations["post"]["responses"]):
            self.creates[path] = operations["post"]
        collection, _, last = path.rpartition("/")
        arguments = sorted(rule.arguments) if rule is not None else []
        if len(arguments) == 1 and last == "{%s}" % arguments[0] and arguments[0].endswith("_id"):
            self.records[collection] = (arguments[0], operations)
        for collection in self.creates.keys() & self.records.keys():
            create = self.creates[collection]
            created = create["responses"].get(201) or create["responses"]["201"]
            parameter, record_operations = self.records[collection]
            created["links"] = {
                operation["operationId"]: {"operationId": operation["operationId"],
                                           "parameters": {parameter: "$response.body#/id"}}
                for operation in record_operations.values() if "operationId" in operation}


def protective_headers(response):
    """Every API answer holds someone's health data or says something about it: no cache keeps it,
    no browser guesses its type, and HTTPS stays on once used. Retry-After belongs to a refusal only
    (Flask-Limiter adds it to every limited answer)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/v1/"):
        response.headers["Cache-Control"] = "no-store"
    if current_app.config["CARELOOP_PUBLIC_URL"].startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if response.status_code < 400:
        response.headers.pop("Retry-After", None)
    return response


def exclusive_bounds(converter, field, ret):
    """apispec writes every Range bound as inclusive; document the exclusive ones as such (in place
    of the inclusive bound: a schema with both reads as two rules)."""
    bounds = {}
    for validator in field.validators:
        if isinstance(validator, ma.validate.Range):
            if validator.min is not None and not validator.min_inclusive:
                bounds["exclusiveMinimum"] = validator.min
                ret.pop("minimum", None)
            if validator.max is not None and not validator.max_inclusive:
                bounds["exclusiveMaximum"] = validator.max
                ret.pop("maximum", None)
    return bounds


def dict_key_choices(converter, field, ret):
    """apispec leaves the keys of a Dict undocumented; document a choice of keys as `propertyNames`."""
    if isinstance(field, ma.fields.Dict) and field.key_field is not None:
        for validator in field.key_field.validators:
            if isinstance(validator, Choice):
                return {"propertyNames": validator.schema_ref(converter.spec)}
            if isinstance(validator, ma.validate.OneOf):
                return {"propertyNames": {"enum": list(validator.choices)}}
    return {}


class Omitted:
    """A request body field's `load_default`: what leaving the field out means. The contract says it
    in the field's description ("Left out: …"), not as a JSON Schema `default`: openapi-typescript
    types a property with a default as always there, so a create would have to send it."""

    def __init__(self, value, meaning=None):
        self.value = value
        self.meaning = meaning or json.dumps(value)

    def __call__(self):
        return copy.deepcopy(self.value)


def omitted_in_words(converter, field, ret):
    partial = getattr(getattr(field, "parent", None), "partial", None)  # a PATCH: left out is unchanged
    if isinstance(field.load_default, Omitted) and not (partial is True or (partial and field.name in partial)):
        said = f"Left out: {field.load_default.meaning}."
        return {"description": f"{ret['description']} ({said})" if ret.get("description") else said}
    return {}


class Choice(ma.validate.OneOf):
    """One of a named list of words (a substance kind, a form, a unit …): the contract states the
    list once, as a schema of its own that every field with these words refers to, so a generated
    client has one enum for it, not one per field and schema (Dose, DoseCreate, DosePatch …)."""

    def __init__(self, name, choices, **kwargs):
        super().__init__(choices, **kwargs)
        self.name = name

    def schema_ref(self, spec):
        if self.name not in spec.components.schemas:
            spec.components.schema(self.name, {"type": "string", "enum": list(self.choices)})
        return spec.components.get_ref("schema", self.name)


def named_choices(converter, field, ret):
    """A field checked by a `Choice` refers to the choice's schema (null beside it when allowed)."""
    for validator in field.validators:
        if isinstance(validator, Choice):
            ret.pop("enum", None)
            ret.pop("type", None)
            ref = validator.schema_ref(converter.spec)
            return {"anyOf": [ref, {"type": "null"}]} if field.allow_none else ref
    return {}


class Parser(FlaskParser):
    """webargs' parser, except that a required JSON body must be there (webargs would load `{}`)."""

    def load_json(self, req, schema):
        try:
            data = super().load_json(req, schema)
        except (ValueError, RecursionError):  # webargs turns only JSONDecodeError into a 400
            abort(400, "The body cannot be read: JSON nested too deeply or a number too long.")
        if data is missing:
            if req.get_data(cache=True) and not is_json_request(req):
                abort(415, "Send the body as JSON (Content-Type: application/json).")
            abort(400, "This request needs a JSON body.")
        return data


def if_match():
    """The versions an If-Match header accepts (a list of ETags, or ["*"]); None without the header.

    Never required (no 428): clients that send none keep working as before, last write wins."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def versioned(record, status=None):
    """A view's answer with the record's version as its ETag header."""
    headers = {"ETag": record.etag}
    return (record, status, headers) if status else (record, headers)


# How the contract documents If-Match and ETag on the records' routes.
IF_MATCH_PARAMETER = {
    "in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
    "description": "The ETag the change is based on: a record changed since (by another device, or a "
                   "caregiver view) answers 412 instead of losing that change. Optional."}
ETAG_HEADER = {"ETag": {"description": "The record's version, for If-Match", "schema": {"type": "string"}}}


@dataclasses.dataclass(frozen=True)
class Client:
    """Where a request came from, as the access log keeps it: the edge reads it, services are given it."""

    address: str | None = None
    user_agent: str | None = None


def request_client():
    """The client of the current request (its address as ProxyFix sets it, and its User-Agent)."""
    return Client((request.remote_addr or "")[:64] or None, (request.user_agent.string or "")[:200] or None)


def _note_flush(session, flush_context):
    session.info["wrote"] = True


def _note_statement(state):
    # `writes`: a SELECT that writes all the same, through data-modifying CTEs (records.create_once).
    if state.is_insert or state.is_update or state.is_delete or state.execution_options.get("writes"):
        state.session.info["wrote"] = True


def unit_of_work(view):
    """The one commit of a request, at its edge: after the view succeeded, if it wrote anything
    (a change, or an access-log entry of a read); on any error, a rollback. Services only flush."""
    @functools.wraps(view)
    def run(*args, **kwargs):
        session = current_app.extensions["sqlalchemy"].session
        try:
            result = view(*args, **kwargs)
            if session.info.pop("wrote", False) or session.new or session.dirty or session.deleted:
                session.commit()
        except BaseException:
            session.info.pop("wrote", None)
            session.rollback()
            raise
        return result
    return run


class Blueprint(SmorestBlueprint):
    """flask-smorest Blueprint whose arguments parse with our Parser, and whose every view commits
    once at its edge (`unit_of_work`)."""

    ARGUMENTS_PARSER = Parser()

    def route(self, rule, **options):
        register = super().route(rule, **options)

        def decorator(view):
            # MethodView.as_view applies `decorators` in order, the last outermost: the commit runs
            # inside rate limits, so a limit that counts failures sees a failed commit as one.
            view.decorators = [unit_of_work, *getattr(view, "decorators", ())]
            # Generated clients name their functions after operationIds: "getCheckInById", not
            # "get_v1_checkins_checkin_id". View classes are unique across the API (a test holds it).
            for method in view.methods:
                function = getattr(view, method.lower())
                apidoc = getattr(function, "_apidoc", {})
                apidoc.setdefault("manual_doc", {}).setdefault("operationId", method.lower() + view.__name__)
                function._apidoc = apidoc
            return register(view)
        return decorator

    def arguments(self, schema, **kwargs):
        # Given a Schema class, webargs builds a new instance on every request, deep-copying each
        # field (a seventh of a check-in create's CPU); one instance built here serves them all,
        # as flask-smorest already does for response schemas.
        return super().arguments(schema() if isinstance(schema, type) else schema, **kwargs)


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


class Integer(ma.fields.Integer):
    """A JSON integer. marshmallow's own, meant for query strings too, loads 1.5 as 1 and "5" as 5;
    this one refuses both, and takes 5.0, which JSON Schema counts as the integer 5."""

    def _validated(self, value):
        if isinstance(value, str) or (isinstance(value, float) and not value.is_integer()):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Boolean(ma.fields.Boolean):
    """A JSON boolean: marshmallow's own, meant for query strings too, also loads 1, "yes" and "on"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Number(ma.fields.Float):
    """A JSON number: unlike marshmallow's Float, never a string such as "2.5"."""

    def _validated(self, value):
        if isinstance(value, str):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def refused(*details):
    """Words for a description: the rules JSON Schema cannot state (an instant's bounds, one field
    against another, a zone the tz database knows), each as the `detail` of the 422 that refuses it.
    tests/test_schemathesis.py holds every rule its fuzzing meets to being written so."""
    return "Refused (422) beyond the schema: " + " ".join(f'"{detail}"' for detail in details)


NOT_BEFORE_2000 = "Must not be before 2000-01-01."
NOT_IN_THE_FUTURE = "Must not be in the future."
UNTIL_AFTER_SINCE = "Must be after `since`."
NOT_A_CURSOR = "Not a valid cursor."


# C0 control characters and DEL, except tab and line breaks. PostgreSQL cannot store NUL in text.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class Text(ma.fields.String):
    """Free text that every database stores as sent: no control characters but tab and line breaks,
    and no unpaired UTF-16 surrogates (JSON escapes can carry them; UTF-8 cannot encode them)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.insert(0, ma.validate.Regexp(
            NO_CONTROL_CHARACTERS, error="Must not contain control characters other than tab and line breaks."))

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            value.encode()
        except UnicodeEncodeError:
            raise self.make_error("invalid_utf8") from None
        return value


class WallClockTime(ma.fields.Time):
    """A local time of day written HH:MM, e.g. 07:30."""

    PATTERN = HHMM_PATTERN

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"pattern": self.PATTERN, **kwargs.get("metadata", {})}
        super().__init__(format="%H:%M", **kwargs)
        self.error_messages["invalid"] = "Must be a time of day as HH:MM, e.g. 07:30."

    def _deserialize(self, value, attr, data, **kwargs):
        # strptime would also take 7:5 for 07:05.
        if not isinstance(value, str) or not re.fullmatch(self.PATTERN, value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Instant(ma.fields.AwareDateTime):
    """An RFC 3339 instant that must carry an offset; loaded as UTC, dumped as UTC with 'Z'."""

    def __init__(self, *, past_only=True, rules=(), **kwargs):
        metadata = kwargs.setdefault("metadata", {})
        metadata.setdefault("description", "RFC 3339 with offset, e.g. 2026-11-25T08:30:00+01:00")
        if not kwargs.get("dump_only"):
            metadata["description"] += ". " + refused(
                *rules, NOT_BEFORE_2000, *([NOT_IN_THE_FUTURE + " (more than a day ahead)"] if past_only else []))
        super().__init__(format="iso", **kwargs)
        self.error_messages["invalid_awareness"] = self.error_messages["invalid"] = (
            "Must be an RFC 3339 timestamp with an offset, e.g. 2026-11-25T08:30:00+01:00.")
        self.past_only = past_only

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            value = super()._deserialize(value, attr, data, **kwargs).astimezone(dt.timezone.utc)
        except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00: in UTC, past the end of year 9999
            raise ma.ValidationError("Out of range.") from None
        if value < EARLIEST_INSTANT:
            raise ma.ValidationError(NOT_BEFORE_2000)
        if self.past_only and value > utcnow() + CLOCK_SKEW_ALLOWED:
            raise ma.ValidationError(NOT_IN_THE_FUTURE)
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
            if not isinstance(instant, str) or not isinstance(record_id, str):
                raise ValueError("cursor parts must be strings")
            instant = dt.datetime.fromisoformat(instant)
            if instant.tzinfo is None:
                raise ValueError("naive")
            return instant, uuid.UUID(record_id)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
            raise ma.ValidationError(NOT_A_CURSOR) from None


class CursorField(ma.fields.String):
    """A `cursor` query parameter, decoded into (instant, id)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return Cursor.decode(super()._deserialize(value, attr, data, **kwargs))


class RangeQuerySchema(Schema):
    """Time range and keyset page of a newest-first list."""

    since = Instant(past_only=False, metadata={"description": "Only items at or after this instant"})
    until = Instant(past_only=False, rules=[UNTIL_AFTER_SINCE], metadata={"description": "Only items before this instant"})
    cursor = CursorField(metadata={"description": "`next_cursor` of the previous page, as it was sent. "
                                                  + refused(NOT_A_CURSOR)})
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, 200))

    @ma.validates_schema
    def _range_in_order(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ma.ValidationError(UNTIL_AFTER_SINCE, "until")


def answer_schema(name, written_with, **answered_only):
    """The schema of a record as the API answers it: the fields it is written with (`written_with`,
    its create schema) and those only the server sets, every one in every answer (null when unset).
    So each is required in the contract, and generated clients never type a field of a record they
    read as maybe missing, nor a field with a default as one a create must send."""
    fields = {}
    every = {**written_with._declared_fields, **answered_only}
    id_first = {"id": every["id"]} if "id" in every else {}  # as every listing and export shows it
    for key, field in {**id_first, **every}.items():
        field = copy.copy(field)
        field.required, field.load_default = True, ma.missing
        fields[key] = field
    return type(name, (Schema,), fields)


def patch_schema(schema_class):
    """`schema_class` for a PATCH body: any top-level field may be left out, but a nested object that
    is sent must be whole (`partial=True` would reach into nested schemas as well)."""
    return schema_class(partial=tuple(schema_class().load_fields))


def page_schema(item_schema):
    """Response schema `{items: [...], next_cursor}` for a list of `item_schema`."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return type(name, (Schema,), {
        "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
        "next_cursor": ma.fields.String(required=True, allow_none=True),
    })
