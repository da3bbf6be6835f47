"""A fake FCM HTTP v1 server on 127.0.0.1, for driving the real firebase-admin SDK in tests
and benchmarks.

It answers ``POST /v1/projects/{project}/messages:send`` the way FCM does: a request body
``{"message": {...}, "validate_only"?: bool}``, a bearer token required, success as
``{"name": "projects/{project}/messages/<id>"}`` and failures as Google API error bodies
carrying the FCM error detail the SDK parses into its exception types. It records every
message it received (with when, and the error it answered, if any) and counts every request,
so tests can also see the SDK's own retries. `latency` gives every answer FCM's round trip
(benchmarks); `fail_at_random` answers a share of requests with errors, as FCM does on a bad day
(the soak).

    with FakeFCMServer() as fcm:
        fcm.fail("UNREGISTERED", token="dead-token")
        fcm.fail("QUOTA_EXCEEDED", retry_after="3600")   # every other token
        fcm.delay(2.0, token="slow-token")
        fcm.fail_at_random({"UNAVAILABLE": 0.03, "QUOTA_EXCEEDED": 0.02}, retry_after="20")
        ...  # point FirebaseTransport(app, endpoint=fcm.url) at it
        assert fcm.messages[0]["token"] == "..."
"""

import dataclasses
import http.server
import itertools
import json
import random
import re
import socket
import threading
import time

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

