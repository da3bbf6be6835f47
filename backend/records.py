"""What the records a phone holds share: client ids, ownership, keyset pages, idempotent create,
tombstones, and the change numbers sync pulls by.

The phone app creates records offline under its own UUIDs and retries until it hears back, so a
create must be safe to repeat; sync needs deletions to leave a tombstone.

Change numbers: each person has one counter (`sync_counters`). A transaction that changes any of
their synced rows first takes the next number, an UPDATE that holds the counter's row lock until
it commits, and stamps every row it changes with it (`sync_seq`). Numbers are therefore given out
in commit order, and a pull that reads the committed counter `n` and then every row stamped
`<= n` can never skip a change committed concurrently: a later commit carries a higher number.
"""

import datetime as dt
import functools
import uuid

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from backend.api import Cursor
from sqlalchemy.dialects import postgresql, sqlite

from backend.database import dialect, insert_once, insert_rows, owned, with_defaults
from backend.errors import AccountGone, Conflict, NotFound, PreconditionFailed
from backend.extensions import db
from backend.sqltypes import UTCDateTime, utcnow


class ChangeCounter(db.Model):
    """A person's last change number: what a pull's `timestamp` says the phone has seen."""

    __tablename__ = "sync_counters"

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # Starts at 1: WatermelonDB refuses a sync timestamp of 0.
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=1)


FIRST_CHANGE = 1


def next_change(user_id):
    """The change number of this transaction's writes to the person's synced rows.

    Taken once per transaction (an upsert that bumps the counter and keeps its row locked until the
    commit), then reused: everything one transaction writes becomes visible at once, under one number.
    """
    taken = db.session.info.setdefault("change_numbers", {})
    if user_id not in taken:
        seq = db.session.scalar(_bump(dialect()), {"change_user_id": user_id})
        if seq is None:
            raise AccountGone(user_id)
        taken[user_id] = seq
    return taken[user_id]


@functools.cache
def _bump(dialect):
    """The statement that takes a person's next change number (`change_user_id`): an INSERT … SELECT
    of their counter that adds one on conflict, returning it; no row when the person no longer
    exists (a signed-in id known to a process may outlive an account deleted elsewhere: it never
    writes). Built once: statements are reused with new parameters."""
    counters, users = ChangeCounter.__table__, db.metadata.tables["users"]
    user_id = sa.bindparam("change_user_id", type_=counters.c.user_id.type)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (insert(counters)
            .from_select(["user_id", "seq"], sa.select(user_id, sa.literal(FIRST_CHANGE + 1, sa.BigInteger))
                         .where(sa.exists().where(users.c.id == user_id)))
            .on_conflict_do_update(index_elements=["user_id"], set_={"seq": counters.c.seq + 1})
            .returning(counters.c.seq))


def last_change(user_id):
    """The person's committed change number: the cursor a pull hands out."""
    seq = db.session.scalar(sa.select(ChangeCounter.seq).where(ChangeCounter.user_id == user_id))
    return seq or FIRST_CHANGE


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget_change_numbers(session, *args):
    session.info.pop("change_numbers", None)


class Synced:
    """Mixin for rows a phone holds: every change stamps them with the person's next change number."""

    sync_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    # Columns the server moves on its own and a phone does not hold (a reminder's next fire):
    # changing only these does not make the row part of the next pull.
    quiet_columns: tuple = ()


@event.listens_for(Session, "before_flush")
def _stamp_changes(session, flush_context, instances):
    """Stamp every synced row this flush inserts or changes: no write path can forget the counter."""
    for row in session.new:
        if isinstance(row, Synced):
            row.sync_seq = next_change(row.user_id)
    for row in session.dirty:
        if isinstance(row, Synced) and _changed(row):
            row.sync_seq = next_change(row.user_id)


def _changed(row):
    """Whether a column a phone holds changed. Only the attributes set since the row was loaded
    (the state's committed_state) are asked for their history: asking all of them, for each of a
    batch of 500 schedules whose next fire moved, was a fifth of materialising their reminders."""
    state = sa.inspect(row)
    quiet = set(row.quiet_columns) | {"sync_seq"}
    return any(state.attrs[key].history.has_changes() for key in state.committed_state if key not in quiet)


