"""Redis out of reach: rate-limited endpoints keep answering (limits fall back to each process's
memory, with one warning), never a 500; /readyz stays ready and says the limits are degraded."""

import logging
import secrets
import socket

import pytest

from backend import close_app, create_app
from backend.config import DEV_PROJECT_ID
from backend.extensions import limiter
from backend.web.routes import UNKNOWN_TOKEN_LIMIT


@pytest.fixture
def app_without_redis(app, database_url):
    """An app whose REDIS_URL points where nothing listens. The limiter is one object shared by every
    app of the process, so the session's app gets it back afterwards."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    without_redis = create_app({"TESTING": True, "CARELOOP_ENV": "development", "DATABASE_URL": database_url,
                      "FIREBASE_PROJECT_ID": DEV_PROJECT_ID, "CARELOOP_PUSH": "local",
                                "REDIS_URL": f"redis://127.0.0.1:{port}/0",
                                "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{port}/0"})
    yield without_redis
    close_app(without_redis)
    limiter.init_app(app)


def test_unknown_report_links_are_still_limited_per_process_when_redis_is_down(app_without_redis, caplog):
    client = app_without_redis.test_client()
    allowed = int(UNKNOWN_TOKEN_LIMIT.split()[0])
    with caplog.at_level(logging.WARNING):
        statuses = [client.get(f"/r/{secrets.token_urlsafe(16)}").status_code for _ in range(allowed + 3)]
    assert statuses == [404] * allowed + [429] * 3
    falling_back = [r for r in caplog.records if "counting in this process" in r.getMessage()]
    assert len(falling_back) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_readiness_says_the_limits_are_degraded_not_down(app_without_redis):
    response = app_without_redis.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json["rate_limits"] == "degraded"


def test_readiness_says_the_limits_are_local_without_redis_configured(client):
    assert client.get("/readyz").json["rate_limits"] == "local"
