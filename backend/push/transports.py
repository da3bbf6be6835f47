"""Which transport pushes go through: Firebase Cloud Messaging, the local (development) one, or
one given in the configuration (`PUSH_TRANSPORT`, the seam tests and benchmarks use for fakes)."""

import uuid

from flask import current_app


def transport():
    """The push transport of this app: `PUSH_TRANSPORT` when configured, else the one
    `CARELOOP_PUSH` names (created once per app)."""
    configured = current_app.config.get("PUSH_TRANSPORT")
    if configured is not None:
        return configured
    existing = current_app.extensions.get("careloop.push_transport")
    if existing is None:
        if current_app.config["CARELOOP_PUSH"] == "firebase":
            existing = firebase_transport(current_app)
        else:
            from backend.push.local import LocalTransport
            existing = LocalTransport()
        current_app.extensions["careloop.push_transport"] = existing
    return existing


def close(app):
    """Release the transport this app created: its pooled connections to FCM and its SDK app."""
    created = app.extensions.pop("careloop.push_transport", None)
    if hasattr(created, "close"):
        import firebase_admin

        created.close()
        firebase_admin.delete_app(created.sdk_app)


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
