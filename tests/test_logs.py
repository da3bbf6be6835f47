"""Log lines: plain text by default, one JSON object per line with CARELOOP_LOG_FORMAT=json (the
Dockerfile) in the API's workers, gunicorn's own and access logs and the jobs process, a request's
lines carrying the id its X-Request-Id header answers with. Whichever server wrote them (werkzeug's
for `careloop run`, gunicorn's as the Dockerfile runs it), request lines never carry a report link's
token (a key to someone's report), and no line carries health details, bearer tokens or an
exception's message."""

import contextlib
import datetime as dt
import io
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from werkzeug.serving import make_server

from backend import logs
from backend.config import DEV_PROJECT_ID, ConfigError, load_config
from backend.devtokens import emulator_id_token
from tests.support import checkin_body

ROOT = Path(__file__).resolve().parent.parent
HEALTH_DETAIL = "I relapsed on kratom after the funeral"
# The plain format of today: "2026-11-29 10:00:00,123 INFO careloop.jobs: jobs process started: …"
PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def send(method, url, body=None, headers=None):
    """One request; its status and response headers, whatever the status."""
    request = urllib.request.Request(url, method=method, headers={"Content-Type": "application/json", **(headers or {})},
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def json_lines(text):
    """Every line of `text` as the JSON object it must be, with the fields every line has."""
    entries = [json.loads(line) for line in text.splitlines()]
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
        assert dt.datetime.fromisoformat(entry["time"]).utcoffset() == dt.timedelta(0), entry
    return entries


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


@contextlib.contextmanager
def gunicorn(database_url, tmp_path, **settings):
    """gunicorn with the Dockerfile's settings (one worker) on the test database: its address, its
    access log file and its stderr file (gunicorn's own lines and the app's)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    access_log, stderr_log = tmp_path / "access.log", tmp_path / "stderr.log"
    env = {**os.environ, "DATABASE_URL": database_url, "CARELOOP_ENV": "development", "CARELOOP_PUSH": "local",
           **settings}
    with stderr_log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:backend.gunicorn_conf", "-w", "1", "-b",
             f"127.0.0.1:{port}", "--access-logfile", str(access_log), "backend:create_app()"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while get_or_none(f"http://127.0.0.1:{port}/healthz") is None:
            assert process.poll() is None and time.monotonic() < deadline, stderr_log.read_text()
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", access_log, stderr_log
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def gunicorn_access_log(database_url, tmp_path):
    """gunicorn as the Dockerfile runs it, on the test database: its address and access log file."""
    with gunicorn(database_url, tmp_path) as (base, access_log, _):
        yield base, access_log


def read_once_written(path, text):
    """The file once `text` is in it: gunicorn writes a request's access line after the answer."""
    deadline = time.monotonic() + 10
    while text not in path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    return path.read_text()


def get_or_none(url):
    try:
        return get(url)
    except OSError:
        return None


def test_gunicorns_access_log_redacts_report_tokens(app, gunicorn_access_log):
    base, access_log = gunicorn_access_log
    token = secrets.token_urlsafe(24)
    assert get(f"{base}/r/{token}") == 404
    text = read_once_written(access_log, "/r/")
    assert "/r/[redacted]" in text
    assert token not in text


def test_in_json_format_gunicorn_and_the_app_write_json_lines_with_the_requests_id(app, database_url, tmp_path):
    person = {"Authorization": "Bearer " + emulator_id_token(f"user-{uuid.uuid4().hex[:12]}", DEV_PROJECT_ID)}
    report_token = secrets.token_urlsafe(24)
    with gunicorn(database_url, tmp_path, CARELOOP_LOG_FORMAT="json") as (base, access_log, stderr_log):
        assert send("POST", f"{base}/v1/checkins", checkin_body(note=HEALTH_DETAIL), person)[0] == 201
        # Deleting an account logs (its row counts) while answering the request.
        status, headers = send("DELETE", f"{base}/v1/me", {"confirm": "delete my account and data"}, person)
        assert status == 204
        assert get(f"{base}/r/{report_token}") == 404
        access_text = read_once_written(access_log, "/r/")
    stderr_text = stderr_log.read_text()

    request_id = headers["X-Request-Id"]
    app_lines = json_lines(stderr_text)
    assert {"gunicorn.error", "backend.mydata.services"} <= {line["logger"] for line in app_lines}
    [deleted] = [line for line in app_lines if line["message"].startswith("account deleted")]
    assert deleted["request_id"] == request_id
    access_lines = json_lines(access_text)
    [deletion] = [line for line in access_lines if line["method"] == "DELETE"]
    assert (deletion["path"], deletion["status"], deletion["request_id"]) == ("/v1/me", 204, request_id)
    [report] = [line for line in access_lines if line["path"].startswith("/r/")]
    assert report["path"] == "/r/[redacted]"
    for text in (stderr_text, access_text):
        for secret in (HEALTH_DETAIL, "funeral", person["Authorization"][len("Bearer "):], report_token):
            assert secret not in text


def test_json_lines_carry_the_request_id_a_client_sent(app, client, make_person, json_log):
    person = make_person()
    response = client.delete("/v1/me", json={"confirm": "delete my account and data"},
                             headers={**person.headers, "X-Request-Id": "support-ticket-4711"})
    assert response.status_code == 204
    assert response.headers["X-Request-Id"] == "support-ticket-4711"
    [deleted] = [line for line in json_log() if line["message"].startswith("account deleted")]
    assert deleted["request_id"] == "support-ticket-4711"


def test_a_json_line_names_an_exceptions_type_and_where_never_its_message(json_log):
    try:
        raise ValueError(f'new row violates check constraint: Failing row contains ("{HEALTH_DETAIL}")')
    except ValueError:
        logging.getLogger("careloop.jobs").exception("job send-reminders failed")
    [line] = json_log()
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "careloop.jobs", "job send-reminders failed")
    assert line["exception"] == "ValueError"
    assert "test_a_json_line_names_an_exceptions_type_and_where_never_its_message" in line["where"]
    assert "funeral" not in json.dumps(line)


