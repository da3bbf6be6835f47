"""Account use cases: who the caller is, their profile and their devices."""

import datetime as dt
import uuid

import sqlalchemy as sa

from backend.accounts.models import Device, User
from backend.database import insert_once
from backend.errors import NotFound
from backend.extensions import db
from backend.sqltypes import utcnow


def user_for_firebase_uid(uid, display_name=None):
    """The user with this Firebase uid, created on first sight; returns (user, created).

    Two first requests racing insert once: the unique uid decides, the loser reads the winner's row.
    """
    user = db.session.scalar(sa.select(User).where(User.firebase_uid == uid))
    if user is not None:
        return user, False
    user = insert_once(User, {"id": uuid.uuid4(), "firebase_uid": uid,
                              "display_name": (display_name or None) and display_name[:80]})
    if user is None:
        return db.session.scalar(sa.select(User).where(User.firebase_uid == uid)), False
    return user, True


def update_profile(user, changes):
    """Change display name, time zone, quiet hours or notification privacy."""
    from backend.reminders.services import follow_profile_timezone

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
        follow_profile_timezone(user)
    return user


def register_device(user, token, platform):
    """Upsert by token: a token moves to whoever registers it last and is (re)activated."""
    device = db.session.scalar(sa.select(Device).where(Device.token == token))
    now = utcnow()
    if device is None:
        device = Device(user_id=user.id, token=token, platform=platform, last_seen_at=now, created_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(device)
        except sa.exc.IntegrityError:
            device = db.session.scalar(sa.select(Device).where(Device.token == token))
    device.user_id = user.id
    device.platform = platform
    device.active = True
    device.deactivated_reason = None
    device.last_seen_at = now
    db.session.flush()
    return device


def remove_device(user, device_id):
    """Forget one of the user's devices (sign-out on the phone)."""
    device = db.session.get(Device, device_id)
    if device is None or device.user_id != user.id:
        raise NotFound("No device with this id.")
    db.session.delete(device)
    db.session.flush()


STALE_DEVICE_AGE = dt.timedelta(days=270)


def prune_stale_devices(now, batch_size=1000):
    """Forget tokens unseen for 270 days (FCM treats such tokens as expired); returns how many."""
    stale = sa.select(Device.id).where(Device.last_seen_at < now - STALE_DEVICE_AGE).limit(batch_size)
    result = db.session.execute(sa.delete(Device).where(Device.id.in_(stale.scalar_subquery())))
    return result.rowcount


def active_devices_by_user(user_ids):
    """The active devices of several people, oldest first, in one query: {user_id: [Device]}."""
    devices = {}
    if user_ids:
        for device in db.session.scalars(sa.select(Device).where(Device.user_id.in_(user_ids), Device.active)
                                         .order_by(Device.created_at)):
            devices.setdefault(device.user_id, []).append(device)
    return devices
