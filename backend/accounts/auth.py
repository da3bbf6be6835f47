"""Bearer authentication with Firebase ID tokens, verified by firebase-admin."""

import logging
import os
import threading
import time
import uuid

import firebase_admin
import google.auth.credentials
import marshmallow as ma
from firebase_admin import auth as firebase_auth
from firebase_admin import credentials
from flask import current_app, g, request

from backend.accounts.models import User
from backend.accounts.schemas import DISPLAY_NAME_MAX, ProfileSchema
from backend.accounts.services import user_for_firebase_uid
from backend.config import ConfigError
from backend.errors import AccountGone, Problem, Unauthorized, handle_problem
from backend.extensions import db

log = logging.getLogger(__name__)

# The profile's own display-name field: a name from a token is held to the same rules.
DISPLAY_NAME = ProfileSchema().fields["display_name"]


class TokenVerificationUnavailable(Problem):
    status, title, slug = 503, "Service Unavailable", "auth-unavailable"


class PublicKeysOnly(credentials.Base):
    """No Google account: verifying ID tokens needs only the project id and Google's public keys.

    Given no credential, firebase-admin's auth client loads Application Default Credentials on
    first use, probing the GCE metadata server and failing every request where there are none.
    """

    def get_credential(self):
        return google.auth.credentials.AnonymousCredentials()


def init_app(app):
    """Bind a firebase-admin app (one per Flask app) for ID token verification."""
    app.extensions["careloop_known_accounts"] = Expiring(most=100_000)
    app.extensions["careloop_verified_tokens"] = Expiring(most=10_000)
    app.register_error_handler(AccountGone, _account_gone)
    emulator_host = app.config.get("FIREBASE_AUTH_EMULATOR_HOST")
    if emulator_host:
        # firebase-admin reads this from the environment; it makes the SDK accept unsigned tokens,
        # which config.check_config refuses in production.
        os.environ["FIREBASE_AUTH_EMULATOR_HOST"] = emulator_host
        log.warning("Firebase Auth emulator mode: ID tokens are NOT signature-checked (development only)")
    certificates_url = app.config.get("CARELOOP_FIREBASE_CERTIFICATES_URL")  # config.check_config: no emulator
    # Push sends from a firebase-admin app of its own, with credentials. A uuid, not id(app): ids
    # of collected Flask apps are reused, and firebase-admin refuses a name it has seen.
    sdk_app = firebase_admin.initialize_app(
        PublicKeysOnly(), options={"projectId": app.config["FIREBASE_PROJECT_ID"]},
        name=f"careloop-auth-{uuid.uuid4().hex}")
    if certificates_url:
        verify_signatures_with(sdk_app, certificates_url)
        log.warning("ID token signatures are checked against the certificates at %s, not Google's", certificates_url)
    app.extensions["firebase_app"] = sdk_app


def verify_signatures_with(sdk_app, certificates_url):
    """Make `sdk_app` fetch the certificates it checks ID token signatures against from
    `certificates_url` (same format and caching as Google's endpoint) instead of Google's.

    firebase-admin (6.x and 7.x) has no option for this. Its module constant
    `_token_gen.ID_TOKEN_CERT_URI` is copied into each auth client's ID token verifier as `cert_url`
    when the client is created, and read from there at every verification; setting it on this
    app's verifier, not on the module, keeps it to this app (a process can hold several, as the
    tests do). The one place that relies on these internals: if they move, starting fails here
    rather than tokens being checked against Google's keys after all.
    """
    try:
        verifier = firebase_auth._get_client(sdk_app)._token_verifier.id_token_verifier
        verifier.cert_url  # noqa: B018 (present, or the internals moved)
    except AttributeError as error:
        raise ConfigError("CARELOOP_FIREBASE_CERTIFICATES_URL: this firebase-admin version keeps its certificate URL "
                          "elsewhere; see backend.accounts.auth.verify_signatures_with") from error
    verifier.cert_url = certificates_url


def close(app):
    """Release the firebase-admin app this Flask app verifies tokens with."""
    sdk_app = app.extensions.pop("firebase_app", None)
    if sdk_app is not None:
        firebase_admin.delete_app(sdk_app)


def firebase_app():
    return current_app.extensions["firebase_app"]


