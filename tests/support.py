"""What the test modules share: the one frozen instant, instants in UTC or a local zone, request
bodies for the client records, and assertions and look-ups over responses and rows."""

import datetime as dt
import uuid
import zoneinfo

import sqlalchemy as sa

from backend.extensions import db

UTC = dt.timezone.utc
# A Wednesday at noon UTC, where the `clock` fixture stands still. The default check-in and dose
# bodies below lie five days before it; Berlin is at UTC+1 and New York at UTC−5, with no DST
# change for weeks either side.
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def utc(*args):
    """dt.datetime(*args) in UTC."""
    return dt.datetime(*args, tzinfo=UTC)


def local(timezone, *args):
    """A local wall-clock time in `timezone`, as a UTC instant."""
    return dt.datetime(*args, tzinfo=zoneinfo.ZoneInfo(timezone)).astimezone(UTC)


def iso(instant):
    """An instant as the API writes it in a body or a query."""
    return instant.astimezone(UTC).isoformat()


# Bodies of the three client records (a fresh client UUID each; `fields` override or add).

def checkin_body(**fields):
    body = {"id": str(uuid.uuid4()), "recorded_at": "2026-11-20T08:00:00+00:00", "pain": 5,
            "enjoyment_interference": 4, "activity_interference": 6, "focus": 2, "mood": 6}
    body.update(fields)
    return body


def dose_body(**fields):
    body = {"id": str(uuid.uuid4()), "taken_at": "2026-11-20T09:00:00+00:00", "substance_kind": "kratom",
            "form": "leaf_powder", "product": "Green Malay", "amount": 2.5, "unit": "g"}
    body.update(fields)
    return body


def reminder_body(**fields):
    body = {"id": str(uuid.uuid4()), "kind": "checkin", "times": ["09:00"]}
    body.update(fields)
    return body


# Responses

def error_fields(response):
    """The body fields and query parameters the problem's `errors` name, in order."""
    return [error.get("field") or error.get("parameter") for error in response.json.get("errors", [])]


def assert_problem(response, status, *fields):
    """`response` is an RFC 9457 problem with `status` whose `errors` name every one of `fields`
    (body fields or query parameters); returns the problem document."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    problem = response.json
    assert problem["status"] == status
    assert problem["type"] and problem["title"]
    assert set(fields) <= set(error_fields(response)), problem
    return problem


def without_instance(problem):
    """A problem document less its `instance` (the request path), to compare two answers."""
    return {key: value for key, value in problem.items() if key != "instance"}


# Rows

def count(app, model, **filters):
    """How many rows of `model` match `filters` (tombstones included)."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).filter_by(**filters))


def stored(app, model, record_id=None, **filters):
    """The row with this id, or else the one row matching `filters` (tombstones included), as a
    plain dict of its columns."""
    with app.app_context():
        if record_id is None:
            row = db.session.execute(sa.select(model).filter_by(**filters)).scalar_one()
        else:
            row = db.session.get(model, uuid.UUID(str(record_id)))
            assert row is not None, f"no {model.__name__} {record_id}"
        return {column.key: getattr(row, column.key) for column in sa.inspect(model).column_attrs}
