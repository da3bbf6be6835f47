"""The one push pipeline: claim → build → send → record → retry.

Features decide *what* to push and to whom (a reminder came due, a prompt was raised) and hand
push a list of `Push`es; push writes one delivery row per push and device, asks the message
builder registered for the purpose for the text, sends the batch through the transport and
records each outcome. A throttled or unavailable push is retried here, by whichever jobs process
claims it, with the builder asked again (a reminder answered in between, or a caregiver's share
revoked in between, is not pushed again).

The builders come from the app (`backend.wiring` registers one per purpose): push imports no
feature above it.
"""

import dataclasses
import datetime as dt
import logging
import random
import uuid
from typing import Protocol

import sqlalchemy as sa
from backend.database import claim
from backend.extensions import db
from backend.metrics import PUSH_RESULTS
from backend.push.base import PushMessage
from backend.push.models import Device, Purpose, PushDelivery, Status
from backend.push.transports import transport
from backend.registry import registry
from backend.sqltypes import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)


class MessageBuilder(Protocol):
    """What a feature registers for a purpose: the text of its pushes, now and on a retry."""

    def message(self, subject, delivery, device) -> PushMessage:
        """The message of one delivery to one device."""

    def reload(self, deliveries, devices) -> dict:
        """Before a retry: {delivery id: subject} for the deliveries still wanted (a batch's worth of
        queries, not one per delivery); a delivery left out expires (answered, share revoked …)."""


@dataclasses.dataclass(frozen=True)
class Push:
    """One push a feature wants sent: why, about what and whom, to which device, how long it helps."""

    purpose: Purpose
    subject_id: uuid.UUID
    subject: object            # what the purpose's builder is given back to build the message
    about_user_id: uuid.UUID   # whose data it is about (the patient, for a caregiver's alert)
    device: Device
    lifetime: dt.timedelta
    round: int = 0


@dataclasses.dataclass
class Outgoing:
    delivery: PushDelivery
    device: Device
    message: PushMessage


def builders():
    """The message builders registered for this app, by purpose."""
    return registry().push_builders


def deliver(pushes, now):
    """Write a delivery row per push, build each message, send them as one batch, record outcomes."""
    outgoing = []
    registered = builders()
    for push in pushes:
        # The id up front: with every primary key known, the flush sends the batch's INSERTs as one
        # executemany; with ids left to the column default, it builds one statement with a
        # placeholder per value (some 2,800 for 200 deliveries), which psycopg parses anew each time.
        delivery = PushDelivery(
            id=uuid.uuid4(), purpose=push.purpose, subject_id=push.subject_id, round=push.round,
            about_user_id=push.about_user_id, device_id=push.device.id, status=Status.SENDING, attempts=1,
            expires_at=now + push.lifetime, created_at=now, updated_at=now)
        db.session.add(delivery)
        message = registered[push.purpose].message(push.subject, delivery, push.device)
        outgoing.append(Outgoing(delivery, push.device, message))
    db.session.flush()
    send(outgoing, now)
    db.session.flush()


def retry_due(now, batch_size=500):
    """Send again the pushes that were throttled or hit a server error, once their backoff is over;
    returns how many deliveries it handled."""
    deliveries = claim(
        sa.select(PushDelivery)
        .where(PushDelivery.status == Status.RETRY, PushDelivery.next_attempt_at <= now)
        .order_by(PushDelivery.next_attempt_at).limit(batch_size))
    if not deliveries:
        return 0
    devices = {d.id: d for d in db.session.scalars(sa.select(Device).where(
        Device.id.in_({delivery.device_id for delivery in deliveries})))}
    registered = builders()
    wanted = {}
    for purpose in {delivery.purpose for delivery in deliveries}:
        wanted.update(registered[purpose].reload(
            [delivery for delivery in deliveries if delivery.purpose == purpose], devices))
    outgoing = []
    for delivery in deliveries:
        device = devices[delivery.device_id]
        subject = wanted.get(delivery.id)
        delivery.next_attempt_at = None
        if not device.active or subject is None or now >= delivery.expires_at:
            delivery.status = Status.EXPIRED
            continue
        delivery.attempts += 1
        outgoing.append(Outgoing(delivery, device, registered[delivery.purpose].message(subject, delivery, device)))
    send(outgoing, now)
    db.session.flush()
    return len(deliveries)


def backoff_delay(attempts, retry_after=None):
    """Exponential backoff with jitter; a server's Retry-After is a floor, never ignored."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    delay *= random.uniform(0.8, 1.2)
    if retry_after:
        delay = max(delay, dt.timedelta(seconds=retry_after))
    return delay


def send(outgoing, now=None):
    """Send a batch through the transport and record each outcome on its delivery row."""
    if not outgoing:
        return
    now = now or utcnow()
    for item in outgoing:
        remaining = int((item.delivery.expires_at - now).total_seconds())
        item.message = dataclasses.replace(item.message, ttl_seconds=max(remaining, 1))
    results = transport().send([item.message for item in outgoing])
    for item, result in zip(outgoing, results, strict=True):
        record_outcome(item.delivery, item.device, result, now)
        PUSH_RESULTS.labels("sent" if result.ok else result.error or "rejected").inc()


def record_outcome(delivery, device, result, now):
    delivery.updated_at = now
    if result.ok:
        delivery.status, delivery.message_id = Status.SENT, result.message_id
        delivery.error = delivery.error_detail = delivery.next_attempt_at = None
        return
    delivery.error, delivery.error_detail = result.error, (result.detail or "")[:255] or None
    if result.token_is_dead:
        # FCM says this token will never work again: stop using it at once.
        device.active, device.deactivated_reason = False, result.error
        delivery.status = Status.FAILED
    elif result.retryable:
        next_attempt = now + backoff_delay(delivery.attempts, result.retry_after)
        if delivery.attempts >= MAX_ATTEMPTS or next_attempt >= delivery.expires_at:
            delivery.status = Status.EXPIRED
            delivery.next_attempt_at = None
        else:
            delivery.status, delivery.next_attempt_at = Status.RETRY, next_attempt
    else:
        log.warning("push rejected (%s): %s", result.error, result.detail)
        delivery.status = Status.FAILED