# FCM error code → (HTTP status, Google API status, message), as the real API answers.
ERRORS = {
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "INVALID_ARGUMENT": (
        400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for sending messages."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
}

_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")


@dataclasses.dataclass(frozen=True)
class ReceivedMessage:
    """One well-formed, authorized send request, whatever the fake answered."""

    project: str
    message: dict
    validate_only: bool
    authorization: str
    answer: str | None = None      # the FCM error code it was answered with; None: success
    at: float = 0.0                # when it was received (time.time())


@dataclasses.dataclass
class _Rule:
    error: str | None = None
    retry_after: str | None = None
    delay: float = 0.0
    times: int | None = None      # answer this way this many times, then forget the rule


class FakeFCMServer:
    """A threaded fake of the FCM v1 send endpoint; start()/stop() or use as a context manager."""

    def __init__(self, host="127.0.0.1", port=0, record_messages=True, latency=0.0):
        """record_messages=False keeps only counts (a 100,000-message benchmark would otherwise
        hold every parsed message in memory). `latency` is how long every answer takes, in seconds:
        FCM's round trip (tens of milliseconds from a server), each request waiting on its own
        connection's thread, so concurrent requests wait at the same time as they do at FCM."""
        self._address = (host, port)
        self._record_messages = record_messages
        self.latency = latency
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._received = []
        self._request_count = 0
        self._requests_by_token = {}
        self._rules = {}              # token (None: every token) → _Rule
        self._random_errors = {}      # FCM error code → share of requests answered with it
        self._random_retry_after = None
        self._random = random.Random()
        self._ids = itertools.count(1)
        self._connections = set()
        self._httpd = None
        self._thread = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self):
        self._stopping.clear()
        self._httpd = _HTTPServer(self._address, _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name="fake-fcm", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is None:
            return
        self._stopping.set()          # wakes handlers sleeping in a delay
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # ends handler threads parked on keep-alive reads
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def url(self):
        """Base URL to give the transport as its endpoint, e.g. http://127.0.0.1:54321."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- behaviour ---------------------------------------------------------------------------

    def fail(self, error, token=None, retry_after=None, times=None):
        """Answer with an FCM error (a key of ERRORS) for one token, or for all when token is None.

        retry_after is sent verbatim as the Retry-After header (seconds or an HTTP-date).
        times limits how many answers the rule gives before the fake succeeds again.
        """
        if error not in ERRORS:
            raise ValueError(f"unknown FCM error {error!r}; one of {sorted(ERRORS)}")
        with self._lock:
            self._rules[token] = _Rule(error=error, retry_after=retry_after, times=times)

    def fail_at_random(self, shares, retry_after=None, seed=None):
        """Answer a share of requests with FCM errors, e.g. {"UNAVAILABLE": 0.03, "QUOTA_EXCEEDED":
        0.02}: each is a share of all requests, drawn independently for each one (an SDK retry may
        meet another). A rule for a token (fail, delay) comes first. retry_after is sent verbatim as
        the Retry-After header of these answers; {} stops them."""
        unknown = set(shares) - set(ERRORS)
        if unknown:
            raise ValueError(f"unknown FCM errors {sorted(unknown)}; known: {sorted(ERRORS)}")
        if sum(shares.values()) > 1:
            raise ValueError("the shares add up to more than every request")
        with self._lock:
            self._random_errors, self._random_retry_after = dict(shares), retry_after
            if seed is not None:
                self._random.seed(seed)

    def delay(self, seconds, token=None, times=None):
        """Answer successfully, but only after `seconds`, for one token or for all."""
        with self._lock:
            self._rules[token] = _Rule(delay=seconds, times=times)

    def reset(self):
        """Forget rules, recorded messages and counts."""
        with self._lock:
            self._rules.clear()
            self._random_errors = {}
            self._received.clear()
            self._requests_by_token.clear()
            self._request_count = 0

    # -- what was seen -----------------------------------------------------------------------

    @property
    def received(self):
        with self._lock:
            return list(self._received)

    @property
    def messages(self):
        """The "message" objects received, in arrival order."""
        return [r.message for r in self.received]

    @property
    def request_count(self):
        """Every HTTP request, including retries and rejected ones."""
        with self._lock:
            return self._request_count

    def requests_for(self, token):
        """How many send requests targeted this token (SDK retries included)."""
        with self._lock:
            return self._requests_by_token.get(token, 0)

    # -- used by the handler -----------------------------------------------------------------

    def _count_request(self):
        with self._lock:
            self._request_count += 1

    def _record(self, received):
        target = received.message.get("token") or received.message.get("fid")
        with self._lock:
            self._requests_by_token[target] = self._requests_by_token.get(target, 0) + 1
            rule = self._rules.get(target) or self._rules.get(None)
            if rule is None:
                rule = self._random_rule()
            elif rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self._rules = {k: v for k, v in self._rules.items() if v is not rule}
                rule = dataclasses.replace(rule, times=None)
            if self._record_messages:
                self._received.append(dataclasses.replace(received, answer=rule.error, at=time.time()))
            return rule

    def _random_rule(self):
        draw = self._random.random()
        for error, share in self._random_errors.items():
            if draw < share:
                return _Rule(error=error, retry_after=self._random_retry_after)
            draw -= share
        return _Rule()

    def _next_name(self, project):
        return f"projects/{project}/messages/0:{next(self._ids)}%fakefcm"


class _HTTPServer(http.server.ThreadingHTTPServer):
    request_queue_size = 1024         # a benchmark opens hundreds of connections at once
    daemon_threads = True

    def process_request(self, request, client_address):
        with self.fake._lock:
            self.fake._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.fake._lock:
            self.fake._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass                           # clients hanging up (timeouts, stop()) are expected


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive, as the SDK's connection pool expects
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024               # buffered: headers and body leave in one send
    server_version = "FakeFCM/1"
    sys_version = ""

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        fake = self.server.fake
        fake._count_request()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _SEND_PATH.match(self.path)
        if not match:
            return self._reply_error(404, "NOT_FOUND", f"No such method: {self.path}")
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer ") or not authorization[7:].strip():
            return self._reply_error(
                401, "UNAUTHENTICATED", "Request is missing required authentication credential.")
        try:
            payload = json.loads(body)
            message = payload["message"]
            targets = [k for k in ("token", "fid", "topic", "condition") if message.get(k)]
        except (ValueError, KeyError, TypeError, AttributeError):
            return self._reply_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if len(targets) != 1:
            return self._reply_error(
                400, "INVALID_ARGUMENT", "Exactly one of token, topic or condition is required.")

        if fake.latency and fake._stopping.wait(fake.latency):
            return self._reply(503, {"error": "server stopping"})
        project = match.group(1)
        rule = fake._record(ReceivedMessage(
            project=project, message=message,
            validate_only=bool(payload.get("validate_only")), authorization=authorization))
        if rule.delay and fake._stopping.wait(rule.delay):
            return self._reply(503, {"error": "server stopping"})
        if rule.error:
            status, google_status, text = ERRORS[rule.error]
            headers = {"Retry-After": rule.retry_after} if rule.retry_after else {}
            return self._reply_error(status, google_status, text, fcm_error=rule.error,
                                     headers=headers)
        self._reply(200, {"name": fake._next_name(project)})

    def _reply_error(self, status, google_status, text, fcm_error=None, headers=None):
        error = {"code": status, "message": text, "status": google_status}
        if fcm_error:
            error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": fcm_error}]
        self._reply(status, {"error": error}, headers)

    def _reply(self, status, document, headers=None):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def serve(arguments):
    """Serve until SIGTERM or SIGINT, then print how many requests were answered.

    Both signals get a handler of their own: a process started in the background by a
    non-interactive shell inherits SIGINT ignored, so Python never raises KeyboardInterrupt in it,
    and a caller stopping it with SIGINT would wait in vain (the benchmarks send SIGTERM).
    """
    import signal

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = FakeFCMServer(port=arguments.port, record_messages=arguments.record,
                           latency=arguments.latency_ms / 1000).start()
    if arguments.fail_at_random:
        shares = {code: float(share) for code, share in
                  (item.split("=", 1) for item in arguments.fail_at_random.split(","))}
        server.fail_at_random(shares, retry_after=arguments.retry_after)
    print(f"fake FCM at {server.url}; answers after {arguments.latency_ms:g} ms; SIGTERM or Ctrl-C to stop",
          flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    print(f"{server.request_count} requests", flush=True)


if __name__ == "__main__":
    # A fake in its own process, so a benchmark's client does not share a GIL with it:
    #   python -m tests.fakes.fcm_server --port 8765 --latency-ms 30
    import argparse

    parser = argparse.ArgumentParser(description="Serve a fake FCM HTTP v1 send endpoint.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", action="store_true", help="keep every received message")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="how long every answer takes (FCM's round trip), in milliseconds")
    parser.add_argument("--fail-at-random", metavar="CODE=SHARE,…",
                        help="answer a share of requests with FCM errors, e.g. UNAVAILABLE=0.03,QUOTA_EXCEEDED=0.02")
    parser.add_argument("--retry-after", help="the Retry-After header of those answers, e.g. 20")
    serve(parser.parse_args())
