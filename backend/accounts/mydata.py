"""The account's part of "my data": the profile is exported, and the user row goes last of all,
once nothing points at it any more."""

import sqlalchemy as sa

from backend.accounts.models import User
from backend.data_parts import DataPart, execute


def export(user, now):
    return {"profile": user}


def purge(user):
    return {"users": execute(sa.delete(User).where(User.id == user.id))}


PART = DataPart(tables=("users",), sections={"profile": "users"}, export=export, purge=purge)
