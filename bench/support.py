"""What the benchmarks share: the apps' settings and signed sign-ins, throwaway PostgreSQL
databases, gunicorn servers as the Dockerfile runs them, CPU accounting, sizes, result files and
tables.

Every app a benchmark builds checks ID token signatures as production does (firebase-admin, RS256,
certificates fetched over HTTP and cached for their max-age), against a certificate endpoint this
process serves on loopback; none runs in emulator mode.

CARELOOP_BENCH_SCALE (default 1) scales every benchmark's data and work down for a smoke run,
e.g. CARELOOP_BENCH_SCALE=0.02: its figures are not the benchmark's.
"""

import collections
import contextlib
import datetime as dt
import functools
import json
import os
import secrets
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
# Production processes share rate limits and guess budgets in Redis; the benchmarks' keys carry a
# prefix of their own.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PROJECT_ID = "careloop-bench"
SCALE = float(os.environ.get("CARELOOP_BENCH_SCALE") or 1)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Server = collections.namedtuple("Server", "port pid")


def scaled(count, minimum=1):
    """`count` times CARELOOP_BENCH_SCALE, at least `minimum`."""
    return max(minimum, round(count * SCALE))


def scale_note():
    """A line for a smoke run's output, or nothing at full size."""
    return "" if SCALE == 1 else f"  CARELOOP_BENCH_SCALE={SCALE:g}: a smoke run, not the benchmark's figures"


# -- signing in as production does ---------------------------------------------------------------

@functools.cache
def google_certificates():
    """This process's stand-in for Google's ID token certificate endpoint (one for the whole run:
    servers and apps fetch from it, then use their cache)."""
    from bench.signed_tokens import GoogleCertificates

    return GoogleCertificates().start()


def bearer_headers(uid):
    """Request headers carrying a signed Firebase ID token for `uid`."""
    return {"Authorization": "Bearer " + google_certificates().id_token(uid, PROJECT_ID)}


@functools.cache
def _secret_key():
    """This run's CARELOOP_SECRET_KEY, the same in-process and in the servers: it keys the hashes of
    report-link tokens, so a link made here opens there."""
    return secrets.token_urlsafe(48)


def app_config(url, **extra):
    """Settings of an app built in this process: development defaults (local push), but ID tokens
    signature-checked against google_certificates(), never emulator mode."""
    return {"CARELOOP_ENV": "development", "DATABASE_URL": url, "FIREBASE_PROJECT_ID": PROJECT_ID,
            "FIREBASE_AUTH_EMULATOR_HOST": None,
            "CARELOOP_FIREBASE_CERTIFICATES_URL": google_certificates().url,
            "SECRET_KEY": _secret_key(), "CARELOOP_PUSH": "local", **extra}


def production_env(url, **extra):
    """The environment of a production process (the Dockerfile's CARELOOP_ENV=production: shared
    limits in Redis, Firebase push) on `url`, for gunicorn and `careloop jobs` subprocesses; the
    caller's own Careloop, Firebase and Google settings are left out (GUNICORN_WORKERS and
    GUNICORN_THREADS stay: server_concurrency() reads them too)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CARELOOP_", "FIREBASE_", "GOOGLE_", "PROMETHEUS_"))}
    env.update({"CARELOOP_ENV": "production", "DATABASE_URL": url, "FIREBASE_PROJECT_ID": PROJECT_ID,
                "CARELOOP_FIREBASE_CERTIFICATES_URL": google_certificates().url,
                "CARELOOP_SECRET_KEY": _secret_key(), "REDIS_URL": REDIS_URL,
                "CARELOOP_REDIS_KEY_PREFIX": f"careloop-bench-{os.getpid()}"}, **extra)
    return env


def check_signatures_refused(client_get):
    """Prove that this run's servers check signatures: a token signed with another key under the
    published key id must be refused. `client_get(path, headers)` returns a status code."""
    from bench.signed_tokens import new_key, sign_id_token

    forged = sign_id_token(new_key(), google_certificates().kid, "bench-forger", PROJECT_ID)
    status = client_get("/v1/me", {"Authorization": f"Bearer {forged}"})
    if status != 401:
        raise RuntimeError(f"a token signed with another key got {status}, not 401: signatures are not checked")


@contextlib.contextmanager
def fresh_database(label):
    """A new database `careloop_bench_<label>_<pid>` at the migrations' head, dropped afterwards;
    yields its URL."""
    from flask_migrate import upgrade

    from backend import close_app, create_app

    name = f"careloop_bench_{label}_{os.getpid()}"
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    url = f"{POSTGRES_URL}/{name}"
    try:
        app = create_app(app_config(url))
        with app.app_context():  # what `careloop db upgrade` does
            upgrade()
        close_app(app)
        yield url
    finally:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def server_concurrency():
    """Requests the Dockerfile's gunicorn serves at once (workers × threads of its config file)."""
    from backend import gunicorn_conf

    return gunicorn_conf.workers * gunicorn_conf.threads


@contextlib.contextmanager
def gunicorn(app_spec, env, *, ready_path=None):
    """Serve `app_spec` as the Dockerfile does (`gunicorn -c python:backend.gunicorn_conf`: its
    workers and threads, its redacting access log, prometheus-client's multiprocess directory) on
    a free local port until the block ends; yields a Server. The access log goes to a temporary
    file, as a container's stdout goes to its log driver.

    Waits until the server answers (`ready_path`, or any HTTP answer at all) before yielding.
    """
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    metrics = tempfile.TemporaryDirectory(prefix="careloop-bench-metrics-")
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "PROMETHEUS_MULTIPROC_DIR": metrics.name}
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:backend.gunicorn_conf", app_spec],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
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
        metrics.cleanup()


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


def results_of(name, started, load_before, parts):
    """A benchmark's results as bench/results/<name>.json keeps them: its `parts`, when it was
    measured, the machine's load per core at its start (`load_before`) and end, and how long it
    took since `started` (time.perf_counter())."""
    return {"benchmark": name,
            "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine_load_per_core": {"start": load_before, "end": machine_load()},
            **parts,
            "duration_s": round(time.perf_counter() - started, 1)}


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


class StatementClock:
    """Counts the statements an engine runs and the time they take (driver and database)."""

    def __init__(self, engine):
        import sqlalchemy as sa

        self.engine = engine
        self.reset()
        self.listeners = (("before_cursor_execute", self.before), ("after_cursor_execute", self.after))
        for name, listener in self.listeners:
            sa.event.listen(engine, name, listener)

    def reset(self):
        self.seconds, self.count = 0.0, 0

    def before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_statement_began"] = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, executemany):
        self.seconds += time.perf_counter() - conn.info.pop("bench_statement_began")
        self.count += 1

    def remove(self):
        import sqlalchemy as sa

        for name, listener in self.listeners:
            sa.event.remove(self.engine, name, listener)
