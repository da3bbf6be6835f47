"""Configuration: safe defaults for the embedded setup, everything overridable by environment."""

import os
from pathlib import Path


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the process must not start."""


DEV_PROJECT_ID = "careloop-local"
DEV_AUTH_EMULATOR_HOST = "127.0.0.1:9099"
DEV_SECRET_KEY = "careloop-development-only-key"
MIN_SECRET_BYTES = 32


def load_config(instance_path, overrides=None):
    """Build the Flask config mapping from defaults, the environment and explicit overrides."""
    env = os.environ
    overrides = dict(overrides or {})
    careloop_env = overrides.get("CARELOOP_ENV", env.get("CARELOOP_ENV", "development"))
    if careloop_env not in ("development", "production"):
        raise ConfigError(f"CARELOOP_ENV must be 'development' or 'production', not {careloop_env!r}")
    production = careloop_env == "production"

    default_db = "sqlite:///" + str(Path(instance_path) / "careloop.sqlite3")
    config = {
        "CARELOOP_ENV": careloop_env,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(env.get("DATABASE_URL") or default_db),
        # hide_parameters: a failing statement's values (people's notes, answers) never reach a log.
        # No ping per checkout (a round trip on every request): a connection the database dropped
        # fails its one request with a 503 and Retry-After, and SQLAlchemy then renews the pool.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False, "hide_parameters": True},
        # Keys the hashes of invite codes and report-link tokens (HMAC): a copy of the database
        # alone is not enough to brute-force a short code offline.
        "SECRET_KEY": env.get("CARELOOP_SECRET_KEY") or (None if production else DEV_SECRET_KEY),
        # Behind N reverse proxies, trust N X-Forwarded-For hops for the client address
        # (access log, rate limits).
        "CARELOOP_TRUSTED_PROXIES": int(env.get("CARELOOP_TRUSTED_PROXIES", 0)),
        "FIREBASE_PROJECT_ID": env.get("FIREBASE_PROJECT_ID") or (None if production else DEV_PROJECT_ID),
        "FIREBASE_AUTH_EMULATOR_HOST": env.get("FIREBASE_AUTH_EMULATOR_HOST")
        or (None if production else DEV_AUTH_EMULATOR_HOST),
        # Where firebase-admin fetches the certificates that ID token signatures are checked against,
        # instead of Google's (benchmarks and tests serve their own on loopback); not with the emulator.
        "CARELOOP_FIREBASE_CERTIFICATES_URL": env.get("CARELOOP_FIREBASE_CERTIFICATES_URL"),
        "GOOGLE_APPLICATION_CREDENTIALS": env.get("GOOGLE_APPLICATION_CREDENTIALS"),
        "CARELOOP_PUSH": env.get("CARELOOP_PUSH", "firebase" if production else "local"),
        "CARELOOP_FCM_ENDPOINT": env.get("CARELOOP_FCM_ENDPOINT"),
        # A push transport object (`send(messages) -> results`) that replaces the one CARELOOP_PUSH
        # names: the seam through which tests and benchmarks install their fakes.
        "PUSH_TRANSPORT": None,
        # How many occurrences (or retries) one pushing transaction claims; unset: the jobs' defaults.
        "CARELOOP_DISPATCH_BATCH": int(env.get("CARELOOP_DISPATCH_BATCH") or 0) or None,
        "REDIS_URL": env.get("REDIS_URL"),
        # How long rows that only serve operations are kept, in days (CARELOOP_RETENTION overrides
        # any of them: "events=14,push_deliveries=60"); see the README's retention table.
        "RETENTION_DAYS": retention_days(env.get("CARELOOP_RETENTION", "")),
        # The file `careloop jobs` touches after every job run, which `careloop jobs --check` reads.
        "CARELOOP_JOBS_HEARTBEAT": env.get("CARELOOP_JOBS_HEARTBEAT", "/tmp/careloop-jobs.heartbeat"),
        # The bearer token a Prometheus scraper sends to GET /metrics (production: no token, no /metrics).
        "CARELOOP_METRICS_TOKEN": env.get("CARELOOP_METRICS_TOKEN"),
        # How log lines are written: "plain" text or "json" objects (backend.logs).
        "CARELOOP_LOG_FORMAT": log_format(env, overrides),
        "RATELIMIT_STORAGE_URI": env.get("REDIS_URL") or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis out of reach: each process limits on its own in memory (one warning), never an
        # error for the person; /readyz says the limits are degraded. Bounded waits, not hangs.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1,
                                      **({"key_prefix": env["CARELOOP_REDIS_KEY_PREFIX"]}
                                         if env.get("CARELOOP_REDIS_KEY_PREFIX") else {})},
        # Where the clinician report links point (the public address of this API).
        "CARELOOP_PUBLIC_URL": env.get("CARELOOP_PUBLIC_URL", "http://127.0.0.1:5000"),
        # Bodies are small JSON documents; anything bigger is a mistake or an attack.
        "MAX_CONTENT_LENGTH": int(env.get("CARELOOP_MAX_BODY_BYTES", 64 * 1024)),
        # Except a sync push: a phone back from weeks offline sends everything it holds at once.
        "CARELOOP_SYNC_MAX_BODY_BYTES": int(env.get("CARELOOP_SYNC_MAX_BODY_BYTES", 8 * 1024 * 1024)),
        "API_TITLE": "Careloop API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # Swagger UI 5 (swagger-ui-dist 5.35.0, Apache-2.0) ships in the package: /docs works offline
        # and loads no third-party script.
        "OPENAPI_SWAGGER_UI_URL": "/r/assets/vendor/swagger-ui/",
    }
    if "DATABASE_URL" in overrides:
        overrides["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(overrides.pop("DATABASE_URL"))
    config.update(overrides)
    if config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # A database that silently drops packets must not hang a request or a job forever.
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {**config["SQLALCHEMY_ENGINE_OPTIONS"], "connect_args": {
            "connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
            "keepalives_count": 3}}
    check_config(config)
    return config


LOG_FORMATS = ("plain", "json")


def log_format(env, overrides=None):
    """CARELOOP_LOG_FORMAT: "plain" lines for a person at a terminal (the default), or "json", one
    object per line for a log collector (the Dockerfile). gunicorn's logger reads it too, before any
    app exists."""
    value = (overrides or {}).get("CARELOOP_LOG_FORMAT", env.get("CARELOOP_LOG_FORMAT", "plain"))
    if value not in LOG_FORMATS:
        raise ConfigError(f"CARELOOP_LOG_FORMAT must be 'plain' or 'json', not {value!r}")
    return value


def normalise_database_url(url):
    """Accept the usual postgres:// spellings and always use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


