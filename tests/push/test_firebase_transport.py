"""FirebaseTransport through the real firebase-admin SDK against the fake FCM server."""

import datetime as dt
import email.utils
import socket
import threading
import time
import uuid

import firebase_admin
import google.auth.exceptions
import google.oauth2.credentials
import pytest
import requests
from firebase_admin import credentials, messaging

from backend.push import base
from backend.push.base import PushMessage
from backend.push.firebase import FirebaseTransport, StaticTokenCredential
from tests.fakes.fcm_server import FakeFCMServer

PROJECT = "careloop-test"


@pytest.fixture
def fcm():
    with FakeFCMServer() as server:
        yield server


@pytest.fixture
def make_app():
    """Firebase Apps with unique names, deleted after the test."""
    apps = []

    def make(credential=None):
        app = firebase_admin.initialize_app(
            credential or StaticTokenCredential(), {"projectId": PROJECT},
            name=f"push-test-{uuid.uuid4()}")
        apps.append(app)
        return app

    yield make
    for app in apps:
        firebase_admin.delete_app(app)


@pytest.fixture
def make_transport(fcm, make_app):
    transports = []

    def make(app=None, **options):
        options.setdefault("endpoint", fcm.url)
        options.setdefault("timeout", 5)
        transport = FirebaseTransport(app or make_app(), **options)
        transports.append(transport)
        return transport

    yield make
    for transport in transports:
        transport.close()


@pytest.fixture
def transport(make_transport):
    return make_transport()


def push(token="token-1", **fields):
    return PushMessage(token=token, title="Check-in time", body="How are you doing?", **fields)


def send_in_thread(transport, messages, limit=10):
    """Send, failing the test instead of hanging if the SDK sleeps or retries."""
    results = []
    worker = threading.Thread(target=lambda: results.extend(transport.send(messages)), daemon=True)
    worker.start()
    worker.join(limit)
    assert not worker.is_alive(), f"send() still running after {limit} s"
    return results


def test_success_returns_the_fcm_message_id(fcm, transport):
    [result] = transport.send([push()])

    assert result.ok
    assert result.message_id.startswith(f"projects/{PROJECT}/messages/")
    assert result.error is None
    [received] = fcm.received
    assert received.project == PROJECT
    assert received.authorization == "Bearer fake"
    assert not received.validate_only


def test_message_is_sent_as_fcm_v1_json_for_every_platform(fcm, transport):
    before = int(time.time())
    transport.send([push(data={"occurrence_id": "42", "kind": "checkin"},
                         collapse_key="reminder-7", ttl_seconds=3600, priority="high")])
    after = int(time.time())

    [message] = fcm.messages
    apns_headers = message["apns"]["headers"]
    assert before + 3600 <= int(apns_headers.pop("apns-expiration")) <= after + 3600
    assert message == {
        "token": "token-1",
        "notification": {"title": "Check-in time", "body": "How are you doing?"},
        "data": {"occurrence_id": "42", "kind": "checkin"},
        "android": {"collapse_key": "reminder-7", "ttl": "3600s", "priority": "high"},
        "apns": {"headers": {"apns-priority": "10", "apns-collapse-id": "reminder-7"}},
        "webpush": {"headers": {"TTL": "3600", "Urgency": "high"}},
    }


def test_normal_priority_without_collapse_key_or_ttl(fcm, transport):
    transport.send([push(priority="normal", ttl_seconds=0)])

    [message] = fcm.messages
    assert "data" not in message
    assert message["android"] == {"ttl": "0s", "priority": "normal"}
    assert message["apns"] == {"headers": {"apns-priority": "5", "apns-expiration": "0"}}
    assert message["webpush"] == {"headers": {"TTL": "0", "Urgency": "normal"}}


