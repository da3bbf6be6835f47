"""Dose use cases."""

from collections import defaultdict

import sqlalchemy as sa

from backend import events, records
from backend.database import owned
from backend.domain import day_bounds, zone
from backend.doses.models import Dose
from backend.extensions import db


def log_dose(user, data):
    """Store a dose under its client id; a retry returns the one already stored."""
    return records.create_once(Dose, user, data,
                               along=[events.outbox_entry(events.DoseLogged(user.id, data["id"]))])


def log_doses(user, rows):
    """Store many new doses at once (by sync), one DoseLogged event each. The caller made sure none
    of the ids exists (see records.create_many)."""
    return records.create_many(Dose, user, rows, on_create=lambda ids: events.record_all(
        events.DoseLogged(user.id, dose_id) for dose_id in ids))


def get_dose(user, dose_id):
    return owned(Dose, user, dose_id)


def list_doses(user, args):
    return records.list_page(Dose, user, args)


def correct_dose(user, dose_id, changes, expected=None):
    return records.update_owned(Dose, user, dose_id, changes, expected=expected,
                                on_change=lambda d: events.record(events.DoseChanged(user.id, d.id)))


def delete_dose(user, dose_id, expected=None):
    return records.delete_owned(Dose, user, dose_id, expected)


def daily_totals(user, first_day, last_day):
    """Sum of amounts per local day, substance, form and unit, in the user's time zone: forms are never
    added together (30 mg of a 7-OH concentrate and 15 mg of extract are two totals)."""
    tz = zone(user.timezone)
    start, end = day_bounds(tz, first_day, last_day)
    rows = db.session.execute(
        sa.select(Dose.taken_at, Dose.substance_kind, Dose.form, Dose.unit, Dose.amount).where(
            Dose.user_id == user.id, Dose.deleted_at.is_(None),
            Dose.taken_at >= start, Dose.taken_at < end))
    totals = defaultdict(lambda: [0.0, 0])
    for taken_at, substance_kind, form, unit, amount in rows:
        key = (taken_at.astimezone(tz).date(), substance_kind, form or "", unit)
        totals[key][0] += amount
        totals[key][1] += 1
    items = [{"date": day, "substance_kind": kind, "form": form or None, "unit": unit, "total": round(total, 6),
              "doses": count}
             for (day, kind, form, unit), (total, count) in sorted(totals.items())]
    return {"timezone": user.timezone, "items": items}
