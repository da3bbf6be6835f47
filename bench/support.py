"""What the benchmarks share: throwaway PostgreSQL databases, gunicorn servers, CPU accounting,
result files and tables."""

import collections
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
# The server the benchmarks create their databases on (no database name).
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
DEV_ENV = {
    "CARELOOP_ENV": "development",
    "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099",
    "FIREBASE_PROJECT_ID": "careloop-local",
    "CARELOOP_PUSH": "local",
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Server = collections.namedtuple("Server", "port pid")


@contextlib.contextmanager
def fresh_database(label):
    """A new database `careloop_bench_<label>_<pid>` at the migrations' head, dropped afterwards;
    yields its URL."""
    from flask_migrate import upgrade

    from backend import create_app
    from backend.extensions import db

    name = f"careloop_bench_{label}_{os.getpid()}"
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    url = f"{POSTGRES_URL}/{name}"
    try:
        app = create_app({**DEV_ENV, "DATABASE_URL": url})
        with app.app_context():  # what `careloop db upgrade` does
            upgrade()
            db.engine.dispose()
        yield url
    finally:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def gunicorn(app_spec, env, *, workers=2, threads=4, ready_path=None):
    """Serve `app_spec` with gunicorn on a free local port until the block ends; yields a Server.

    Waits until the server answers (`ready_path`, or any HTTP answer at all) before yielding.
    """
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads),
         "-b", f"127.0.0.1:{port}", "--log-level", "warning", app_spec],
        cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(port, ready_path or "/", process, log)
        yield Server(port, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(port, path, process, log, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on port {port} within {timeout} s")


def cpu_seconds(pids):
    """User + system CPU seconds used so far by each of these processes that still runs (Linux)."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return seconds


def with_children(pid):
    """`pid` and its direct children (a gunicorn master and its workers)."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return pids


def machine_load():
    """The 1-minute load average over the core count: above 1, processes queue for a CPU."""
    return round(os.getloadavg()[0] / os.cpu_count(), 2)


def write_results(name, results):
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def print_table(rows, headers):
    """A plain fixed-width table: first column left-aligned, the rest right-aligned."""
    cells = [headers] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