@pytest.mark.parametrize("fcm_error, kind, detail, requests_seen", [
    ("UNREGISTERED", base.UNREGISTERED, "UNREGISTERED", 1),
    ("INVALID_ARGUMENT", base.INVALID_TOKEN, "INVALID_ARGUMENT", 1),
    ("SENDER_ID_MISMATCH", base.INVALID_TOKEN, "SENDER_ID_MISMATCH", 1),
    ("UNAVAILABLE", base.UNAVAILABLE, "UNAVAILABLE", 1),
    ("INTERNAL", base.UNAVAILABLE, "INTERNAL", 1),
    # A 401 makes the SDK's authorized session refresh the token and retry twice.
    ("THIRD_PARTY_AUTH_ERROR", base.REJECTED, "THIRD_PARTY_AUTH_ERROR", 3),
])
def test_fcm_errors_map_to_error_kinds(fcm, transport, fcm_error, kind, detail, requests_seen):
    fcm.fail(fcm_error)

    [result] = send_in_thread(transport, [push()])

    assert not result.ok
    assert (result.error, result.detail) == (kind, detail)
    assert result.retry_after is None
    # As shipped, the SDK would send 5 requests for a 500/503, sleeping 7 s in between.
    assert fcm.request_count == requests_seen


def test_quota_exceeded_is_throttled_without_waiting_for_retry_after(fcm, transport):
    fcm.fail("QUOTA_EXCEEDED", retry_after="3600")

    [result] = send_in_thread(transport, [push()])

    assert (result.error, result.detail, result.retry_after) == (
        base.THROTTLED, "QUOTA_EXCEEDED", 3600)
    assert result.retryable
    # As shipped, the SDK would sleep 3600 s and retry, four times, inside send_each.
    assert fcm.request_count == 1


def test_retry_after_may_be_an_http_date(fcm, transport):
    fcm.fail("QUOTA_EXCEEDED", retry_after=email.utils.formatdate(time.time() + 120, usegmt=True))

    [result] = send_in_thread(transport, [push()])

    assert result.error == base.THROTTLED
    assert 100 <= result.retry_after <= 120


def test_unavailable_keeps_the_retry_after_it_was_given(fcm, transport):
    fcm.fail("UNAVAILABLE", retry_after="30")

    [result] = send_in_thread(transport, [push()])

    assert (result.error, result.retry_after) == (base.UNAVAILABLE, 30)
    assert fcm.request_count == 1


def test_mixed_batch_returns_results_in_order(fcm, transport):
    fcm.fail("UNREGISTERED", token="uninstalled")
    fcm.fail("QUOTA_EXCEEDED", token="busy", retry_after="60")
    fcm.fail("INVALID_ARGUMENT", token="garbled")
    fcm.fail("INTERNAL", token="unlucky")
    tokens = ["ok-1", "uninstalled", "ok-2", "busy", "garbled", "unlucky", "ok-3"]

    results = send_in_thread(transport, [push(token) for token in tokens])

    assert [r.error for r in results] == [
        None, base.UNREGISTERED, None, base.THROTTLED, base.INVALID_TOKEN, base.UNAVAILABLE, None]
    assert [r.ok for r in results] == [True, False, True, False, False, False, True]
    assert sorted(m["token"] for m in fcm.messages) == sorted(tokens)
    assert len({r.message_id for r in results if r.ok}) == 3


def test_more_than_500_messages_are_split_into_several_send_each_calls(
        fcm, transport, monkeypatch):
    batch_sizes = []
    send_each = messaging.send_each

    def recording_send_each(messages, *args, **kwargs):
        batch_sizes.append(len(messages))
        return send_each(messages, *args, **kwargs)

    monkeypatch.setattr(messaging, "send_each", recording_send_each)

    results = send_in_thread(transport, [push(f"token-{i}") for i in range(1001)], limit=60)

    assert batch_sizes == [500, 500, 1]
    assert all(r.ok for r in results)
    assert len({r.message_id for r in results}) == 1001
    assert [m["token"] for m in fcm.messages[-1:]] == ["token-1000"]
    assert fcm.request_count == 1001


