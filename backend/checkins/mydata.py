"""Check-ins in "my data": exported oldest first without tombstones, deleted with the account."""

import sqlalchemy as sa

from backend.checkins.models import CheckIn
from backend.data_parts import DataPart, execute
from backend.extensions import db


def export(user, now):
    live = sa.select(CheckIn).where(CheckIn.user_id == user.id, CheckIn.deleted_at.is_(None))
    return {"checkins": db.session.scalars(live.order_by(CheckIn.recorded_at, CheckIn.id)).all()}


def purge(user):
    return {"checkins": execute(sa.delete(CheckIn).where(CheckIn.user_id == user.id))}


PART = DataPart(tables=("checkins",), sections={"checkins": "checkins"}, export=export, purge=purge)
