"""Bearer authentication with Firebase ID tokens, verified by firebase-admin."""

import logging
import os
import uuid

import firebase_admin
import google.auth.credentials
import marshmallow as ma
from firebase_admin import auth as firebase_auth
from firebase_admin import credentials
from flask import current_app, g, request

from backend.accounts.schemas import DISPLAY_NAME_MAX, ProfileSchema
from backend.accounts.services import user_for_firebase_uid
from backend.errors import Problem, Unauthorized
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
    emulator_host = app.config.get("FIREBASE_AUTH_EMULATOR_HOST")
    if emulator_host:
        # firebase-admin reads this from the environment; it makes the SDK accept unsigned tokens,
        # which config.check_config refuses in production.
        os.environ["FIREBASE_AUTH_EMULATOR_HOST"] = emulator_host
        log.warning("Firebase Auth emulator mode: ID tokens are NOT signature-checked (development only)")
    # Push sends from a firebase-admin app of its own, with credentials. A uuid, not id(app): ids
    # of collected Flask apps are reused, and firebase-admin refuses a name it has seen.
    app.extensions["firebase_app"] = firebase_admin.initialize_app(
        PublicKeysOnly(), options={"projectId": app.config["FIREBASE_PROJECT_ID"]},
        name=f"careloop-auth-{uuid.uuid4().hex}")


def close(app):
    """Release the firebase-admin app this Flask app verifies tokens with."""
    sdk_app = app.extensions.pop("firebase_app", None)
    if sdk_app is not None:
        firebase_admin.delete_app(sdk_app)


def firebase_app():
    return current_app.extensions["firebase_app"]


def verify_bearer_token():
    """Return the verified claims of the request's bearer token, or raise 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send 'Authorization: Bearer <Firebase ID token>'.")
    try:
        return firebase_auth.verify_id_token(token.strip(), app=firebase_app())
    except firebase_auth.ExpiredIdTokenError:
        raise Unauthorized("The ID token has expired.") from None
    except firebase_auth.RevokedIdTokenError:
        raise Unauthorized("The ID token has been revoked.") from None
    except (firebase_auth.InvalidIdTokenError, ValueError):
        raise Unauthorized("The ID token is not valid.") from None
    except firebase_auth.CertificateFetchError:
        log.error("could not fetch Google's token certificates; ID tokens cannot be verified")
        raise TokenVerificationUnavailable("ID tokens cannot be verified right now; try again shortly.") from None


def authenticate():
    """before_request hook of the authenticated blueprints: load (or create) the calling user."""
    if request.method == "OPTIONS":
        return
    claims = verify_bearer_token()
    g.user, created = user_for_firebase_uid(claims["uid"], display_name=token_display_name(claims.get("name")))
    if created:
        # Signing up is its own unit of work: the request that follows may be a read.
        db.session.commit()


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