class Expiring:
    """A bounded map, per app and process, whose entries each lapse at their own instant; full, it
    drops its oldest entry. It holds what a request would otherwise look up again:

    - verified ID tokens with their claims, until the token's `exp`. A phone sends the same token
      for up to an hour, and checking its RS256 signature again (through firebase-admin's
      certificate look-up in its HTTP cache) was a third of a create's CPU. Keyed by the whole
      token: any other, a forged one included, is verified afresh; one past its `exp` goes to
      firebase-admin again, which refuses it.
    - Firebase uid -> account id, for KNOWN_ACCOUNT_SECONDS: a verified token names its account
      without a query (a fifth of a create). Only the id, never the profile, which other processes
      may change; it goes at once where its account is deleted, and elsewhere a stale id cannot
      act: no write finds its change counter, no profile read its row (both AccountGone, a 401 that
      drops the entry), and reads by it find nothing.
    """

    def __init__(self, most):
        self.most = most
        self._entries = {}
        self._lock = threading.Lock()

    def get(self, key):
        entry = self._entries.get(key)
        return entry[0] if entry is not None and entry[1] > time.time() else None

    def add(self, key, value, until):
        with self._lock:
            if len(self._entries) >= self.most:
                del self._entries[next(iter(self._entries))]  # the oldest
            self._entries[key] = (value, until)

    def forget(self, value):
        with self._lock:
            for key in [key for key, (known, _) in self._entries.items() if known == value]:
                del self._entries[key]

    def clear(self):
        with self._lock:
            self._entries.clear()


KNOWN_ACCOUNT_SECONDS = 60.0


def verify_bearer_token():
    """Return the verified claims of the request's bearer token, or raise 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send 'Authorization: Bearer <Firebase ID token>'.")
    verified = current_app.extensions["careloop_verified_tokens"]
    claims = verified.get(token)
    if claims is not None:
        return claims
    try:
        claims = firebase_auth.verify_id_token(token, app=firebase_app())
        verified.add(token, claims, claims["exp"])
        return claims
    except firebase_auth.ExpiredIdTokenError:
        raise Unauthorized("The ID token has expired.") from None
    except firebase_auth.RevokedIdTokenError:
        raise Unauthorized("The ID token has been revoked.") from None
    except (firebase_auth.InvalidIdTokenError, ValueError):
        raise Unauthorized("The ID token is not valid.") from None
    except firebase_auth.CertificateFetchError:
        log.error("could not fetch Google's token certificates; ID tokens cannot be verified")
        raise TokenVerificationUnavailable("ID tokens cannot be verified right now; try again shortly.") from None


class SignedInUser:
    """The caller, as services are given it: the account id at once, and the User row (one query)
    the first time anything else of it is read or set in the request."""

    __slots__ = ("id", "_row")

    def __init__(self, user_id, row=None):
        object.__setattr__(self, "id", user_id)
        object.__setattr__(self, "_row", row)

    @property
    def row(self):
        if self._row is None:
            row = db.session.get(User, self.id)
            if row is None:
                raise AccountGone(self.id)
            object.__setattr__(self, "_row", row)
        return self._row

    def __getattr__(self, name):
        return getattr(self.row, name)

    def __setattr__(self, name, value):
        setattr(self.row, name, value)

    def __repr__(self):
        return f"<SignedInUser {self.id}>"


def authenticate():
    """before_request hook of the authenticated blueprints: the calling user, created on first sight."""
    if request.method == "OPTIONS":
        return
    claims = verify_bearer_token()
    known = known_accounts(current_app)
    user_id = known.get(claims["uid"])
    if user_id is not None:
        g.user = SignedInUser(user_id)
        return
    user, created = user_for_firebase_uid(claims["uid"], display_name=token_display_name(claims.get("name")))
    if created:
        # Signing up is its own unit of work: the request that follows may be a read.
        db.session.commit()
    known.add(claims["uid"], user.id, time.time() + KNOWN_ACCOUNT_SECONDS)
    g.user = SignedInUser(user.id, user)


def known_accounts(app):
    return app.extensions["careloop_known_accounts"]


def forget_account(user_id):
    """The account is gone: its id is no longer what its uid signs in as."""
    known_accounts(current_app).forget(user_id)


def _account_gone(error):
    forget_account(error.user_id)
    return handle_problem(error)


def token_display_name(name):
    """The sign-in provider's name for a new account, if it passes what PATCH /v1/me takes (cut to
    its length); anything else (a number, an object, control characters) is left out rather than
    stored, or rather than locking the person out: they can set a name themselves."""
    if not isinstance(name, str):
        return None
    try:
        return DISPLAY_NAME.deserialize(name[:DISPLAY_NAME_MAX])
    except ma.ValidationError:
        return None


def current_user():
    return g.user
