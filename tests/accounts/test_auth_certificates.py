"""CARELOOP_FIREBASE_CERTIFICATES_URL: firebase-admin checks ID token signatures against the
certificates served there, fetched and cached as it fetches Google's."""

import pytest

from backend import create_app
from backend.accounts.models import User
from backend.config import DEV_PROJECT_ID, ConfigError
from backend.extensions import limiter
from bench.signed_tokens import GoogleCertificates, new_key, sign_id_token
from tests.postgres import app_on
from tests.support import count


@pytest.fixture
def google():
    with GoogleCertificates() as certificates:
        yield certificates


@pytest.fixture
def signed_app(app, database_url, google, monkeypatch):
    """An app on the test database that verifies signatures against `google`; the session's app
    gets the limiter back afterwards (one object for every app of the process)."""
    # The session's app runs in emulator mode, which firebase-admin reads from the environment.
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    with app_on(database_url, FIREBASE_AUTH_EMULATOR_HOST=None,
                CARELOOP_FIREBASE_CERTIFICATES_URL=google.url) as signed:
        yield signed
    limiter.init_app(app)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_a_token_signed_with_the_served_key_is_accepted_and_the_certificates_fetched_once(signed_app, google):
    client = signed_app.test_client()
    token = google.id_token("signed-user", DEV_PROJECT_ID)
    first = client.get("/v1/me", headers=bearer(token))
    second = client.get("/v1/me", headers=bearer(token))
    assert (first.status_code, second.status_code) == (200, 200), first.get_data(as_text=True)
    assert second.json["id"] == first.json["id"]
    assert count(signed_app, User, firebase_uid="signed-user") == 1
    # The answer's max-age keeps the certificates in the SDK's cache, as Google's do.
    assert google.fetches == 1


def test_a_token_signed_with_another_key_under_the_served_key_id_is_401(signed_app, google):
    token = sign_id_token(new_key(), google.kid, "mallory", DEV_PROJECT_ID)
    response = signed_app.test_client().get("/v1/me", headers=bearer(token))
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    assert count(signed_app, User) == 0
    assert google.fetches == 1


def test_the_certificates_url_refuses_to_start_in_emulator_mode(app, google, monkeypatch):
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    with pytest.raises(ConfigError, match="FIREBASE_AUTH_EMULATOR_HOST"):
        create_app({"CARELOOP_ENV": "development", "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099",
                    "CARELOOP_FIREBASE_CERTIFICATES_URL": google.url})
