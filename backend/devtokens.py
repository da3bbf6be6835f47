"""ID tokens for the Firebase Auth emulator convention (development, demo and tests only).

In emulator mode firebase-admin accepts unsigned tokens, so a local run needs no Google account.
These tokens are worthless against a production server, which refuses emulator mode.
"""

import time

import jwt


def emulator_id_token(uid, project_id, *, name=None, lifetime=30 * 24 * 3600):
    """An unsigned Firebase ID token for `uid`, shaped as the Auth emulator issues them."""
    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{project_id}",
        "aud": project_id,
        "sub": uid,
        "user_id": uid,
        "iat": now,
        "auth_time": now,
        "exp": now + lifetime,
        "firebase": {"sign_in_provider": "custom", "identities": {}},
    }
    if name:
        claims["name"] = name
    return jwt.encode(claims, None, algorithm="none")