RETENTION_DAYS = {
    "events": 7,                   # handled outbox events: replays retry within hours
    "push_deliveries": 90,         # finished deliveries: troubleshooting a phone's pushes
    "local_pushes": 30,            # the development transport's record of what it "sent"
    "reminder_occurrences": 730,   # adherence history, shown in reports and exports
    "access_log": 6 * 366,         # who read a person's data: HIPAA's six-year documentation period
}
# No setting may keep the access log for less than six years.
MIN_ACCESS_LOG_DAYS = 6 * 366


def retention_days(setting):
    """RETENTION_DAYS with the overrides of a CARELOOP_RETENTION setting ("events=14,…")."""
    days = dict(RETENTION_DAYS)
    for item in filter(None, (part.strip() for part in setting.split(","))):
        name, _, value = item.partition("=")
        if name not in days or not value.isdigit() or int(value) < 1:
            raise ConfigError(f"CARELOOP_RETENTION: {item!r} is not <one of {', '.join(days)}>=<days>")
        days[name] = int(value)
    if days["access_log"] < MIN_ACCESS_LOG_DAYS:
        raise ConfigError(f"CARELOOP_RETENTION: the access log is kept at least {MIN_ACCESS_LOG_DAYS} days")
    return days


def check_config(config):
    """Refuse configurations that would be unsafe in production, or that contradict themselves."""
    emulator = config.get("FIREBASE_AUTH_EMULATOR_HOST") or os.environ.get("FIREBASE_AUTH_EMULATOR_HOST")
    if config.get("CARELOOP_FIREBASE_CERTIFICATES_URL") and emulator:
        # The SDK would skip the very signature check the certificates are for.
        raise ConfigError("CARELOOP_FIREBASE_CERTIFICATES_URL needs signed tokens: unset FIREBASE_AUTH_EMULATOR_HOST "
                          "(on by default in development) in the configuration and the environment")
    if config["CARELOOP_ENV"] != "production":
        return
    if config.get("FIREBASE_AUTH_EMULATOR_HOST") or os.environ.get("FIREBASE_AUTH_EMULATOR_HOST"):
        # In emulator mode firebase-admin accepts unsigned, never-expiring tokens.
        raise ConfigError("FIREBASE_AUTH_EMULATOR_HOST must not be set in production")
    if not config.get("FIREBASE_PROJECT_ID"):
        raise ConfigError("FIREBASE_PROJECT_ID is required in production")
    secret = config.get("SECRET_KEY") or ""
    if not secret:
        raise ConfigError("CARELOOP_SECRET_KEY is required in production")
    if secret == DEV_SECRET_KEY or len(secret.encode()) < MIN_SECRET_BYTES:
        # The development key is published in this repository; a short key can be guessed offline
        # from a copy of the database (it keys the hashes of invite codes and report links).
        raise ConfigError(f"CARELOOP_SECRET_KEY must be a random value of at least {MIN_SECRET_BYTES} bytes "
                          "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`), not the "
                          "development key")
    if not os.environ.get("DATABASE_URL") and config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        raise ConfigError("DATABASE_URL (PostgreSQL) is required in production")
    if not config.get("REDIS_URL"):
        # Several API workers (the Dockerfile runs four) each counting guesses in their own memory
        # would let through several times each limit.
        raise ConfigError("REDIS_URL is required in production: rate limits must be shared by every API worker")
    if config["CARELOOP_PUSH"] not in ("firebase", "local"):
        raise ConfigError("CARELOOP_PUSH must be 'firebase' or 'local'")
