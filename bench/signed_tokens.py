"""Firebase ID tokens signed the way Google signs them, and the certificates that verify them,
served on loopback (the benchmarks and tests/accounts/test_auth_certificates.py).

Production verifies each bearer token's RS256 signature with firebase-admin against Google's
x509 certificates, fetched over HTTP and kept in the SDK's HTTP cache for as long as the answer's
Cache-Control max-age says. This serves a certificate document of the same shape (two key ids,
as Google publishes the current key and the next one) with the same kind of headers, and signs
tokens carrying the claims a Firebase ID token carries. Point an app at it with
CARELOOP_FIREBASE_CERTIFICATES_URL (and no emulator: emulator mode skips the signature check).

    with GoogleCertificates() as google:
        app = create_app({"FIREBASE_AUTH_EMULATOR_HOST": None,
                          "CARELOOP_FIREBASE_CERTIFICATES_URL": google.url, ...})
        token = google.id_token("some-uid", project_id)
        assert google.fetches == 1          # after the first request; the SDK caches the rest
"""

import datetime as dt
import http.server
import json
import threading
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# Google's answers carry `Cache-Control: public, max-age=<about 6 hours>, must-revalidate, no-transform`.
MAX_AGE = 6 * 3600
TOKEN_LIFETIME = 3600            # Firebase ID tokens last an hour; the apps refresh them before that


def new_key():
    """A 2048-bit RSA key, as Google's securetoken keys are."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate_pem(key):
    """A self-signed x509 certificate of `key`'s public half, as Google publishes its keys."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=14))
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def sign_id_token(key, kid, uid, project_id, *, lifetime=TOKEN_LIFETIME, issued_at=None, name=None):
    """An RS256 Firebase ID token for `uid`, with the claims and header Firebase Auth issues
    (an e-mail sign-in; about 1 KB, as real ones are)."""
    now = int(issued_at if issued_at is not None else time.time())
    email = f"{uid}@example.com"
    claims = {
        "iss": f"https://securetoken.google.com/{project_id}",
        "aud": project_id,
        "auth_time": now,
        "user_id": uid,
        "sub": uid,
        "iat": now,
        "exp": now + lifetime,
        "email": email,
        "email_verified": True,
        "firebase": {"identities": {"email": [email]}, "sign_in_provider": "password"},
    }
    if name:
        claims["name"] = name
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


class GoogleCertificates:
    """Google's ID token certificate endpoint, on 127.0.0.1 in a thread; signs tokens with the
    first of its two keys. start()/stop(), or use it as a context manager."""

    def __init__(self, max_age=MAX_AGE):
        self.max_age = max_age
        self.keys = {f"bench-key-{n}": new_key() for n in (1, 2)}
        self.kid = next(iter(self.keys))
        self.body = json.dumps({kid: certificate_pem(key) for kid, key in self.keys.items()}).encode()
        self.fetches = 0
        self._lock = threading.Lock()
        self._tokens = {}
        self._httpd = self._thread = None

    def start(self):
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.certificates = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="google-certificates", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
            self._httpd = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def url(self):
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/robot/v1/metadata/x509/securetoken"

    def id_token(self, uid, project_id, **claims):
        """A token for `uid` signed with the published key, reused while it has 10 minutes left
        (a phone keeps its token for its hour, then gets a new one)."""
        key = (uid, project_id, tuple(sorted(claims.items())))
        with self._lock:
            token, expires = self._tokens.get(key, (None, 0))
            if expires - time.time() < 600:
                issued = time.time()
                token = sign_id_token(self.keys[self.kid], self.kid, uid, project_id, issued_at=issued, **claims)
                self._tokens[key] = (token, issued + TOKEN_LIFETIME)
            return token

    def _fetched(self):
        with self._lock:
            self.fetches += 1


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        certificates = self.server.certificates
        certificates._fetched()
        self.send_response(200)     # with a Date header, which the SDK's cache needs to age the answer
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Cache-Control", f"public, max-age={certificates.max_age}, must-revalidate, no-transform")
        self.send_header("Content-Length", str(len(certificates.body)))
        self.end_headers()
        self.wfile.write(certificates.body)

    def log_message(self, format, *args):
        pass
