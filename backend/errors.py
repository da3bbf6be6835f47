"""Domain errors and the single RFC 9457 problem+json rendering of every error."""

import logging
import re
import threading
import time
import traceback
import uuid

import sqlalchemy as sa
from flask import current_app, g, json, request
from werkzeug.exceptions import HTTPException, InternalServerError

PROBLEM_MIMETYPE = "application/problem+json"
PROBLEM_BASE = "https://careloop.app/problems/"

log = logging.getLogger(__name__)

# How long the database may be away before a phone tries again, and how often an outage is logged.
RETRY_AFTER_SECONDS = 5
OUTAGE_LOG_INTERVAL = 30.0
# Errors that may say the database (or the pool in front of it) cannot be reached right now, as
# opposed to a statement that failed: then the request is answered 503 and nothing of it was kept.
MAYBE_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
# SQLite reports a bad statement as an OperationalError too; only these mean "not now".
SQLITE_BUSY = ("database is locked", "database table is locked", "unable to open database", "disk i/o error")
# A request id a client or proxy sent is echoed only when it looks like one.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


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


class PreconditionFailed(Problem):
    """If-Match named a version that is no longer the record's: someone changed it in between."""

    status, title, slug = 412, "Precondition Failed", "precondition-failed"


class Unauthorized(Problem):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail=None):
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="careloop"'})


class AccountGone(Unauthorized):
    """The signed-in account no longer exists: deleted, from another of the person's devices, while
    this process still knew its id. Signing in again starts a new account."""

    slug = "account-deleted"

    def __init__(self, user_id):
        super().__init__("This account was deleted. Sign in again to start a new one.")
        self.user_id = user_id


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
    retry_after = dict(error.get_headers()).get("Retry-After")  # werkzeug's TooManyRequests(retry_after=…)
    if retry_after:
        headers["Retry-After"] = retry_after
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


class _OutageLog:
    """Logs a database outage once per interval (with how many requests it turned away since), not
    once per request: a 5 s cut under load would otherwise write thousands of lines."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last = None
        self._since = 0

    def reset(self):
        """Start afresh, as if no outage had been reported (tests)."""
        with self._lock:
            self._last, self._since = None, 0

    def note(self, error):
        now = time.monotonic()
        with self._lock:
            self._since += 1
            if self._last is not None and now - self._last < OUTAGE_LOG_INTERVAL:
                return
            turned_away, self._since, self._last = self._since, 0, now
        # The type only: a driver's message can quote the statement's values.
        log.warning("database unavailable (%s): answering 503; %d request(s) turned away since the last report",
                    type(getattr(error, "orig", None) or error).__name__, turned_away)


outages = _OutageLog()


def unavailable(error):
    """Whether a database error means "cannot be reached right now" rather than "this statement failed"."""
    if isinstance(error, (sa.exc.TimeoutError, sa.exc.InterfaceError)) or error.connection_invalidated:
        return True
    orig = getattr(error, "orig", None)
    if type(orig).__module__.startswith("sqlite3"):
        return str(orig).lower().startswith(SQLITE_BUSY)
    return True  # psycopg's OperationalError: connection lost or refused, statement cancelled, lock timeout


def handle_unavailable(error):
    """The database cannot be reached: 503 with Retry-After; the unit of work kept nothing, so the
    phone's retry (idempotent on its client ids) is safe."""
    if not unavailable(error):
        return handle_unexpected(error)
    outages.note(error)
    return problem_response(503, "Service Unavailable", "The service is briefly unavailable: try again shortly.",
                            slug="unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def handle_unexpected(error):
    """Anything else is a 500 with no details leaked. The log gets the exception's type, the request
    id and where it happened, never its message: messages of drivers and libraries quote values
    (PostgreSQL's "Failing row contains (…)" holds a check-in's note)."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.error("unhandled %s on %s %s (request %s)\n%s", type(error).__name__, request.method, request.url_rule,
              request_id(), where(error))
    return handle_http_exception(InternalServerError())


def where(error, frames=8):
    """Where an exception was raised, as the last frames of its traceback, without its message (which
    can quote people's data): what every log line about an unexpected failure shows."""
    return "".join(traceback.format_tb(error.__traceback__)[-frames:]).rstrip()


def request_id():
    """The current request's id: the client's X-Request-Id when it looks like one, else a new one."""
    if "request_id" not in g:
        sent = request.headers.get("X-Request-Id", "")
        g.request_id = sent if REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    return g.request_id


def _send_request_id(response):
    response.headers["X-Request-Id"] = request_id()
    return response


def end_session(exc):
    """End the request's database session (before Flask-SQLAlchemy's teardown, which then has
    nothing left to do). A read commits nothing, so its transaction is still open here: ending it on
    a connection lost since its last statement raises, and from a teardown that turns an answer
    already made into the server's bare 500. Nothing of a read needs keeping, and the database
    rolls back a dropped connection's transaction itself: the connection is let go instead."""
    session = current_app.extensions["sqlalchemy"].session
    try:
        session.remove()
    except MAYBE_UNAVAILABLE as error:
        if not unavailable(error):
            raise
        session().invalidate()
        session.remove()


def init_app(app):
    app.register_error_handler(Problem, handle_problem)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(sa.exc.IntegrityError, handle_integrity_error)
    for error in MAYBE_UNAVAILABLE:
        app.register_error_handler(error, handle_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
    app.after_request(_send_request_id)
    # Registered after the extensions, so it runs before Flask-SQLAlchemy's own teardown.
    app.teardown_appcontext(end_session)
