"""Account use cases: who the caller is, and their profile."""

import uuid

import sqlalchemy as sa

from backend.accounts.models import User
from backend.database import insert_once
from backend.extensions import db
from backend.registry import registry
from backend.sqltypes import utcnow


def user_for_firebase_uid(uid, display_name=None):
    """The user with this Firebase uid, created on first sight; returns (user, created).

    Two first requests racing insert once: the unique uid decides, the loser reads the winner's row.
    """
    user = db.session.scalar(sa.select(User).where(User.firebase_uid == uid))
    if user is not None:
        return user, False
    user = insert_once(User, {"id": uuid.uuid4(), "firebase_uid": uid,
                              "display_name": display_name})
    if user is None:
        return db.session.scalar(sa.select(User).where(User.firebase_uid == uid)), False
    return user, True


def update_profile(user, changes):
    """Change display name, time zone, quiet hours or notification privacy."""
    moved = "timezone" in changes and changes["timezone"] != user.timezone
    if "quiet_hours" in changes:
        quiet = changes.pop("quiet_hours")
        user.quiet_hours_start = quiet["start"] if quiet else None
        user.quiet_hours_end = quiet["end"] if quiet else None
    for name, value in changes.items():
        setattr(user, name, value)
    user.updated_at = utcnow()
    db.session.flush()
    if moved:
        for follow in registry().zone_followers:  # schedules that follow the profile's zone move
            follow(user)
    return user
