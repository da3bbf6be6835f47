"""Liveness and readiness probes."""

import logging

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask.views import MethodView

from backend.api import Blueprint, Schema
from backend.errors import Problem
from backend.extensions import db, limiter

import marshmallow as ma

log = logging.getLogger(__name__)

blp = Blueprint("ops", __name__, description="Health probes")


class NotReady(Problem):
    status, title, slug = 503, "Service Unavailable", "not-ready"


class HealthSchema(Schema):
    status = ma.fields.String(required=True)
    database = ma.fields.String()
    migration = ma.fields.String(allow_none=True)
    rate_limits = ma.fields.String(metadata={
        "description": "`shared` (Redis answers), `degraded` (Redis out of reach: each process limits on its "
                       "own) or `local` (no REDIS_URL: one process)"})


def head_revisions():
    """Alembic heads of the migrations shipped with this code (read once)."""
    heads = current_app.extensions.get("careloop_migration_heads")
    if heads is None:
        script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
        heads = current_app.extensions["careloop_migration_heads"] = set(script.get_heads())
    return heads


@blp.route("/healthz")
class Healthz(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    def get(self):
        """The process is alive."""
        return {"status": "ok"}


@blp.route("/readyz")
class Readyz(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self):
        """The database answers and its schema is at the migrations' head."""
        try:
            with db.engine.connect() as connection:
                current = set(MigrationContext.configure(connection).get_current_heads())
        except sa.exc.SQLAlchemyError as error:
            log.warning("readiness: database unreachable (%s)", type(error).__name__)
            raise NotReady("The database is unreachable.") from None
        if current != head_revisions():
            raise NotReady("The database schema is not at the latest migration; run `careloop db upgrade`.")
        return {"status": "ok", "database": "ok", "migration": ",".join(sorted(current)),
                "rate_limits": rate_limit_state()}


def rate_limit_state():
    """Whether rate limits are shared between processes: Redis out of reach degrades them, it does
    not make the service unready (limits fall back to each process's memory)."""
    if not current_app.config.get("REDIS_URL"):
        return "local"
    try:
        return "shared" if limiter.storage.check() else "degraded"
    except Exception:  # noqa: BLE001 (a storage's own connection errors)
        return "degraded"
