"""A throwaway PostgreSQL database at the migrations' head, for what only PostgreSQL can show (row
locks, concurrent transactions): used even in the SQLite pass, since CI machines always run one."""

import contextlib
import os
import uuid

import sqlalchemy as sa

from backend import close_app
from backend.config import normalise_database_url
from backend.extensions import db


def postgres_server_url():
    """The PostgreSQL server of TEST_DATABASE_URL when it names one, else the local default."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = "postgresql://postgres@127.0.0.1:5432/postgres"
    return sa.make_url(normalise_database_url(url)).set(database="postgres")


@contextlib.contextmanager
def app_on(url, **config):
    """An app (development settings, local push) on the database at `url`; closed afterwards."""
    from backend import create_app
    from backend.config import DEV_PROJECT_ID

    app = create_app({"TESTING": True, "CARELOOP_ENV": "development", "DATABASE_URL": url,
                      "FIREBASE_PROJECT_ID": DEV_PROJECT_ID, "CARELOOP_PUSH": "local", **config})
    try:
        yield app
    finally:
        close_app(app)


@contextlib.contextmanager
def own_postgres_app(prefix):
    """An app on a fresh PostgreSQL database of its own (even when the run is on SQLite)."""
    with own_postgres_database(prefix) as url, app_on(url) as app:
        yield app


@contextlib.contextmanager
def own_postgres_database(prefix):
    """A fresh PostgreSQL database at the migrations' head; yields its URL."""
    from flask_migrate import upgrade

    admin = sa.create_engine(postgres_server_url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    # Row locks are what these tests prove: they need PostgreSQL (CI machines always run one) and
    # fail loudly rather than skip when it is missing.
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    finally:
        admin.dispose()
    url = postgres_server_url().set(database=name).render_as_string(hide_password=False)
    try:
        with app_on(url) as app, app.app_context():
            upgrade()
            db.engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
