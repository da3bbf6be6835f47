"""The account's part of "my data": the profile is exported, and the user row goes last of all,
once nothing points at it any more. The sync change counter goes with it: a number, not data."""

import sqlalchemy as sa

from backend.accounts.models import User
from backend.data_parts import DataPart, execute
from backend.records import ChangeCounter


def export(user, now):
    return {"profile": user}


def purge(user):
    return {"sync_counters": execute(sa.delete(ChangeCounter).where(ChangeCounter.user_id == user.id)),
            "users": execute(sa.delete(User).where(User.id == user.id))}


PART = DataPart(tables=("users", "sync_counters"), sections={"profile": "users"}, export=export, purge=purge,
                not_exported={"sync_counters": "how many changes sync has numbered: a counter, nothing about the person"})