class ClientRecord(Synced):
    """Mixin for rows the phone creates under a client-generated UUID and syncs later."""

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @declared_attr
    def user_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))

    # Each record type names the instant it is listed by (recorded_at, taken_at).
    sort_column_name: str
    # How errors name the record ("check-in", "dose"), and where the API serves the collection.
    noun: str
    api_path: str
    # Columns cleared when the record becomes a tombstone: free text and answers.
    scrub_on_delete: tuple = ()

    @property
    def etag(self):
        """The record's version: the change number it was last written under (see Synced)."""
        return f'"{self.sync_seq}"'


def check_version(record, expected):
    """Refuse (412) a change based on a version of the record that is no longer its own."""
    if expected is not None and "*" not in expected and record.etag not in expected:
        raise PreconditionFailed("This record was changed since you read it: read it again, then change it.",
                                 headers={"ETag": record.etag})


def create_once(model, user, data, on_create=None, along=()):
    """Insert a record under its client id; a retry of the same create returns the stored record,
    and the same id with other content is a 409 that names the fields and the record's URL.

    `on_create(record)` runs only when this call inserted it (a retry records no second event);
    so are the `along` rows, `(table, row)` pairs such as the record's outbox event.

    One INSERT … ON CONFLICT DO NOTHING RETURNING: the stored record is read only when the id
    exists already (retries are rare, and a look-up first would cost every create a query). On
    PostgreSQL the change number and the `along` rows go in the same statement (`_insert_new`).
    """
    existing = db.session.identity_map.get(db.session.identity_key(model, data["id"]))
    if existing is None:
        record = _insert_new(model, {**data, "user_id": user.id}, along)
        if record is not None:
            if on_create is not None:
                on_create(record)
            return record
        # Stored before, by an earlier try or a concurrent retry: answer with that one.
        existing = db.session.get(model, data["id"], populate_existing=True)
        if existing is None:  # no change number was taken (the account is gone), or removed just now
            users = db.metadata.tables["users"]
            if db.session.scalar(sa.select(users.c.id).where(users.c.id == user.id)) is None:
                raise AccountGone(user.id)
            raise Conflict("A record with this id was just removed.")
    if existing.user_id != user.id:
        raise Conflict("A record with this id already exists.")
    if existing.deleted_at is not None:
        raise Conflict("The record with this id was deleted.")
    differing = [name for name, value in data.items() if getattr(existing, name) != value]
    if differing:  # not a retry but a correction: the phone must not believe it was saved
        location = f"{model.api_path}/{existing.id}"
        raise Conflict(
            "A record with this id was stored before with other content: change it with PATCH at its URL.",
            errors=[{"pointer": f"#/{name}", "field": name, "detail": "Differs from the stored record."}
                    for name in differing],
            headers={"Location": location}, members={"record": location})
    return existing


def _insert_new(model, row, along):
    """Insert `row` under the person's change number unless its id exists, and then the `along`
    rows; returns the new ORM object, or None.

    PostgreSQL: one statement and one round trip, whose data-modifying CTEs take the change
    number, insert the record, and insert each `along` row for each record inserted (none on a
    retry). A create is then one statement and the commit. Elsewhere (SQLite, in-process): one
    statement each.
    """
    user_id = row["user_id"]
    if dialect() != "postgresql":
        record = insert_once(model, {**row, "sync_seq": next_change(user_id)})
        if record is not None:
            for table, extra in along:
                db.session.execute(sa.insert(table), [extra])
        return record
    taken = db.session.info.setdefault("change_numbers", {})
    statement, columns = _create_statement(model, tuple(table for table, _ in along), user_id in taken)
    params = {"change_seq": taken.get(user_id), "change_user_id": user_id}
    for prefix, table, values in (("r", model.__table__, row), *((f"a{n}", table, extra)
                                                                 for n, (table, extra) in enumerate(along))):
        values = with_defaults(table, values)
        params.update({f"{prefix}_{name}": values.get(name) for name in columns[prefix]})
    record = db.session.scalars(statement, params).first()
    if record is not None:
        taken[user_id] = record.sync_seq  # the number this transaction's other writes reuse
    return record


