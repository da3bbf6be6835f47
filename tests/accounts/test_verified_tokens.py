"""A verified ID token is not verified again until it expires (backend.accounts.auth.Expiring):
the signature check, with its certificate look-up, runs once per token and process."""

import time

import pytest

from backend.config import DEV_PROJECT_ID
from backend.extensions import limiter
from bench.signed_tokens import GoogleCertificates, new_key, sign_id_token
from tests.postgres import app_on


@pytest.fixture
def google():
    # max-age 0: firebase-admin's HTTP cache keeps nothing, so every signature check fetches.
    with GoogleCertificates(max_age=0) as certificates:
        yield certificates


@pytest.fixture
def signed_app(app, database_url, google, monkeypatch):
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    with app_on(database_url, FIREBASE_AUTH_EMULATOR_HOST=None,
                CARELOOP_FIREBASE_CERTIFICATES_URL=google.url) as signed:
        yield signed
    limiter.init_app(app)


def me(app, token):
    return app.test_client().get("/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_a_token_is_checked_once_and_another_token_afresh(signed_app, google):
    token = google.id_token("repeat-user", DEV_PROJECT_ID)
    assert [me(signed_app, token).status_code for _ in range(5)] == [200] * 5
    assert google.fetches == 1
    other = google.id_token("repeat-user", DEV_PROJECT_ID, name="Another token")
    assert me(signed_app, other).status_code == 200
    assert google.fetches == 2
    forged = sign_id_token(new_key(), google.kid, "repeat-user", DEV_PROJECT_ID)
    assert me(signed_app, forged).status_code == 401


def test_a_verified_token_past_its_expiry_is_refused(signed_app, google, time_machine):
    time_machine.move_to(time.time(), tick=False)
    token = sign_id_token(google.keys[google.kid], google.kid, "brief-user", DEV_PROJECT_ID, lifetime=120)
    assert me(signed_app, token).status_code == 200
    time_machine.shift(121)
    response = me(signed_app, token)
    assert response.status_code == 401
    assert response.json["detail"] == "The ID token has expired."
