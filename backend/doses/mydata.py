"""Doses in "my data": exported oldest first without tombstones, deleted with the account."""

import sqlalchemy as sa

from backend.data_parts import DataPart, execute
from backend.doses.models import Dose
from backend.extensions import db


def export(user, now):
    live = sa.select(Dose).where(Dose.user_id == user.id, Dose.deleted_at.is_(None))
    return {"doses": db.session.scalars(live.order_by(Dose.taken_at, Dose.id)).all()}


def purge(user):
    return {"doses": execute(sa.delete(Dose).where(Dose.user_id == user.id))}


PART = DataPart(tables=("doses",), sections={"doses": "doses"}, export=export, purge=purge)
