"""Careloop: the backend of a check-in, dose-log, reminder and sharing app."""

from pathlib import Path

from flask import Flask

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(config=None):
    """Application factory: config → logging → extensions → blueprints → errors → CLI."""
    from backend import cli, errors, logs, metrics, models  # noqa: F401  (models: every table in the metadata)
    from backend.config import load_config

    from backend import registry, wiring
    from backend.accounts import auth
    from backend.api import MarshmallowPlugin, schema_name
    from backend.extensions import api, db, limiter, migrate
    from backend.web.routes import bp as web_pages

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(load_config(app.instance_path, config))
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    logs.init_app(app)
    if app.config["CARELOOP_TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix
        hops = app.config["CARELOOP_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    app.json.sort_keys = False
    api.init_app(app, spec_kwargs={
        "marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name),
        "components": {"securitySchemes": {"bearerAuth": {
            "type": "http", "scheme": "bearer", "bearerFormat": "Firebase ID token"}}},
        "security": [{"bearerAuth": []}],
        # Relative: the committed spec names no host; clients join it to the base URL they are given.
        "servers": [{"url": "/", "description": "The Careloop server this document came from"}],
        "info": {"license": {"name": "Proprietary: all rights reserved", "identifier": "LicenseRef-Proprietary"}},
    })
    auth.init_app(app)
    limiter.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from backend.sqlite import init_app as sqlite_init_app
        sqlite_init_app(app)

    registry.init_app(app, wiring.REGISTRY)
    register_blueprints(api)
    app.register_blueprint(web_pages)  # HTML pages: outside the JSON API and its spec
    errors.init_app(app)
    metrics.init_app(app)
    cli.init_app(app)
    return app


def close_app(app):
    """Release what an app made for itself: its database connections, its push transport and its
    firebase-admin apps (tests and benchmarks that build many apps in one process)."""
    from backend.accounts import auth
    from backend.extensions import db
    from backend.push import transports

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    transports.close(app)
    auth.close(app)


def register_blueprints(api):
    from backend.accounts.routes import blp as accounts
    from backend.checkins.routes import blp as checkins
    from backend.doses.routes import blp as doses
    from backend.ops.routes import blp as ops
    from backend.push.routes import blp as devices
    from backend.reminders.routes import blp as reminders
    from backend.monitoring.routes import blp as monitoring
    from backend.mydata.routes import blp as mydata
    from backend.reports.routes import blp as reports
    from backend.sharing.routes import blp as sharing
    from backend.sync.routes import blp as sync

    for blueprint in (ops, accounts, devices, checkins, doses, reminders, sharing, monitoring, reports, mydata, sync):
        api.register_blueprint(blueprint)