def test_batch_size_limits_each_send_each_call(fcm, make_transport, monkeypatch):
    batch_sizes = []
    send_each = messaging.send_each
    monkeypatch.setattr(messaging, "send_each", lambda messages, **kwargs: (
        batch_sizes.append(len(messages)) or send_each(messages, **kwargs)))

    make_transport(batch_size=20).send([push(f"token-{i}") for i in range(45)])

    assert batch_sizes == [20, 20, 5]


def test_slow_server_beyond_the_timeout_is_unavailable(fcm, make_transport):
    fcm.delay(3, token="slow")
    transport = make_transport(timeout=0.3)

    slow, fast = send_in_thread(transport, [push("slow"), push("fast")])

    assert (slow.error, slow.detail) == (base.UNAVAILABLE, "DEADLINE_EXCEEDED")
    assert fast.ok
    assert fcm.requests_for("slow") == 1        # a request that may have arrived is not resent


def test_unreachable_endpoint_is_unavailable(make_transport):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    transport = make_transport(endpoint=f"http://127.0.0.1:{port}")

    [result] = send_in_thread(transport, [push()])

    assert (result.error, result.detail) == (base.UNAVAILABLE, "UNAVAILABLE")


def test_expiring_access_token_is_refreshed_once_per_batch(fcm, make_app, make_transport):
    credential = _CountingRefreshCredential(expiry=_utcnow() - dt.timedelta(minutes=1))
    transport = make_transport(make_app(credential))

    results = transport.send([push(f"token-{i}") for i in range(50)])

    assert all(r.ok for r in results)
    assert credential.refreshes == 1
    assert {r.authorization for r in fcm.received} == {"Bearer refreshed-1"}


def test_no_access_token_fails_the_batch_as_unavailable(fcm, make_app, make_transport):
    credential = _CountingRefreshCredential(
        expiry=_utcnow() - dt.timedelta(minutes=1), broken=True)
    transport = make_transport(make_app(credential))

    results = transport.send([push("token-1"), push("token-2")])

    assert [(r.error, r.detail) for r in results] == [(base.UNAVAILABLE, "RefreshError")] * 2
    assert fcm.request_count == 0


def test_malformed_message_is_a_programming_error(transport):
    with pytest.raises(ValueError):
        transport.send([push(data={"occurrence_id": 42})])


def test_refuses_an_sdk_whose_messaging_internals_changed(fcm, make_app):
    app = make_app()
    messaging._get_messaging_service(app)._fcm_url = "https://fcm.example.com/send"

    with pytest.raises(RuntimeError, match="internals changed"):
        FirebaseTransport(app, endpoint=fcm.url)


def test_sdk_internals_the_transport_relies_on_are_present(make_app):
    # If this fails, firebase-admin changed what backend/push/firebase.py:_configure_sdk uses.
    service = messaging._get_messaging_service(make_app())

    assert messaging._MessagingService.FCM_URL == (
        "https://fcm.googleapis.com/v1/projects/{0}/messages:send")
    assert service._fcm_url == messaging._MessagingService.FCM_URL.format(PROJECT)
    assert isinstance(service._client.session, requests.Session)


def test_fake_server_requires_a_bearer_token(fcm):
    response = requests.post(f"{fcm.url}/v1/projects/{PROJECT}/messages:send",
                             json={"message": {"token": "t"}}, timeout=5)

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert fcm.messages == []


def _utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)   # google-auth's naive UTC


class _CountingRefreshCredential(credentials.Base):
    """An expiring token that counts how often it is refreshed."""

    def __init__(self, expiry, broken=False):
        self.refreshes = 0
        outer = self

        class Token(google.oauth2.credentials.Credentials):
            def refresh(self, request):
                if broken:
                    raise google.auth.exceptions.RefreshError("token endpoint unreachable")
                time.sleep(0.05)                # a round trip to Google's token endpoint
                outer.refreshes += 1
                self.token = f"refreshed-{outer.refreshes}"
                self.expiry = _utcnow() + dt.timedelta(hours=1)

        self._credential = Token(token="stale", expiry=expiry)

    def get_credential(self):
        return self._credential
