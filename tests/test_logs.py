"""Request log lines never carry a report link's token (a key to someone's report), whichever server
wrote them: werkzeug's (`careloop run`) or gunicorn's access log as the Dockerfile runs it."""

import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_werkzeugs_request_lines_redact_report_tokens(app, caplog):
    token = secrets.token_urlsafe(24)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            assert get(f"http://127.0.0.1:{server.server_port}/r/{token}?from=mail") == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any("/r/[redacted]" in line for line in lines), lines
    assert token not in caplog.text


@pytest.fixture
def gunicorn_access_log(database_url, tmp_path):
    """gunicorn with the Dockerfile's settings (one worker) and an access log file, on the test database."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    access_log = tmp_path / "access.log"
    env = {**os.environ, "DATABASE_URL": database_url, "CARELOOP_ENV": "development", "CARELOOP_PUSH": "local"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:backend.gunicorn_conf", "-w", "1", "-b", f"127.0.0.1:{port}",
         "--access-logfile", str(access_log), "backend:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while get_or_none(f"http://127.0.0.1:{port}/healthz") is None:
            assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", access_log
    finally:
        process.terminate()
        process.wait(timeout=20)


def get_or_none(url):
    try:
        return get(url)
    except OSError:
        return None


def test_gunicorns_access_log_redacts_report_tokens(app, gunicorn_access_log):
    base, access_log = gunicorn_access_log
    token = secrets.token_urlsafe(24)
    assert get(f"{base}/r/{token}") == 404
    deadline = time.monotonic() + 10
    while "/r/" not in access_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # gunicorn writes its access line after the answer
    text = access_log.read_text()
    assert "/r/[redacted]" in text
    assert token not in text
