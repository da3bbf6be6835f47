"""Statements every feature writes the same way: inserts that let a unique key decide, and claims
of work rows that any number of processes can take side by side."""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from backend.errors import NotFound
from backend.extensions import db


def insert_ignoring_duplicates(model, rows):
    """INSERT … ON CONFLICT DO NOTHING: the unique key, not the caller, decides what exists.

    Core, as insert_rows: every row must name the same columns."""
    if not rows:
        return
    db.session.execute(_insert(model.__table__).on_conflict_do_nothing(), rows)


def update_rows(model, rows):
    """UPDATE each row's named columns where its `id` matches, as the driver's executemany (PostgreSQL:
    one pipeline). Core, not the ORM's bulk update by primary key (its per-row bookkeeping was a
    tenth of pushing a reminder), so every row must name the same columns."""
    if not rows:
        return
    table = model.__table__
    db.session.execute(sa.update(table).where(table.c.id == sa.bindparam("row_id")),
                       [{"row_id": row["id"], **{k: v for k, v in row.items() if k != "id"}} for row in rows])


def insert_once(model, row):
    """Insert one row unless its unique key exists; returns the new ORM object, or None."""
    return db.session.scalar(_insert(model).values(**row).on_conflict_do_nothing().returning(model))


def insert_rows(model, rows):
    """Plain INSERT of many rows, as the driver's executemany (PostgreSQL: one pipeline).

    Core, not the ORM's bulk insert (twice the Python per row), so every row must name the same
    columns: a column some rows leave out gets its default in those rows, as the ORM would give it.
    """
    if not rows:
        return
    table = model.__table__
    names = set().union(*rows)
    missing = {}
    for row in rows:
        for name in names.difference(row):
            if name not in missing:
                missing[name] = _default(table.c[name])
            row[name] = missing[name]()
    db.session.execute(sa.insert(table), rows)


def with_defaults(table, row):
    """`row` and the Python-side defaults of the columns it leaves out (an INSERT … SELECT, which
    names its columns itself)."""
    missing = {column.name: _default(column)() for column in table.c
               if column.name not in row and column.default is not None and not column.default.is_sequence}
    return {**row, **missing}


def _default(column):
    """A function giving the column's Python-side default (None when it has none)."""
    default = column.default
    if default is None:
        return lambda: None
    if default.is_callable:
        return lambda: default.arg(None)
    return lambda: default.arg


def dialect():
    """The name of the database the session talks to: `postgresql` or `sqlite`."""
    return db.session.get_bind().dialect.name


def _insert(model):
    return (postgresql.insert if dialect() == "postgresql" else sqlite.insert)(model)


def delete_older(model, column, before, batch_size, *conditions):
    """Delete up to `batch_size` rows of `model` whose `column` is before `before` (and that meet
    `conditions`); returns how many. A batch at a time, so a retention pass never holds a long lock."""
    doomed = sa.select(model.id).where(column < before, *conditions).limit(batch_size)
    result = db.session.execute(sa.delete(model).where(model.id.in_(doomed.scalar_subquery()))
                                .execution_options(synchronize_session=False))
    return result.rowcount


def claim(query):
    """The rows of `query`, locked FOR UPDATE SKIP LOCKED (SQLite has one writer and ignores it).

    OF the claimed table only: a bare FOR UPDATE also locks eager-loaded rows (a reminder's
    schedule), so a person editing that reminder would wait for a whole FCM round trip.
    """
    claimed = query.column_descriptions[0]["entity"]
    return db.session.scalars(query.with_for_update(of=claimed, skip_locked=True)).unique().all()


def owned(model, user, record_id, *, owner="user_id"):
    """The user's row of `model` with this id, or 404 for anything else: another person's id reveals
    nothing, and a tombstone (a row with `deleted_at`) is gone."""
    row = db.session.get(model, record_id)
    if row is None or getattr(row, owner) != user.id or getattr(row, "deleted_at", None) is not None:
        raise NotFound(f"No {model.noun} with this id.")
    return row
