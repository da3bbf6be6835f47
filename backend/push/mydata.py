"""Push in "my data": the person's phones, and every push to them or about them.

The export holds the phones (tokens masked) and the pushes of the person's own reminders and
prompts to them. Deletion removes the phones, every delivery to them, every delivery about the
person on someone else's phone (a caregiver's alert), and what the local transport recorded of
those: the messages to the person's tokens, and those whose data names a subject of a delivery
about them (a message names its reminder occurrence or prompt by id in its data).
"""

import sqlalchemy as sa

from backend.data_parts import DataPart, execute
from backend.extensions import db
from backend.push.models import Device, LocalPush, PushDelivery


def export(user, now):
    devices = sa.select(Device).where(Device.user_id == user.id).order_by(Device.created_at)
    # An alert on the person's phone about someone else's prompt is that person's, not theirs.
    pushes = sa.select(PushDelivery).where(
        PushDelivery.device_id.in_(sa.select(Device.id).where(Device.user_id == user.id)),
        PushDelivery.about_user_id == user.id).order_by(PushDelivery.created_at, PushDelivery.id)
    return {"devices": db.session.scalars(devices).all(), "pushes": db.session.scalars(pushes).all()}


def purge(user):
    uid = user.id
    devices = sa.select(Device.id).where(Device.user_id == uid)
    tokens = db.session.scalars(sa.select(Device.token).where(Device.user_id == uid)).all()
    subjects = {str(subject) for subject in db.session.scalars(
        sa.select(PushDelivery.subject_id).where(PushDelivery.about_user_id == uid))}
    # Only the development transport writes local pushes, so reading their data here is cheap.
    about = [push_id for push_id, data in db.session.execute(sa.select(LocalPush.id, LocalPush.data))
             if subjects.intersection(data.values())] if subjects else []
    return {
        "local_pushes": execute(sa.delete(LocalPush).where(sa.or_(LocalPush.token.in_(tokens),
                                                                   LocalPush.id.in_(about)))),
        "push_deliveries": execute(sa.delete(PushDelivery).where(
            sa.or_(PushDelivery.device_id.in_(devices), PushDelivery.about_user_id == uid))),
        "devices": execute(sa.delete(Device).where(Device.user_id == uid)),
    }


PART = DataPart(
    tables=("devices", "push_deliveries", "local_pushes"),
    sections={"devices": "devices", "pushes": "push_deliveries"},
    not_exported={"local_pushes": "the development transport's copy of the messages it 'sent'; each is a "
                                  "delivery in `pushes`, and with FCM the table stays empty"},
    export=export, purge=purge)