@functools.lru_cache(maxsize=64)
def _create_statement(model, along_tables, numbered):
    """`_insert_new`'s statement for a model and the tables of its `along` rows, built once (its
    construction cost more than the database's work) with every value a named parameter: the
    change number (`change_seq` when this transaction has one, else the bump's `change_user_id`),
    `r_<column>` for the record and `a<n>_<column>` for each along row. Returns it and the
    columns each prefix binds."""
    if numbered:
        change = sa.select(sa.bindparam("change_seq", type_=sa.BigInteger).label("seq")).cte("change")
    else:
        change = _bump("postgresql").cte("change")
    table = model.__table__
    columns = {"r": [column.name for column in table.c if column.name != "sync_seq"]}
    created = (postgresql.insert(table)
               .from_select([*columns["r"], "sync_seq"],
                            sa.select(*_parameters("r", table, columns["r"]), change.c.seq), include_defaults=False)
               .on_conflict_do_nothing().returning(*table.c).cte("created"))
    statement = sa.select(created)
    for n, other in enumerate(along_tables):
        prefix = f"a{n}"
        columns[prefix] = [column.name for column in other.c if column is not other.autoincrement_column]
        statement = statement.add_cte(
            sa.insert(other).from_select(columns[prefix], sa.select(*_parameters(prefix, other, columns[prefix]))
                                         .select_from(created), include_defaults=False)
            .cte(f"along_{n}"))
    return sa.select(model).from_statement(statement).execution_options(writes=True), columns


def _parameters(prefix, table, names):
    return [sa.bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in names]


def create_many(model, user, rows, on_create=None):
    """Insert many new records under their client ids, as one batch of rows.

    The caller has looked them up under the person's change counter and found none: a concurrent
    insert of one of these ids (only someone else can make one then) fails the whole statement
    with an IntegrityError, a 409, and nothing is half-written. `on_create(ids)` runs for them.
    Returns their ids, in order.
    """
    if not rows:
        return []
    seq = next_change(user.id)
    now = utcnow()
    insert_rows(model, [{"created_at": now, "updated_at": now, **row, "user_id": user.id, "sync_seq": seq}
                        for row in rows])
    inserted = [row["id"] for row in rows]
    if on_create is not None:
        on_create(inserted)
    return inserted


def update_owned(model, user, record_id, changes, on_change=None, expected=None):
    """Apply a partial update to the user's live record; `on_change(record)` runs if it changed.
    `expected`: the versions (If-Match) the change may apply to."""
    record = owned(model, user, record_id)
    check_version(record, expected)
    changed = {name: value for name, value in changes.items() if getattr(record, name) != value}
    if not changed:  # the same values again (a retried sync push): nothing to stamp or announce
        return record
    for name, value in changed.items():
        setattr(record, name, value)
    record.updated_at = utcnow()
    db.session.flush()
    if on_change is not None:
        on_change(record)
    return record


def delete_owned(model, user, record_id, expected=None):
    """Turn the user's record into a tombstone; deleting a tombstone again is a no-op."""
    record = db.session.get(model, record_id)
    if record is None or record.user_id != user.id:  # a tombstone may be deleted again: no owned()
        raise NotFound(f"No {model.noun} with this id.")
    if record.deleted_at is None:
        check_version(record, expected)
        now = utcnow()
        record.deleted_at = now
        record.updated_at = now
        for name in model.scrub_on_delete:
            setattr(record, name, [] if isinstance(getattr(record, name), list) else None)
        db.session.flush()
    return record


def list_page(model, user, args):
    """One newest-first keyset page of the user's live records; returns (items, next_cursor)."""
    query = sa.select(model).where(model.user_id == user.id, model.deleted_at.is_(None))
    return keyset_page(query, getattr(model, model.sort_column_name), model.id, args)


def keyset_page(query, sort_column, id_column, args):
    """Apply since/until/cursor/limit to a query, newest first; returns (items, next_cursor).

    Keyset, not offset: each page costs the same however deep it is, and rows inserted while
    the phone pages through never shift or repeat items.
    """
    if args.get("since"):
        query = query.where(sort_column >= args["since"])
    if args.get("until"):
        query = query.where(sort_column < args["until"])
    if args.get("cursor"):
        after_instant, after_id = args["cursor"]
        query = query.where(sa.tuple_(sort_column, id_column) < sa.tuple_(after_instant, after_id))
    limit = args["limit"]
    rows = db.session.scalars(query.order_by(sort_column.desc(), id_column.desc()).limit(limit + 1)).all()
    items, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more:
        last = items[-1]
        next_cursor = Cursor.encode(getattr(last, sort_column.key), getattr(last, id_column.key))
    return items, next_cursor
