"""Sending deliveries and recording their outcomes: sent, retried with backoff, or failed."""

import dataclasses
import datetime as dt
import logging
import random
import uuid

from flask import current_app

from backend.accounts.models import Device
from backend.metrics import PUSH_RESULTS
from backend.push import models
from backend.push.base import PushMessage
from backend.sqltypes import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)


@dataclasses.dataclass
class Outgoing:
    delivery: models.PushDelivery
    device: Device
    message: PushMessage


def transport():
    """The configured push transport of this app (created once)."""
    existing = current_app.extensions.get("push_transport")
    if existing is None:
        if current_app.config["CARELOOP_PUSH"] == "firebase":
            existing = firebase_transport(current_app)
        else:
            from backend.push.local import LocalTransport
            existing = LocalTransport()
        current_app.extensions["push_transport"] = existing
    return existing


def firebase_transport(app):
    """FCM through firebase-admin, with its own SDK app so push credentials stay separate from auth.

    Credentials: GOOGLE_APPLICATION_CREDENTIALS (a service-account file) or the platform's
    default credentials. CARELOOP_FCM_ENDPOINT points the SDK at another FCM-compatible server
    (tests and benchmarks use a local fake with a static token).
    """
    import firebase_admin
    from firebase_admin import credentials

    from backend.push.firebase import FirebaseTransport, StaticTokenCredential

    endpoint = app.config.get("CARELOOP_FCM_ENDPOINT")
    if app.config.get("GOOGLE_APPLICATION_CREDENTIALS"):
        credential = credentials.Certificate(app.config["GOOGLE_APPLICATION_CREDENTIALS"])
    elif endpoint:
        credential = StaticTokenCredential()
    else:
        credential = credentials.ApplicationDefault()
    sdk_app = firebase_admin.initialize_app(
        credential, options={"projectId": app.config["FIREBASE_PROJECT_ID"]},
        # A uuid, not id(app): ids of collected Flask apps are reused, and firebase-admin refuses a
        # name that is still registered.
        name=f"careloop-push-{uuid.uuid4().hex}")
    return FirebaseTransport(sdk_app, endpoint=endpoint)


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
        delivery.status, delivery.message_id = models.SENT, result.message_id
        delivery.error = delivery.error_detail = delivery.next_attempt_at = None
        return
    delivery.error, delivery.error_detail = result.error, (result.detail or "")[:255] or None
    if result.token_is_dead:
        # FCM says this token will never work again: stop using it at once.
        device.active, device.deactivated_reason = False, result.error
        delivery.status = models.FAILED
    elif result.retryable:
        next_attempt = now + backoff_delay(delivery.attempts, result.retry_after)
        if delivery.attempts >= MAX_ATTEMPTS or next_attempt >= delivery.expires_at:
            delivery.status = models.EXPIRED
            delivery.next_attempt_at = None
        else:
            delivery.status, delivery.next_attempt_at = models.RETRY, next_attempt
    else:
        log.warning("push rejected (%s): %s", result.error, result.detail)
        delivery.status = models.FAILED
