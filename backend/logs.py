"""Request log lines without secrets: a clinician report link's token is a key to a person's
report, and anyone who reads an access log could open it. Both servers that log requests have
their lines redacted here: werkzeug's (`careloop run`) through a logging filter, gunicorn's (the
Dockerfile) through its logger class (`--logger-class backend.logs.GunicornLogger`)."""

import logging
import re

from gunicorn.glogging import Logger

# /r/<token> anywhere in a line (request line, path, referrer); the token is the only secret in a URL.
# The pages' own files live under /r/assets/.
REPORT_TOKEN = re.compile(r"(/r/)(?!assets/)[^/?#\s\"']+")
REDACTED = r"\1[redacted]"


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
    """gunicorn's logger, with the access log's request line, path, query and referrer redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f"):
            atoms[key] = redact(atoms.get(key))
        return atoms
