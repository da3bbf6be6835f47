"""Log lines: plain text for a person at a terminal, or one JSON object per line for a log collector
(CARELOOP_LOG_FORMAT), in every process: `careloop run`, `careloop jobs` and gunicorn's workers
(the app's own lines) and gunicorn itself (its error and access logs, `--logger-class
backend.logs.GunicornLogger`, set in backend/gunicorn_conf.py).

Without secrets: a clinician report link's token is a key to a person's report, and anyone who reads
an access log could open it. Both servers that log requests have their lines redacted here:
werkzeug's (`careloop run`) through a logging filter, gunicorn's through its logger class. A JSON
line gives an exception's type and where it was raised, never its message (a driver's message can
quote people's data)."""

import datetime as dt
import json
import logging
import os
import re

from flask import has_request_context
from gunicorn.glogging import Logger

from backend.config import log_format
from backend.errors import request_id, where

# /r/<token> anywhere in a line (request line, path, referrer); the token is the only secret in a URL.
# The pages' own files live under /r/assets/.
REPORT_TOKEN = re.compile(r"(/r/)(?!assets/)[^/?#\s\"']+")
REDACTED = r"\1[redacted]"

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def init_app(app):
    """This process's log lines, in the app's CARELOOP_LOG_FORMAT, on stderr; a process whose root
    logger already has a handler (gunicorn with a log configuration, a test runner) keeps it."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(formatter(app.config["CARELOOP_LOG_FORMAT"]))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        if app.config["CARELOOP_LOG_FORMAT"] == "json":
            # A library's warning would otherwise be printed as plain text between the JSON lines.
            logging.captureWarnings(True)
    # One line per job run every ten seconds is noise; our jobs log what they did.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    redact_werkzeug_log()


def formatter(name):
    return JsonFormatter() if name == "json" else logging.Formatter(PLAIN_FORMAT)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, RFC 3339), level, logger, message (report-link tokens
    redacted, whoever logged it), and request_id when logged while answering a request (the id its
    X-Request-Id response header carries); for an exception, its type and where it was raised, never
    its message."""

    def format(self, record):
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **self.fields(record),
        }
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            entry["exception"] = type(error).__name__
            entry["where"] = where(error)
        return json.dumps(entry, default=str)

    def fields(self, record):
        """The fields a line adds to the common ones."""
        return {"request_id": request_id()} if has_request_context() else {}


class AccessJsonFormatter(JsonFormatter):
    """gunicorn's access lines: the redacted request line as the message, and the request's id (its
    X-Request-Id response header), method, path, status and duration as fields."""

    def fields(self, record):
        atoms = record.args  # gunicorn logs its access format with the atoms as the one mapping argument
        fields = {"remote_addr": atoms["h"], "method": atoms["m"], "path": atoms["U"], "status": int(atoms["s"]),
                  "duration_ms": atoms["M"]}
        if atoms["{x-request-id}o"] != "-":  # gunicorn's own answers (a malformed request) carry none
            fields["request_id"] = atoms["{x-request-id}o"]
        return fields


def redact(text):
    return REPORT_TOKEN.sub(REDACTED, text) if isinstance(text, str) else text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message arguments (werkzeug logs the request line as one of them)."""

    def filter(self, record):
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) for arg in record.args)
        record.msg = redact(record.msg)
        return True


def redact_werkzeug_log():
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


class GunicornLogger(Logger):
    """gunicorn's logger, with the access log's request line, path, query and referrer redacted, and
    its error and access lines JSON objects when CARELOOP_LOG_FORMAT says json (it runs before any
    app, so it reads the environment)."""

    def setup(self, cfg):
        super().setup(cfg)
        if log_format(os.environ) == "json":
            for handler in self.error_log.handlers:
                handler.setFormatter(JsonFormatter())
            for handler in self.access_log.handlers:
                handler.setFormatter(AccessJsonFormatter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f"):
            atoms[key] = redact(atoms.get(key))
        return atoms
