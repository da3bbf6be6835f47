"""SQLite for the embedded default: enforced foreign keys, WAL, a writer wait, real savepoints."""

import sqlalchemy as sa

from backend.extensions import db


def _on_connect(dbapi_connection, connection_record):
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that SAVEPOINT
    # (used for idempotent creates) nests inside the request's transaction instead of ending it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the API read while the in-process jobs write; wait instead of failing on a lock.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _on_begin(connection):
    # IMMEDIATE takes the write lock up front: a transaction that reads and then writes can
    # then never fail half-way because another writer got in between (SQLITE_BUSY_SNAPSHOT).
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def init_app(app):
    with app.app_context():
        engine = db.engine
        if not sa.event.contains(engine, "connect", _on_connect):
            sa.event.listen(engine, "connect", _on_connect)
            sa.event.listen(engine, "begin", _on_begin)
