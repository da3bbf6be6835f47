"""Domain errors and the single RFC 9457 problem+json rendering of every error."""

import logging

import sqlalchemy as sa
from flask import current_app, json, request
from werkzeug.exceptions import HTTPException, InternalServerError

PROBLEM_MIMETYPE = "application/problem+json"
PROBLEM_BASE = "https://careloop.app/problems/"

log = logging.getLogger(__name__)


class Problem(Exception):
    """A domain failure that the API reports as problem+json with the given status."""

    status = 400
    title = "Bad Request"
    slug = None

    def __init__(self, detail=None, *, errors=None, headers=None, members=None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        # Extension members of the problem document (RFC 9457 §3.2), e.g. the record it is about.
        self.members = members or {}


class NotFound(Problem):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(Problem):
    status, title, slug = 409, "Conflict", "conflict"


class Unauthorized(Problem):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail=None):
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="careloop"'})


class InvalidInput(Problem):
    """A request that parsed but breaks a rule that needs more than one field or the database."""

    status, title, slug = 422, "Unprocessable Content", "validation-error"

    def __init__(self, field, message):
        super().__init__(message, errors=[{"pointer": f"#/{field}", "field": field, "detail": message}])


def problem_response(status, title, detail=None, *, slug=None, errors=None, headers=None, members=None):
    """Render one problem document (RFC 9457)."""
    body = {
        **(members or {}),
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    try:
        body["instance"] = request.path
    except RuntimeError:  # outside a request (CLI)
        pass
    response = current_app.response_class(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    response.headers.update(headers or {})
    return response


def _flatten(messages, path=()):
    """Yield (path, message) pairs from marshmallow's nested error dict."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, path + (str(key),))
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(item, str) for item in messages):
            for item in messages:
                yield path, item
        else:
            for item in messages:
                yield from _flatten(item, path)
    else:
        yield path, str(messages)


def validation_errors(messages):
    """Turn webargs' {location: {field: [msg]}} into RFC 9457 style error entries naming the field."""
    errors = []
    for location, fields in messages.items():
        for path, message in _flatten(fields):
            if location == "json":
                # A schema-level error belongs to the object it was raised for: the body or a nested one.
                path = tuple(part for part in path if part != "_schema")
                errors.append({"pointer": "#/" + "/".join(path), "field": ".".join(path) or None,
                               "detail": message})
            else:
                errors.append({"parameter": ".".join(path), "in": location, "detail": message})
    return errors


def handle_http_exception(error):
    """Render werkzeug's HTTP errors, including webargs validation failures, as problem+json."""
    data = getattr(error, "data", None) or {}
    errors = None
    detail = data.get("message")
    if "messages" in data:
        errors = validation_errors(data["messages"])
        detail = detail or "The request has invalid fields: " + ", ".join(
            sorted({e.get("field") or e.get("parameter") or "(body)" for e in errors}))
    if error.code == 500:
        detail = "An unexpected error occurred. It has been logged."
    elif detail is None and error.code != 404:
        detail = error.description
    headers = dict(data.get("headers") or {})
    if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    slug = "validation-error" if errors else None
    return problem_response(error.code, error.name, detail, slug=slug, errors=errors, headers=headers)


def handle_problem(error):
    """Render a domain Problem."""
    return problem_response(error.status, error.title, error.detail, slug=error.slug,
                            errors=error.errors, headers=error.headers, members=error.members)


def handle_integrity_error(error):
    """A write that breaks a uniqueness or reference rule of the database: the request conflicts
    with what is stored. Nothing of it was kept (the unit of work rolled back)."""
    log.info("integrity conflict on %s %s (%s)", request.method, request.url_rule,
             type(getattr(error, "orig", error)).__name__)
    return problem_response(409, "Conflict", "This conflicts with data already stored.", slug="conflict")


def handle_unexpected(error):
    """Anything else is a 500 with no details leaked; the traceback goes to the log only."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error on %s %s", request.method, request.url_rule)
    return handle_http_exception(InternalServerError())


def init_app(app):
    app.register_error_handler(Problem, handle_problem)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(sa.exc.IntegrityError, handle_integrity_error)
    app.register_error_handler(Exception, handle_unexpected)
