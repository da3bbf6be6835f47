"""Bearer authentication with Firebase ID tokens, and the production guard against emulator mode."""

import socket

import firebase_admin._token_gen
import jwt
import pytest

from backend import create_app
from backend.accounts.models import User
from backend.config import DEV_SECRET_KEY, ConfigError
from backend.devtokens import emulator_id_token
from backend.extensions import db, limiter
from bench.signed_tokens import GoogleCertificates, new_key, sign_id_token
from tests.support import count, dose_body

PROTECTED = [("get", "/v1/me"), ("patch", "/v1/me"), ("post", "/v1/devices"), ("get", "/v1/checkins"),
             ("post", "/v1/checkins"), ("get", "/v1/doses"), ("get", "/v1/doses/daily-totals")]


def assert_unauthorized(response):
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 401
    assert response.json["type"] == "https://careloop.app/problems/unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def token_for(app, uid, **claims):
    return emulator_id_token(uid, app.config["FIREBASE_PROJECT_ID"], **claims)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("method, path", PROTECTED)
def test_every_api_route_needs_a_token(app, client, method, path):
    assert_unauthorized(getattr(client, method)(path, json={}))
    assert count(app, User) == 0


@pytest.mark.parametrize("header", [
    "",
    "Bearer",
    "Bearer ",
    "Basic YWxpY2U6c2VjcmV0",
    "Token abc.def.ghi",
    "bearer-abc",
    "Bearer not-a-jwt",
    "Bearer a.b.c",
    "Bearer eyJhbGciOiJub25lIn0.e30.",
])
def test_a_missing_or_malformed_authorization_is_401(app, client, header):
    assert_unauthorized(client.get("/v1/me", headers={"Authorization": header}))
    assert count(app, User) == 0


def test_a_token_in_the_wrong_scheme_is_401_even_when_valid(app, client):
    assert_unauthorized(client.get("/v1/me", headers={"Authorization": "Basic " + token_for(app, "eve")}))
    assert count(app, User) == 0


def test_the_scheme_name_is_case_insensitive(client, app):
    response = client.get("/v1/me", headers={"Authorization": "bearer " + token_for(app, "carol")})
    assert response.status_code == 200


def test_a_token_for_another_firebase_project_is_401(app, client):
    token = emulator_id_token("mallory", "other-project")
    response = client.get("/v1/me", headers=bearer(token))
    assert_unauthorized(response)
    assert "mallory" not in response.get_data(as_text=True)
    assert count(app, User, firebase_uid="mallory") == 0


def test_a_token_from_another_issuer_is_401(app, client):
    project = app.config["FIREBASE_PROJECT_ID"]
    token = jwt.encode({"iss": "https://evil.example/" + project, "aud": project, "sub": "mallory",
                        "iat": 0, "exp": 2**31}, None, algorithm="none")
    assert_unauthorized(client.get("/v1/me", headers=bearer(token)))
    assert count(app, User) == 0


@pytest.mark.parametrize("subject", ["", None, "x" * 129])
def test_a_token_without_a_usable_subject_is_401(app, client, subject):
    project = app.config["FIREBASE_PROJECT_ID"]
    claims = {"iss": f"https://securetoken.google.com/{project}", "aud": project, "iat": 0, "exp": 2**31}
    if subject is not None:
        claims["sub"] = subject
    assert_unauthorized(client.get("/v1/me", headers=bearer(jwt.encode(claims, None, algorithm="none"))))
    assert count(app, User) == 0


def test_the_first_request_creates_the_user_exactly_once(app, client):
    headers = bearer(token_for(app, "newcomer", name="Nia"))
    first = client.get("/v1/me", headers=headers)
    assert first.status_code == 200
    assert first.json["display_name"] == "Nia"
    assert client.get("/v1/me", headers=headers).json["id"] == first.json["id"]
    assert client.get("/v1/checkins", headers=headers).status_code == 200
    assert count(app, User, firebase_uid="newcomer") == 1
    assert count(app, User) == 1


def test_a_first_write_creates_the_user_and_the_record(app, client):
    response = client.post("/v1/doses", json=dose_body(), headers=bearer(token_for(app, "writer")))
    assert response.status_code == 201
    assert count(app, User, firebase_uid="writer") == 1


def test_a_new_users_name_comes_from_the_token_and_is_cut_to_fit(app, client):
    response = client.get("/v1/me", headers=bearer(token_for(app, "long", name="N" * 200)))
    assert response.json["display_name"] == "N" * 80


def test_a_user_created_by_a_rejected_request_still_exists(app, client):
    # Authentication commits on its own: a request that then fails validation still knows its user.
    response = client.post("/v1/checkins", json={}, headers=bearer(token_for(app, "eager")))
    assert response.status_code == 422
    assert count(app, User, firebase_uid="eager") == 1


def test_the_same_uid_always_maps_to_the_same_user(app, client):
    first = client.get("/v1/me", headers=bearer(token_for(app, "same", name="First")))
    second = client.get("/v1/me", headers=bearer(token_for(app, "same", name="Renamed")))
    assert second.json["id"] == first.json["id"]
    assert second.json["display_name"] == "First"


