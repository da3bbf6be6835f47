"""The Firebase Cloud Messaging transport: firebase-admin's send_each over FCM HTTP v1."""

import datetime as dt
import email.utils
import logging
import time
import urllib.parse
import warnings
from typing import Sequence

import google.auth.credentials
import google.auth.exceptions
import google.oauth2.credentials
import requests
import requests.adapters
from firebase_admin import credentials, exceptions, messaging
from urllib3.util.retry import Retry

from backend.push.base import (
    INVALID_TOKEN, REJECTED, THROTTLED, UNAVAILABLE, UNREGISTERED, PushMessage, PushResult,
)

log = logging.getLogger(__name__)

MAX_BATCH = 500                       # send_each refuses more

# priority → (Android priority, apns-priority, Web Push Urgency)
_PRIORITIES = {"high": ("high", "10", "high"), "normal": ("normal", "5", "normal")}

# The FCM error codes the SDK turns into its own exception types; other errors keep their
# canonical code (INVALID_ARGUMENT, UNAVAILABLE, ...).
_FCM_ERROR_CODES = {
    messaging.UnregisteredError: "UNREGISTERED",
    messaging.SenderIdMismatchError: "SENDER_ID_MISMATCH",
    messaging.QuotaExceededError: "QUOTA_EXCEEDED",
    messaging.ThirdPartyAuthError: "THIRD_PARTY_AUTH_ERROR",
}

# One immediate retry of a connection that could not be opened (nothing was sent), nothing else:
# no retry of a request that may have reached FCM, no retry or sleep on any HTTP answer. As
# shipped, the SDK retries 500/503 four times with backoff and sleeps for whatever Retry-After a
# 429/503 names, inside send_each; our jobs keep retry state and back off themselves instead.
_RETRY = Retry(
    total=1, connect=1, read=False, status=0, other=0,
    status_forcelist=None, respect_retry_after_header=False, raise_on_status=False,
    allowed_methods=None, backoff_factor=0)


class FirebaseTransport:
    """Sends each PushMessage as one FCM HTTP v1 request with messaging.send_each.

    `app` is the firebase_admin App to send as (the caller creates it with credentials; give push
    an App of its own, because this transport configures that App's messaging service).
    `endpoint` replaces https://fcm.googleapis.com, to point the real SDK at a local fake.
    `timeout` bounds each HTTP request in seconds. `batch_size` (at most 500) is how many messages
    go to one send_each call, which sends them from as many threads at once.
    """

    def __init__(self, app, *, endpoint=None, timeout=10.0, batch_size=MAX_BATCH):
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        self._app = app
        self._batch_size = batch_size
        self._adapter = _FcmHttpAdapter(timeout=timeout, pool_size=batch_size)
        self.fcm_url = _configure_sdk(app, endpoint, self._adapter)

    @property
    def sdk_app(self):
        """The firebase_admin App this transport sends as."""
        return self._app

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        """Send every message; per-message failures come back as results, in input order."""
        results = []
        for start in range(0, len(messages), self._batch_size):
            results.extend(self._send_batch(messages[start:start + self._batch_size]))
        return results

    def close(self):
        """Close the pooled connections to FCM (firebase_admin.delete_app does not)."""
        self._adapter.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _send_batch(self, batch):
        # A malformed message (say, a non-string data value) raises ValueError here: a bug in
        # our code, not a delivery outcome.
        fcm_messages = _fcm_messages(batch, now=time.time())
        try:
            self._refresh_access_token()
            response = messaging.send_each(fcm_messages, app=self._app)
        except (exceptions.FirebaseError, google.auth.exceptions.GoogleAuthError) as error:
            # No access token, or a worker thread raised something other than an HTTP error,
            # which send_each reports for the whole batch (part of it may have gone out).
            log.warning("FCM batch of %d failed: %s", len(batch), error)
            code = getattr(error, "code", type(error).__name__)
            return [PushResult(ok=False, error=UNAVAILABLE, detail=code)] * len(batch)
        return [_result(r) for r in response.responses]

    def _refresh_access_token(self):
        # Every send_each thread refreshes an expiring token on its own (google-auth takes no
        # lock), which would be up to 500 token requests at once; refresh once, up front.
        credential = self._app.credential.get_credential()
        if credential.token_state != google.auth.credentials.TokenState.FRESH:
            self._app.credential.get_access_token()


class StaticTokenCredential(credentials.Base):
    """A credential presenting a fixed bearer token, for tests, benchmarks and local fakes.

    It never calls Google's token endpoint; real FCM would reject it.
    """

    def __init__(self, token="fake"):
        self._credential = _FixedToken(token=token)

    def get_credential(self):
        return self._credential


class _FixedToken(google.oauth2.credentials.Credentials):
    def refresh(self, request):
        # A 401 from FCM (THIRD_PARTY_AUTH_ERROR) makes the SDK's session refresh and retry, as
        # it would with real credentials; the plain class would raise and fail the whole batch.
        pass


