"""The schema comes from Alembic migrations only, and the migrations agree with the models."""

import datetime as dt
import uuid

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


def _database_for_migrations(tmp_path):
    """A new, empty database of the kind this run uses: a SQLite file, or one on the PostgreSQL server."""
    from tests.conftest import database_kind
    from tests.postgres import postgres_server_url

    if database_kind() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrating.sqlite3'}"
        return
    admin = sa.create_engine(postgres_server_url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"careloop_migrating_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield postgres_server_url().set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def test_0006_turns_push_deliveries_into_subjects_and_rounds_and_back(tmp_path):
    """Deliveries written before 0006 (a reminder, its first snooze, a prompt) keep what they were about."""
    from flask_migrate import downgrade, upgrade

    from backend import close_app, create_app

    ids = {name: uuid.uuid4() for name in ("user", "device", "schedule", "occurrence", "prompt")}
    now = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    for url in _database_for_migrations(tmp_path):
        app = create_app({"TESTING": True, "DATABASE_URL": url})
        with app.app_context():
            upgrade(revision="0005")
            with db.engine.begin() as connection:
                value = (lambda u: u.hex) if connection.dialect.name == "sqlite" else (lambda u: u)
                p = {name: value(key) for name, key in ids.items()} | {"now": now}
                for statement in (
                        "INSERT INTO users (id, firebase_uid, timezone, notification_privacy, created_at, updated_at) "
                        "VALUES (:user, 'u', 'UTC', 'discreet', :now, :now)",
                        "INSERT INTO devices (id, user_id, token, platform, active, last_seen_at, created_at) "
                        "VALUES (:device, :user, 'token', 'android', true, :now, :now)",
                        "INSERT INTO reminder_schedules (id, user_id, kind, times, days, active, created_at, updated_at, "
                        "alert_caregivers) VALUES (:schedule, :user, 'checkin', '[\"09:00\"]', '[\"mon\"]', true, :now, "
                        ":now, false)",
                        "INSERT INTO reminder_occurrences (id, schedule_id, user_id, kind, local_date, local_time, due_at, "
                        "send_after, status, snooze_count, created_at) VALUES (:occurrence, :schedule, :user, 'checkin', "
                        "'2026-11-01', '09:00', :now, :now, 'sent', 1, :now)",
                        "INSERT INTO prompts (id, user_id, rule, subject, severity, dedupe_key, message, evidence, "
                        "created_at, push_status, push_after, alert_caregivers) VALUES (:prompt, :user, 'liver', 'liver', "
                        "'high', 'k', 'm', '{}', :now, 'sent', :now, true)"):
                    connection.execute(sa.text(statement), p)
                for purpose, occurrence, prompt in (("reminder", p["occurrence"], None),
                                                    ("snooze-1", p["occurrence"], None), ("prompt", None, p["prompt"])):
                    connection.execute(sa.text(
                        "INSERT INTO push_deliveries (id, occurrence_id, prompt_id, device_id, purpose, status, attempts, "
                        "expires_at, created_at, updated_at) VALUES (:id, :occurrence, :prompt, :device, :purpose, "
                        "'sent', 1, :now, :now, :now)"), {**p, "id": value(uuid.uuid4()), "occurrence": occurrence,
                                                         "prompt": prompt, "purpose": purpose})
            upgrade()
            with db.engine.connect() as connection:
                after = sorted((purpose, rounds, str(uuid.UUID(str(subject))), str(uuid.UUID(str(about))))
                               for purpose, rounds, subject, about in connection.execute(sa.text(
                                   "SELECT purpose, round, subject_id, about_user_id FROM push_deliveries")))
            user, occurrence, prompt = (str(ids[name]) for name in ("user", "occurrence", "prompt"))
            assert after == [("prompt", 0, prompt, user), ("reminder", 0, occurrence, user),
                             ("reminder", 1, occurrence, user)]
            downgrade(revision="0005")
            with db.engine.connect() as connection:
                before = sorted((purpose, o and str(uuid.UUID(str(o))), q and str(uuid.UUID(str(q))))
                                for purpose, o, q in connection.execute(sa.text(
                                    "SELECT purpose, occurrence_id, prompt_id FROM push_deliveries")))
            assert before == [("prompt", None, prompt), ("reminder", occurrence, None), ("snooze-1", occurrence, None)]
        close_app(app)
