"""Guessing codes against a real multi-worker server (gunicorn, 4 workers × 4 threads, as the
Dockerfile runs it) with shared Redis counters: 60 parallel guesses never get more evaluations than
the limit, because each try is counted before its code is looked at."""

import concurrent.futures
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from backend.config import DEV_AUTH_EMULATOR_HOST, DEV_PROJECT_ID
from backend.devtokens import emulator_id_token

ROOT = Path(__file__).resolve().parent.parent
PARALLEL = 60


def call(url, *, method="GET", body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def server(app, database_url):
    """gunicorn with the Dockerfile's workers and threads, on the test database, counting in Redis
    under a key prefix of its own."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database_url, "CARELOOP_ENV": "development", "CARELOOP_PUSH": "local",
           "FIREBASE_PROJECT_ID": DEV_PROJECT_ID, "FIREBASE_AUTH_EMULATOR_HOST": DEV_AUTH_EMULATOR_HOST,
           "REDIS_URL": "redis://127.0.0.1:6379/0", "CARELOOP_REDIS_KEY_PREFIX": f"careloop-test-{uuid.uuid4().hex}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "4", "--threads", "4", "-b", f"127.0.0.1:{port}",
         "backend:create_app()"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert call(f"{base}/readyz") == 200
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def in_parallel(calls):
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(lambda f: f(), calls))


def token(uid):
    return emulator_id_token(uid, DEV_PROJECT_ID)


def test_sixty_parallel_invite_guesses_from_one_account_get_five_evaluations(server):
    guesser = token(f"guesser-{uuid.uuid4().hex[:8]}")
    assert call(f"{server}/v1/me", token=guesser) == 200
    statuses = in_parallel([lambda: call(f"{server}/v1/shares/accept", method="POST", token=guesser,
                                         body={"code": "WRONG-C0DE5"})] * PARALLEL)
    evaluated = [status for status in statuses if status != 429]
    assert set(statuses) <= {404, 422, 429}
    assert len(evaluated) == 5


def test_sixty_parallel_invite_guesses_from_rotating_accounts_get_the_addresss_twenty(server):
    guessers = [token(f"rotating-{uuid.uuid4().hex[:8]}") for _ in range(PARALLEL)]
    in_parallel([lambda t=t: call(f"{server}/v1/me", token=t) for t in guessers])
    statuses = in_parallel([lambda t=t: call(f"{server}/v1/shares/accept", method="POST", token=t,
                                             body={"code": "WRONG-C0DE5"}) for t in guessers])
    assert len([status for status in statuses if status != 429]) == 20


def test_sixty_parallel_unknown_report_links_get_twenty_evaluations(server):
    statuses = in_parallel([lambda: call(f"{server}/r/{secrets.token_urlsafe(24)}")] * PARALLEL)
    assert set(statuses) <= {404, 429}
    assert statuses.count(404) == 20