class _FcmHttpAdapter(requests.adapters.HTTPAdapter):
    """Our HTTP policy for FCM: keep-alive pool, _RETRY, and a timeout on every request."""

    def __init__(self, timeout, pool_size):
        self.timeout = timeout
        # One pooled connection per send_each thread; with fewer (the SDK mounts 100 for its up
        # to 500 threads), the surplus connections are opened and dropped on every call.
        super().__init__(pool_maxsize=pool_size, max_retries=_RETRY)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        # The SDK passes its own timeout (the App's httpTimeout, 120 s by default).
        return super().send(request, stream=stream, timeout=self.timeout, verify=verify,
                            cert=cert, proxies=proxies)


def _configure_sdk(app, endpoint, adapter):
    """Make messaging.send_each for `app` go to `endpoint` through `adapter`; return the send URL.

    The one place that relies on firebase-admin internals (7.x): send_each runs on the App's
    messaging service (messaging._get_messaging_service), which posts every message to its
    `_fcm_url`, built once from _MessagingService.FCM_URL, through its `_client.session`, a
    requests session. If these are not as expected, refuse loudly rather than send to Google
    with the SDK's own retry policy.
    """
    service = messaging._get_messaging_service(app)
    default_url = messaging._MessagingService.FCM_URL.format(app.project_id)
    send_path = urllib.parse.urlsplit(default_url).path     # /v1/projects/{p}/messages:send
    fcm_url = endpoint.rstrip("/") + send_path if endpoint else default_url
    current_url = getattr(service, "_fcm_url", None)
    session = getattr(getattr(service, "_client", None), "session", None)
    if not (isinstance(current_url, str) and current_url.endswith(send_path)
            and isinstance(session, requests.Session)):
        raise RuntimeError(
            "firebase-admin's messaging internals changed (expected _MessagingService._fcm_url "
            "and _client.session); FirebaseTransport cannot set its endpoint and retry policy")
    service._fcm_url = fcm_url
    scheme, netloc = urllib.parse.urlsplit(fcm_url)[:2]
    session.mount(f"{scheme}://{netloc}/", adapter)
    return fcm_url


def _fcm_messages(batch, now):
    # Devices register FCM registration tokens; firebase-admin 7.7 deprecates Message.token in
    # favour of Message.fid (Firebase installation IDs), but FCM still accepts both in "token".
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Message\.token is deprecated", category=DeprecationWarning)
        return [_fcm_message(m, now) for m in batch]


def _fcm_message(message, now):
    android_priority, apns_priority, urgency = _PRIORITIES[message.priority]
    ttl = message.ttl_seconds
    # apns-expiration is an instant; 0 means "deliver now or never", like an FCM ttl of 0.
    apns_headers = {"apns-priority": apns_priority,
                    "apns-expiration": str(int(now) + ttl if ttl else 0)}
    if message.collapse_key:
        apns_headers["apns-collapse-id"] = message.collapse_key
    return messaging.Message(
        token=message.token,
        notification=messaging.Notification(title=message.title, body=message.body),
        data=dict(message.data) or None,
        android=messaging.AndroidConfig(
            collapse_key=message.collapse_key, ttl=ttl, priority=android_priority),
        apns=messaging.APNSConfig(headers=apns_headers),
        webpush=messaging.WebpushConfig(headers={"TTL": str(ttl), "Urgency": urgency}),
    )


def _result(response):
    if response.success:
        return PushResult(ok=True, message_id=response.message_id)
    error = response.exception
    if error is None:
        return PushResult(ok=False, error=REJECTED, detail="no message id in FCM response")
    detail = _FCM_ERROR_CODES.get(type(error), error.code)
    if isinstance(error, messaging.UnregisteredError):
        return PushResult(ok=False, error=UNREGISTERED, detail=detail)
    # For our fixed payloads INVALID_ARGUMENT means the token itself is malformed.
    if isinstance(error, (messaging.SenderIdMismatchError, exceptions.InvalidArgumentError)):
        return PushResult(ok=False, error=INVALID_TOKEN, detail=detail)
    if isinstance(error, exceptions.ResourceExhaustedError):
        return PushResult(ok=False, error=THROTTLED, detail=detail,
                          retry_after=_retry_after(error.http_response))
    if isinstance(error, (exceptions.UnavailableError, exceptions.InternalError,
                          exceptions.DeadlineExceededError)) or (
            isinstance(error, exceptions.UnknownError) and error.http_response is None):
        return PushResult(ok=False, error=UNAVAILABLE, detail=detail,
                          retry_after=_retry_after(error.http_response))
    return PushResult(ok=False, error=REJECTED, detail=detail)


def _retry_after(http_response):
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    value = http_response.headers.get("Retry-After") if http_response is not None else None
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
