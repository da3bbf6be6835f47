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
import math
import random
import uuid
from typing import Protocol

import sqlalchemy as sa

from backend.database import claim, insert_rows, update_rows
from backend.extensions import db
from backend.metrics import PUSH_RESULTS
from backend.push.base import PushMessage
from backend.push.models import Device, Purpose, PushDelivery, Status
from backend.push.transports import transport
from backend.registry import registry

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)


class MessageBuilder(Protocol):
    """What a feature registers for a purpose: the text of its pushes, now and on a retry."""

    def message(self, subject, delivery, device) -> PushMessage:
        """The message to one device; `delivery` is the Push or, on a retry, its delivery row (both
        carry `purpose` and `round`)."""

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


def builders():
    """The message builders registered for this app, by purpose."""
    return registry().push_builders


def deliver(pushes, now):
    """Send a batch of pushes and record each on a delivery row of its own.

    The rows are inserted before the batch is sent (in the caller's transaction, so a unique key
    is the last guard against pushing one thing twice) and their outcomes written after, both as
    single executemany statements of plain rows: at a few hundred pushes a batch, ORM objects for
    rows that are written twice and never read would cost more than the sending.
    """
    if not pushes:
        return
    registered = builders()
    rows = [{"id": uuid.uuid4(), "purpose": push.purpose, "subject_id": push.subject_id, "round": push.round,
             "about_user_id": push.about_user_id, "device_id": push.device.id, "status": Status.SENDING,
             "attempts": 1, "expires_at": now + push.lifetime, "created_at": now, "updated_at": now}
            for push in pushes]
    insert_rows(PushDelivery, rows)
    messages = [registered[push.purpose].message(push.subject, push, push.device) for push in pushes]
    results = _send(messages, [row["expires_at"] for row in rows], now)
    outcomes = []
    for push, row, result in zip(pushes, rows, results, strict=True):
        outcomes.append({"id": row["id"], **outcome(row["attempts"], row["expires_at"], result, now)})
        if result.token_is_dead:
            deactivate(push.device, result)
    update_rows(PushDelivery, outcomes)
    db.session.flush()


def lease_retries(now, batch_size=500):
    """Take the deliveries due for another try: count the try and push their next attempt past the
    backoff it would get if it failed (at least the last Retry-After). The caller commits this lease
    before sending, so a process that dies after sending and before recording the outcome leaves
    rows that wait as the server asked, instead of being sent again at once. Returns their ids."""
    deliveries = claim(
        sa.select(PushDelivery)
        .where(PushDelivery.status == Status.RETRY, PushDelivery.next_attempt_at <= now)
        .order_by(PushDelivery.next_attempt_at).limit(batch_size))
    for delivery in deliveries:
        delivery.attempts += 1
        delivery.next_attempt_at = now + backoff_delay(delivery.attempts, delivery.retry_after_seconds)
    db.session.flush()
    return [delivery.id for delivery in deliveries]


def retry_leased(delivery_ids, now):
    """Send the leased deliveries again (unless no longer wanted or too late) and record each outcome;
    returns how many it handled."""
    if not delivery_ids:
        return 0
    deliveries = db.session.scalars(sa.select(PushDelivery).where(PushDelivery.id.in_(delivery_ids))).all()
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
        if not device.active or subject is None or now >= delivery.expires_at:
            delivery.status, delivery.next_attempt_at = Status.EXPIRED, None
            continue
        outgoing.append((delivery, device, registered[delivery.purpose].message(subject, delivery, device)))
    results = _send([message for _, _, message in outgoing], [d.expires_at for d, _, _ in outgoing], now)
    for (delivery, device, _), result in zip(outgoing, results, strict=True):
        for name, value in outcome(delivery.attempts, delivery.expires_at, result, now).items():
            setattr(delivery, name, value)
        if result.token_is_dead:
            deactivate(device, result)
    db.session.flush()
    return len(deliveries)


def backoff_delay(attempts, retry_after=None):
    """Exponential backoff with jitter; a server's Retry-After is a floor, never ignored."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    delay *= random.uniform(0.8, 1.2)
    if retry_after:
        delay = max(delay, dt.timedelta(seconds=retry_after))
    return delay


def _send(messages, expiries, now):
    """Send a batch through the transport, each message living only as long as its push is useful."""
    if not messages:
        return []
    messages = [dataclasses.replace(message, ttl_seconds=max(int((expires_at - now).total_seconds()), 1))
                for message, expires_at in zip(messages, expiries, strict=True)]
    results = transport().send(messages)
    for result in results:
        PUSH_RESULTS.labels("sent" if result.ok else result.error or "rejected").inc()
    return results


def outcome(attempts, expires_at, result, now):
    """What a delivery row records of a send's result: sent, retried later with backoff, or over."""
    if result.ok:
        return {"status": Status.SENT, "message_id": result.message_id, "error": None, "error_detail": None,
                "next_attempt_at": None, "retry_after_seconds": None, "updated_at": now}
    recorded = {"message_id": None, "error": result.error, "error_detail": (result.detail or "")[:255] or None,
                "next_attempt_at": None, "updated_at": now,
                "retry_after_seconds": None if result.retry_after is None else math.ceil(result.retry_after)}
    if result.token_is_dead:
        return {**recorded, "status": Status.FAILED}
    if result.retryable:
        next_attempt = now + backoff_delay(attempts, result.retry_after)
        if attempts >= MAX_ATTEMPTS or next_attempt >= expires_at:
            return {**recorded, "status": Status.EXPIRED}
        return {**recorded, "status": Status.RETRY, "next_attempt_at": next_attempt}
    log.warning("push rejected (%s): %s", result.error, result.detail)
    return {**recorded, "status": Status.FAILED}


def deactivate(device, result):
    """FCM says this token will never work again: stop using it at once."""
    device.active, device.deactivated_reason = False, result.error


def backlog(now):
    """Pushes waiting to be tried again after a throttle or a server error (metrics gauges)."""
    waiting = PushDelivery.status == Status.RETRY
    count, oldest = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(PushDelivery.created_at)).where(waiting)).one()
    return [("careloop_pushes_awaiting_retry", "Push deliveries waiting for another try", count),
            ("careloop_pushes_oldest_awaiting_retry_seconds", "Age of the oldest push waiting for another try",
             (now - oldest).total_seconds() if oldest else 0)]