def test_the_health_probe_needs_no_token(client):
    assert client.get("/healthz").status_code == 200


# Production configuration

@pytest.fixture
def production_env(app, monkeypatch, tmp_path):
    """Environment of a production process (SQLite file stands in for PostgreSQL); restored afterwards,
    and the limiter (one object for every app of the process) handed back to the session's app."""
    monkeypatch.setenv("CARELOOP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'production.sqlite3'}")
    monkeypatch.setenv("FIREBASE_PROJECT_ID", "p")
    monkeypatch.setenv("CARELOOP_SECRET_KEY", "a-production-secret-of-forty-random-bytes!")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "CARELOOP_PUSH"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    limiter.init_app(app)


def test_production_refuses_to_start_without_a_secret_key(production_env):
    production_env.delenv("CARELOOP_SECRET_KEY")
    with pytest.raises(ConfigError, match="CARELOOP_SECRET_KEY"):
        create_app()


@pytest.mark.parametrize("key", [DEV_SECRET_KEY, "x", "thirty-one-bytes-is-not-enough!"])
def test_production_refuses_the_published_development_key_and_short_keys(production_env, key):
    production_env.setenv("CARELOOP_SECRET_KEY", key)
    with pytest.raises(ConfigError, match="CARELOOP_SECRET_KEY"):
        create_app()


def test_production_refuses_to_start_without_shared_rate_limits(production_env):
    production_env.delenv("REDIS_URL")
    with pytest.raises(ConfigError, match="REDIS_URL"):
        create_app()


def test_production_refuses_to_start_with_the_auth_emulator_in_the_environment(production_env):
    production_env.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    with pytest.raises(ConfigError, match="FIREBASE_AUTH_EMULATOR_HOST"):
        create_app()


def test_production_refuses_to_start_with_the_auth_emulator_in_the_config(production_env):
    with pytest.raises(ConfigError, match="FIREBASE_AUTH_EMULATOR_HOST"):
        create_app({"FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"})


def test_production_refuses_to_start_without_a_firebase_project(production_env):
    production_env.delenv("FIREBASE_PROJECT_ID")
    with pytest.raises(ConfigError, match="FIREBASE_PROJECT_ID"):
        create_app()


def test_production_refuses_to_start_without_a_database_url(production_env):
    production_env.delenv("DATABASE_URL")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app()


def test_an_unknown_environment_name_refuses_to_start(production_env):
    production_env.setenv("CARELOOP_ENV", "prod")
    with pytest.raises(ConfigError, match="CARELOOP_ENV"):
        create_app()


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to open a socket from Python, and record where it went."""
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: refuse(address))
    return attempts


def test_production_rejects_an_unsigned_emulator_token_without_the_network(production_env, no_network):
    production = create_app()
    assert production.config["FIREBASE_AUTH_EMULATOR_HOST"] is None
    response = production.test_client().get("/v1/me", headers=bearer(emulator_id_token("mallory", "p")))
    assert_unauthorized(response)
    assert no_network == []


def test_apps_can_be_created_again_and_again_in_one_process(production_env):
    import gc

    for _ in range(20):
        production = create_app()
        assert production.test_client().get("/healthz").status_code == 200
        del production
        gc.collect()


@pytest.fixture
def google_keys(monkeypatch):
    """Google's ID token certificate endpoint, on loopback, where the SDK's own constant points
    (production sets no CARELOOP_FIREBASE_CERTIFICATES_URL); yields it: it signs tokens."""
    with GoogleCertificates() as google:
        monkeypatch.setattr(firebase_admin._token_gen, "ID_TOKEN_CERT_URI", google.url)
        yield google


def signed_token(google, uid, *, project="p", kid=None, lifetime=3600):
    return sign_id_token(google.keys[google.kid], kid or google.kid, uid, project, lifetime=lifetime)


@pytest.fixture
def production_app(production_env):
    from flask_migrate import upgrade

    production = create_app()
    with production.app_context():
        upgrade()
    yield production
    with production.app_context():
        db.engine.dispose()


def test_production_accepts_a_token_signed_with_googles_keys(production_app, google_keys):
    response = production_app.test_client().get("/v1/me", headers=bearer(signed_token(google_keys, "real-user")))
    assert response.status_code == 200, response.json
    assert count(production_app, User, firebase_uid="real-user") == 1


@pytest.mark.parametrize("make_token", [
    lambda google: signed_token(google, "eve", lifetime=-60),
    lambda google: signed_token(google, "eve", project="other-project"),
    lambda google: signed_token(google, "eve", kid="unknown-key"),
    lambda google: sign_id_token(new_key(), google.kid, "eve", "p"),
    lambda google: emulator_id_token("eve", "p"),
], ids=["expired", "other-project", "unknown-key-id", "signed-by-another-key", "unsigned"])
def test_production_rejects_tokens_google_did_not_sign_for_this_project(production_app, google_keys, make_token):
    response = production_app.test_client().get("/v1/me", headers=bearer(make_token(google_keys)))
    assert_unauthorized(response)
    assert count(production_app, User) == 0