@pytest.fixture
def json_log(caplog):
    """The root logger's lines in json format during a test, parsed (pytest holds the root logger,
    so the app never sets its own handler in-process)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    caplog.set_level(logging.INFO)
    logging.getLogger().addHandler(handler)
    yield lambda: json_lines(stream.getvalue())
    logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_the_jobs_process_logs_in_the_same_format(app, database_url, tmp_path, log_format):
    heartbeat = tmp_path / "heartbeat"
    env = {**os.environ, "DATABASE_URL": database_url, "CARELOOP_ENV": "development", "CARELOOP_PUSH": "local",
           "CARELOOP_JOBS_HEARTBEAT": str(heartbeat), "CARELOOP_LOG_FORMAT": log_format}
    careloop = Path(sys.executable).parent / "careloop"
    process = subprocess.Popen([str(careloop), "jobs"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not heartbeat.exists():  # a job ran to the end: the process has said it started
            assert process.poll() is None and time.monotonic() < deadline, "careloop jobs did not run a job"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    if log_format == "json":
        lines = json_lines(stderr)
        assert any(line["logger"] == "careloop.jobs" and line["message"].startswith("jobs process started")
                   for line in lines), stderr
        assert any(line["logger"] == "careloop.jobs" and line["message"].startswith("jobs process stopped")
                   for line in lines), stderr
    else:
        assert all(PLAIN_LINE.match(line) for line in stderr.splitlines()), stderr
        assert re.search(r"^\S+ \S+ INFO careloop\.jobs: jobs process started: ", stderr, re.MULTILINE), stderr


def test_the_image_and_compose_write_json_lines():
    assert re.search(r"^\s*CARELOOP_LOG_FORMAT=json\b", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    for name in ("api", "jobs", "migrate"):
        assert services[name]["environment"]["CARELOOP_LOG_FORMAT"] == "json"


def test_an_unknown_log_format_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="CARELOOP_LOG_FORMAT"):
        load_config(tmp_path, {"CARELOOP_LOG_FORMAT": "xml"})
