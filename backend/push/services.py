"""Devices: registering a phone's FCM token, forgetting it, and the tokens worth pushing to."""

import datetime as dt
import uuid

import sqlalchemy as sa

from backend.database import delete_older, insert_once, owned
from backend.extensions import db
from backend.registry import registry

from backend.push.models import Device, LocalPush, PushDelivery, Status
from backend.sqltypes import utcnow

# FCM treats a token unseen for 270 days as expired.
STALE_DEVICE_AGE = dt.timedelta(days=270)


def register_device(user, token, platform, client=None):
    """Upsert by token: a token moves to whoever registers it last and is (re)activated.

    A phone that changes hands, or whose person signs in to another account, registers its token
    anew, so the move is allowed; but the account it leaves is told, through the registry's device
    move watchers (the access log), so a token taken by someone else cannot route a person's
    reminders away unnoticed."""
    device = db.session.scalar(sa.select(Device).where(Device.token == token))
    previous_owner = device.user_id if device is not None and device.user_id != user.id else None
    now = utcnow()
    if device is None:
        device = insert_once(Device, {"id": uuid.uuid4(), "user_id": user.id, "token": token,
                                      "platform": platform, "last_seen_at": now, "created_at": now})
        if device is None:  # registered a moment ago by a concurrent request
            device = db.session.scalar(sa.select(Device).where(Device.token == token))
    device.user_id = user.id
    device.platform = platform
    device.active = True
    device.deactivated_reason = None
    device.last_seen_at = now
    db.session.flush()
    if previous_owner is not None:
        for watch in registry().device_move_watchers:
            watch(previous_owner, device, client)
    return device


def remove_device(user, device_id):
    """Forget one of the user's devices (sign-out on the phone), and what the local transport
    recorded as sent to it."""
    device = owned(Device, user, device_id)
    db.session.execute(sa.delete(LocalPush).where(LocalPush.token == device.token))
    db.session.delete(device)
    db.session.flush()


def prune_stale_devices(now, batch_size=1000):
    """Forget tokens unseen for 270 days; returns how many."""
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


def prune_deliveries(now, keep, batch_size=5000):
    """Forget finished deliveries (sent, failed, expired) after `keep`; returns how many went."""
    return delete_older(PushDelivery, PushDelivery.created_at, now - keep, batch_size,
                        PushDelivery.status.in_((Status.SENT, Status.FAILED, Status.EXPIRED)))


def prune_local_pushes(now, keep, batch_size=5000):
    """Forget what the local (development) transport recorded after `keep`; returns how many went."""
    return delete_older(LocalPush, LocalPush.created_at, now - keep, batch_size)
