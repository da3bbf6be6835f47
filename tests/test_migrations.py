"""The schema comes from Alembic migrations only, and the migrations agree with the models."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.extensions import db


def test_migrations_match_the_models(app_context):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_db_upgrade_builds_a_fresh_sqlite_file(app, tmp_path, monkeypatch):
    from backend import create_app

    path = tmp_path / "fresh.sqlite3"
    fresh = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}"})
    result = fresh.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(f"sqlite:///{path}")
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert {"users", "devices", "checkins", "doses", "alembic_version"} <= tables
    ready = fresh.test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.json["status"] == "ok"


def test_readyz_reports_a_database_behind_the_migrations(tmp_path):
    from backend import create_app

    empty = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"})
    response = empty.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert "careloop db upgrade" in response.json["detail"]
