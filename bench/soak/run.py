"""One soak run: the production topology on loopback, the phones, the faults, the drain, the checks.

The order of a run: a fresh database (dropped at the end, whatever happens) → proxies in front of
PostgreSQL and Redis → `careloop db upgrade` → the fake FCM → two gunicorn masters and two
`careloop jobs`, all in production settings → phones sign up through the API → the quiet people
are written into the database → the steady phase (phones at work, reminders coming due every
minute, the faults on a timeline) → the drain → everything stopped → the checks.
"""

import collections
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import sqlalchemy as sa

from bench.soak import checks
from bench.soak.children import CARELOOP, ROOT, Child, Controlled, children_of, rss_bytes, wait_until_serving
from bench.soak.people import QuietPeople, due_minutes, every_nth, local_times
from bench.soak.phones import EMERGENCY_SIGN, LEAF_LIMIT_G, Api, Ledger, Phone, Traffic, Wire

PROJECT_ID = "careloop-soak"
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DB_PREFIX = "careloop_soak_"
# The jobs process is killed, and PostgreSQL cut, at minutes when reminders come due (these shares
# of the way through them), while a batch is being sent; the deploy and the Redis cut come between.
KILL_AT, CUT_AT = 0.2, 0.6
DB_CUT_SECONDS = 5
REDIS_CUT_SECONDS = 10
# A 503 is expected from the cut until the pools have reconnected.
RECONNECT_GRACE = 15
RSS_EVERY = 10
# Seconds kept from the budget for the drain, stopping everything and the checks; the drain itself
# gives up after DRAIN_MAX.
FINISH_RESERVE = 40
DRAIN_MAX = 90
MEMORY_LIMIT = 1.5


@dataclasses.dataclass
class Settings:
    minutes: float = 8.5
    phones: int = 150
    quiet: int = 4000
    every: int = 2
    rate: float = 40
    workers: int = 24
    api_workers: int | None = None    # per master; None: half of backend/gunicorn_conf.py's
    api_threads: int | None = None    # None: backend/gunicorn_conf.py's
    fcm_latency_ms: float = 40
    fcm_errors: str = "UNAVAILABLE=0.03,QUOTA_EXCEEDED=0.02"
    fcm_retry_after: str = "20"
    logs: Path | None = None


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ceil_minute(instant):
    floor = instant.replace(second=0, microsecond=0)
    return floor if floor == instant else floor + dt.timedelta(minutes=1)


class Soak:
    def __init__(self, settings):
        self.settings = settings
        self.started = time.time()
        self.run_id = f"{os.getpid()}"
        self.database = f"{DB_PREFIX}{os.getpid()}"
        self.redis_prefix = f"careloop-soak-{os.getpid()}"
        # The children's logs: the last run's are replaced (bench/results/ is not committed).
        self.logs = Path(settings.logs or ROOT / "bench" / "results" / "soak-logs")
        self.logs.mkdir(parents=True, exist_ok=True)
        for old in self.logs.glob("*.log"):
            old.unlink()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"careloop-soak-{os.getpid()}-"))
        self.children = {}
        self.retired = []         # children stopped on purpose during the run (their logs are read too)
        self.faults = []          # what was done to the topology, when
        self.windows = []         # where a batch in flight may be sent twice
        self.outages = []         # where a 503 is expected
        self.rss = collections.defaultdict(list)
        self.load = []            # (when, 1-minute load average per core)
        self.secret_key = secrets.token_urlsafe(48)
        self.admin = None
        self.api = None
        self.deploy_exit = None
        self.exits = {}
        self.certificates = None
        self.database_created = False
        self.cleaned = False

    # -- the topology --------------------------------------------------------------------------

    def server_url(self, database="postgres"):
        return sa.make_url(POSTGRES_URL).set(database=database)

    def connect(self, database=None, autocommit=False):
        """A connection of the soak's own, straight to PostgreSQL (not through the proxy)."""
        url = self.server_url(database or self.database).render_as_string(hide_password=False)
        return psycopg.connect(url, autocommit=autocommit)

    def forget_stale_runs(self):
        """What earlier soaks killed before they could clean up left behind (their children stopped
        with them): their databases, Redis keys and working directories, if their process is gone."""
        def gone(pid):
            return pid.isdigit() and not Path(f"/proc/{pid}").exists()

        with self.connect("postgres", autocommit=True) as admin:
            for (name,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                         [DB_PREFIX + "%"]).fetchall():
                if gone(name[len(DB_PREFIX):]):
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    say(f"  dropped {name}, left by a soak that did not finish")
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
            stale = [key for key in client.scan_iter("careloop-soak-*", count=1000)
                     if gone(key.decode().split(":", 1)[0].removeprefix("careloop-soak-"))]
            if stale:
                client.delete(*stale)
        for directory in Path(tempfile.gettempdir()).glob("careloop-soak-*-*"):
            if gone(directory.name.split("-")[2]):
                shutil.rmtree(directory, ignore_errors=True)

    def create_database(self):
        self.forget_stale_runs()
        with self.connect("postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        self.database_created = True
        self.admin = self.connect(autocommit=True)

    def app_database_url(self, name):
        """The database as the API and the jobs reach it: through the proxy, named in pg_stat_activity."""
        url = self.server_url(self.database).set(host="127.0.0.1", port=self.pg_proxy_port,
                                                 query={"application_name": name})
        return url.render_as_string(hide_password=False)

    def env(self, name, **extra):
        """A production process's environment (the Dockerfile's settings)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CARELOOP_", "FIREBASE_", "GOOGLE_", "GUNICORN_", "PROMETHEUS_"))
               and k not in ("DATABASE_URL", "REDIS_URL")}
        redis = sa.make_url(REDIS_URL).set(host="127.0.0.1", port=self.redis_proxy_port)
        env.update({
            "CARELOOP_ENV": "production", "CARELOOP_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.app_database_url(name), "FIREBASE_PROJECT_ID": PROJECT_ID,
            "CARELOOP_FIREBASE_CERTIFICATES_URL": self.certificates.url, "CARELOOP_SECRET_KEY": self.secret_key,
            "REDIS_URL": redis.render_as_string(hide_password=False), "CARELOOP_REDIS_KEY_PREFIX": self.redis_prefix,
            "CARELOOP_PUSH": "firebase", "CARELOOP_FCM_ENDPOINT": self.fcm_url,
            "CARELOOP_PUBLIC_URL": f"http://127.0.0.1:{self.api_ports['A']}",
        })
        env.update(extra)
        return env

    def start_proxies(self):
        pg = sa.make_url(POSTGRES_URL)
        redis = sa.make_url(REDIS_URL)
        self.pg_proxy_port, self.redis_proxy_port = free_port(), free_port()
        for name, port, target in (("pg-proxy", self.pg_proxy_port, f"{pg.host}:{pg.port or 5432}"),
                                   ("redis-proxy", self.redis_proxy_port, f"{redis.host}:{redis.port or 6379}")):
            self.children[name] = Controlled(name, [sys.executable, "-m", "bench.soak.proxy", "--port", str(port),
                                                    "--target", target], os.environ.copy(), self.logs)

    def start_fcm(self, dead_tokens):
        dead = self.workdir / "dead-tokens.txt"
        dead.write_text("\n".join(dead_tokens) + "\n")
        self.fcm_record = self.workdir / "fcm-received.jsonl"
        s = self.settings
        self.children["fcm"] = fcm = Controlled("fcm", [
            sys.executable, "-m", "bench.soak.fcm", "--latency-ms", str(s.fcm_latency_ms), "--errors", s.fcm_errors,
            "--retry-after", s.fcm_retry_after, "--dead-tokens", str(dead), "--record", str(self.fcm_record)],
            os.environ.copy(), self.logs)
        self.fcm_url = fcm.first_line.split()[1]

    def migrate(self):
        began = time.monotonic()
        done = subprocess_run([str(CARELOOP), "db", "upgrade"], self.env("soak-migrate"))
        if done.returncode:
            raise RuntimeError(f"careloop db upgrade failed:\n{done.stdout[-3000:]}")
        return time.monotonic() - began

    def api_workers(self):
        """Workers per master: by default the two masters together run what the Dockerfile's one does
        (backend/gunicorn_conf.py's workers), so that a deploy can stop one while the other serves."""
        return self.settings.api_workers or max(1, gunicorn_conf().workers // 2)

    def start_api(self, label):
        metrics = self.workdir / f"metrics-{label}-{time.time_ns()}"
        extra = {"GUNICORN_BIND": f"127.0.0.1:{self.api_ports[label]}", "PROMETHEUS_MULTIPROC_DIR": str(metrics),
                 "GUNICORN_WORKERS": str(self.api_workers())}
        if self.settings.api_threads:
            extra["GUNICORN_THREADS"] = str(self.settings.api_threads)
        name = f"api-{label}"
        if name in self.children:
            self.retired.append(self.children.pop(name))
        self.children[name] = Child(
            name, [sys.executable, "-m", "gunicorn", "-c", "python:backend.gunicorn_conf", "backend:create_app()"],
            self.env(f"soak-api-{label}", **extra), self.logs)
        return self.children[name]

    def start_jobs(self, label):
        name = f"jobs-{label}"
        if name in self.children:
            self.retired.append(self.children.pop(name))
        self.children[name] = Child(name, [str(CARELOOP), "jobs"], self.env(
            f"soak-jobs-{label}", CARELOOP_JOBS_HEARTBEAT=str(self.workdir / f"{name}.heartbeat")), self.logs)
        return self.children[name]

    def start_servers(self):
        for label in self.api_ports:
            self.start_api(label)
        for label in ("1", "2"):
            self.start_jobs(label)
        for label, port in self.api_ports.items():
            wait_until_serving(port, self.children[f"api-{label}"], "/readyz")

    # -- signing in ------------------------------------------------------------------------------

    def check_signatures_refused(self, api):
        """The servers check ID token signatures: a token signed with another key is refused."""
        from bench.signed_tokens import new_key, sign_id_token

        forged = sign_id_token(new_key(), self.certificates.kid, f"soak-{self.run_id}-forger", PROJECT_ID)
        response = api.call("GET", "/v1/me", "GET /v1/me (forged token)", headers={"Authorization": f"Bearer {forged}"},
                            accept=(401,))
        if response is None or response.status_code != 401:
            raise RuntimeError("a token signed with another key was not refused: signatures are not checked")

    # -- the run ---------------------------------------------------------------------------------

    def run(self):
        s = self.settings
        budget = s.minutes * 60
        say(f"soak {self.run_id}: {s.minutes:g} minutes; logs in {self.logs}")
        from bench.signed_tokens import GoogleCertificates

        self.certificates = GoogleCertificates().start()
        self.create_database()
        self.start_proxies()
        quiet = QuietPeople(self.run_id, s.quiet)
        self.start_fcm(quiet.dead_tokens)
        self.api_ports = {"A": free_port(), "B": free_port()}
        migrate_seconds = self.migrate()
        self.start_servers()
        say(f"  topology up in {time.time() - self.started:.0f} s (migrations {migrate_seconds:.0f} s): "
            f"2 gunicorn × {self.api_workers()} workers × {s.api_threads or gunicorn_conf().threads} threads, "
            f"2 careloop jobs, fake FCM {s.fcm_latency_ms:g} ms, "
            f"PostgreSQL and Redis through proxies")

        self.ledger = Ledger()
        api = self.api = Api(self.api_ports.values(), self.ledger, self.certificates, PROJECT_ID)
        self.check_signatures_refused(api)
        phones = self.phones = [Phone(n, self.run_id, random_for(n)) for n in range(s.phones)]
        with concurrent.futures.ThreadPoolExecutor(s.workers) as pool:
            list(pool.map(lambda phone: phone.sign_up(api), phones))
        wire = Wire(api.call("GET", "/v1/sync/schema", "GET /v1/sync/schema", phones[0].uid).json())
        say(f"  {len(phones)} phones signed up ({sum(bool(p.carer_uid) for p in phones)} with a caregiver) "
            f"at {time.time() - self.started:.0f} s")

        # The steady phase: what is left of the budget once setup is done, less what the drain and
        # the checks take when all is well (the drain waits longer, up to DRAIN_MAX, when not).
        now = dt.datetime.now(dt.timezone.utc)
        steady = budget - (time.time() - self.started) - FINISH_RESERVE
        if steady < 60:
            raise RuntimeError(f"setup took {time.time() - self.started:.0f} s of the {budget:.0f} s: no time left "
                               "for a steady phase; give --minutes more")
        # Reminders come due from the first whole minute the schedules can be written by to the last
        # one the jobs can push before the phones stop: at least two (one for the kill, one for the
        # cut), even if that makes the steady phase a little longer than the budget says.
        first_due = ceil_minute(now + dt.timedelta(seconds=15))
        self.steady_start = now.timestamp()
        self.steady_end = max(self.steady_start + steady, (first_due + dt.timedelta(seconds=75)).timestamp())
        steady = self.steady_end - self.steady_start
        last_due = dt.datetime.fromtimestamp(self.steady_end - 15, dt.timezone.utc).replace(second=0, microsecond=0)
        minutes = self.minutes = due_minutes(first_due, last_due)
        self.owed = []
        with concurrent.futures.ThreadPoolExecutor(s.workers) as pool:
            def remind(phone):
                fires = every_nth(minutes, 2, phone.n)
                if fires:
                    phone.add_reminder(api, local_times(fires, phone.zone))
                    return [(phone.schedule_id, at) for at in fires]
                return []
            for owed in pool.map(remind, phones):
                self.owed += owed
        with self.connect() as connection:
            self.owed += quiet.seed(connection, minutes, s.every)
        self.quiet = quiet
        # FCM's bad patch ends before the phones stop, so that a push it refused twice (retried after
        # 30 s, then 60 s) is still retried within the drain.
        self.errors_until = self.steady_end - min(45, 0.4 * steady)
        say(f"  steady phase {steady:.0f} s from {time.time() - self.started:.0f} s: {len(self.owed):,} reminders due "
            f"over {len(minutes)} minutes ({first_due:%H:%M}–{last_due:%H:%M} UTC) for {s.quiet:,} quiet people "
            f"and the phones; phones at ~{s.rate:g} actions/s")

        self.traffic = Traffic(api, phones, wire, s.workers, s.rate)
        self.traffic.start()
        self.steady_phase()
        self.traffic.stop()
        self.sample_rss()
        self.steady_stopped = time.time()
        say(f"  phones stopped at {time.time() - self.started:.0f} s; draining")
        self.backlog = self.drain()
        self.stop_all()
        return self.results()

    def fault_times(self):
        """When each fault comes: the kill and the database cut at due minutes, the deploy and the
        Redis cut between them (each waits for the one before to end)."""
        due = [at.timestamp() for at in self.minutes]
        kill = round(KILL_AT * (len(due) - 1))
        cut = max(kill + 1, round(CUT_AT * (len(due) - 1)))
        kill_at = due[kill]
        cut_at = due[cut] if cut < len(due) else kill_at + 60
        gap = cut_at - kill_at
        return [(kill_at, "kill_jobs"), (kill_at + max(15, 0.25 * gap), "deploy"),
                (kill_at + 0.6 * gap, "cut_redis"), (cut_at, "cut_database")]

    def steady_phase(self):
        faults = self.fault_times()
        calm = False
        next_sample = time.time()
        while time.time() < self.steady_end:
            now = time.time()
            if now >= next_sample:
                self.sample_rss()
                next_sample = now + RSS_EVERY
            if faults and now >= faults[0][0]:
                _, name = faults.pop(0)
                began = time.time()
                getattr(self, name)()
                say(f"  {name.replace('_', ' ')} at {began - self.started:.0f} s: {self.faults[-1]['what']}")
                continue
            if not calm and now >= self.errors_until:
                self.children["fcm"].command("calm")
                self.faults.append({"fault": "fcm_calm", "at": now, "what": "the fake FCM stops answering errors"})
                calm = True
            time.sleep(0.25)

    # -- faults ----------------------------------------------------------------------------------

    def in_flight(self, application_name, claimed):
        """Transactions of those processes open right now: [(xact_start, sending)], `sending` when
        the last statement inserted push deliveries 50 ms ago or more, i.e. the batch is on its way to
        FCM (whose answers take longer), and the transaction holds rows of `claimed` (a table)."""
        return self.admin.execute(
            "SELECT a.xact_start, a.state = 'idle in transaction' AND a.query LIKE 'INSERT INTO push_deliveries%%' "
            "       AND a.state_change < clock_timestamp() - interval '50 milliseconds' "
            "       AND EXISTS (SELECT FROM pg_locks AS l WHERE l.pid = a.pid AND l.relation = %s::regclass "
            "                   AND l.mode = 'RowShareLock') "
            "FROM pg_stat_activity AS a WHERE a.datname = %s AND a.application_name LIKE %s "
            "AND a.xact_start IS NOT NULL AND a.state <> 'idle'", [claimed, self.database, application_name]).fetchall()

    def when_sending(self, application_name, patience, claimed="reminder_occurrences"):
        """Wait (up to `patience` seconds) until one of those processes is sending a batch of
        `claimed` rows (by default a dispatch of due reminders); returns their open transactions
        then, whether one was sending, and how long it waited."""
        began = time.monotonic()
        rows = []
        while time.monotonic() - began < patience:
            rows = self.in_flight(application_name, claimed)
            if any(sending for _, sending in rows):
                return rows, True, time.monotonic() - began
            time.sleep(0.005)
        return rows, False, time.monotonic() - began

    def kill_jobs(self):
        """SIGKILL a jobs process while it sends a batch of due reminders (its transaction open, its
        requests reaching the fake FCM), restart it."""
        jobs, fcm = self.children["jobs-1"], self.children["fcm"]
        began = time.monotonic()
        while True:
            rows, sending, _ = self.when_sending("soak-jobs-1", max(0.1, 30 - (time.monotonic() - began)))
            if not sending:
                break
            before = int(fcm.command("count"))
            time.sleep(0.05)
            arriving = int(fcm.command("count")) - before
            rows = self.in_flight("soak-jobs-1", "reminder_occurrences")
            sending = any(still for _, still in rows)
            if (arriving and sending) or time.monotonic() - began > 30:
                break
        waited = time.monotonic() - began
        jobs.signal(signal.SIGKILL)
        killed = time.time()
        jobs.wait(10)
        start = min((row[0].timestamp() for row in rows), default=killed)
        self.windows.append({"kind": "sigkill", "start": min(start, killed) - 0.1, "end": killed + 0.1})
        time.sleep(3)   # a container's restart delay
        self.start_jobs("1")
        self.faults.append({"fault": "kill_jobs", "at": killed, "restarted_at": time.time(), "mid_send": sending,
                            "what": f"SIGKILL jobs-1 {'while it sent due reminders' if sending else 'not mid-send'} "
                                    f"(waited {waited:.0f} s for one; {len(rows)} transaction(s) open, oldest "
                                    f"{killed - start:.1f} s), restarted 3 s later"})

    def deploy(self):
        """SIGTERM one gunicorn master (a deploy), wait for it to finish, start the new one."""
        old = self.children["api-B"]
        old.signal(signal.SIGTERM)
        signalled = time.time()
        code = old.wait(60)
        stopped = time.time()
        self.deploy_exit = code
        new = self.start_api("B")
        wait_until_serving(self.api_ports["B"], new, "/readyz")
        self.faults.append({"fault": "deploy", "at": signalled, "stopped_at": stopped, "serving_at": time.time(),
                            "what": f"SIGTERM gunicorn B: exited {code} after {stopped - signalled:.1f} s, "
                                    f"the new one served {time.time() - stopped:.1f} s later"})

    def cut_database(self):
        """Cut PostgreSQL for DB_CUT_SECONDS, while a jobs process sends a batch if one does within
        30 s of reminders coming due (the harshest moment: its outcome cannot be recorded)."""
        rows, sending, waited = self.when_sending("soak-jobs-%", 30)
        self.children["pg-proxy"].command("cut")
        cut = time.time()
        time.sleep(DB_CUT_SECONDS)
        self.children["pg-proxy"].command("restore")
        restored = time.time()
        start = min((row[0].timestamp() for row in rows), default=cut)
        self.windows.append({"kind": "db_cut", "start": min(start, cut) - 0.1, "end": restored + 2})
        self.outages.append({"kind": "db_cut", "start": cut - 0.5, "end": restored + RECONNECT_GRACE})
        self.faults.append({"fault": "cut_database", "at": cut, "restored_at": restored, "mid_send": sending,
                            "what": f"PostgreSQL cut for {restored - cut:.1f} s "
                                    f"{'while a jobs process sent due reminders' if sending else 'with no batch being sent'}"
                                    f" (waited {waited:.0f} s for one; {len(rows)} jobs transaction(s) open)"})

    def cut_redis(self):
        self.children["redis-proxy"].command("cut")
        cut = time.time()
        during = self.readiness()
        time.sleep(REDIS_CUT_SECONDS)
        self.children["redis-proxy"].command("restore")
        restored = time.time()
        self.faults.append({"fault": "cut_redis", "at": cut, "restored_at": restored, "readyz_during": during,
                            "what": f"Redis cut for {restored - cut:.1f} s; /readyz said rate_limits "
                                    f"{during.get('rate_limits')} during it"})

    def readiness(self):
        response = self.api.call("GET", "/readyz", "GET /readyz")
        return response.json() if response is not None and response.status_code == 200 else {}

    # -- measuring -------------------------------------------------------------------------------

    def sample_rss(self):
        at = time.time()
        self.load.append((at, os.getloadavg()[0] / os.cpu_count()))
        for name, child in list(self.children.items()):
            if name.startswith("api-") and child.alive():
                for pid in children_of(child.pid):
                    self.rss[f"{name} worker {pid}"].append((at, rss_bytes(pid)))
            elif name.startswith("jobs-") and child.alive():
                self.rss[f"{name} pid {child.pid}"].append((at, rss_bytes(child.pid)))

    def memory_samples(self):
        """Per process: RSS once warmed up (its first sample 30 s or more after the later of the
        steady phase's start and its own) and at the end of the steady phase; only processes seen
        over at least a third of the steady phase."""
        length = self.steady_end - self.steady_start
        samples = {}
        for label, points in self.rss.items():
            points = [(at, rss) for at, rss in points if rss]
            if not points:
                continue
            born = points[0][0]
            warm = [(at, rss) for at, rss in points if at >= max(self.steady_start, born) + 30]
            if len(warm) >= 2 and warm[-1][0] - warm[0][0] >= length / 3:
                samples[label] = (warm[0][1], warm[-1][1])
        return samples

    def backlog_now(self):
        row = self.admin.execute(
            "SELECT (SELECT count(*) FROM reminder_schedules WHERE active AND deleted_at IS NULL "
            "        AND next_fire_at <= now()),"
            "       (SELECT count(*) FROM reminder_occurrences WHERE status = 'pending' AND send_after <= now()),"
            "       (SELECT count(*) FROM push_deliveries WHERE status = 'retry'),"
            "       (SELECT count(*) FROM events WHERE processed_at IS NULL),"
            "       (SELECT count(*) FROM prompts WHERE push_status = 'pending')").fetchone()
        return dict(zip(("schedules_due", "occurrences_unsent", "pushes_to_retry", "events_pending",
                         "prompts_unpushed"), row))

    def drain(self):
        """Until nothing waits (and a dispatch tick has passed), or the drain's time is up."""
        deadline = time.time() + DRAIN_MAX
        earliest = time.time() + 12
        while True:
            backlog = self.backlog_now()
            if (not any(backlog.values()) and time.time() >= earliest) or time.time() >= deadline:
                say(f"  drained in {time.time() - self.steady_stopped:.0f} s: {backlog}")
                return backlog
            time.sleep(2)

    def stop_all(self):
        """Jobs first (they finish their batch), then the API, then the fake FCM (which writes what it
        received), then the proxies."""
        self.exits = {}
        for prefix, timeout in (("jobs-", 40), ("api-", 40), ("fcm", 60), ("pg-proxy", 10), ("redis-proxy", 10)):
            for name, child in self.children.items():
                if name.startswith(prefix):
                    began = time.time()
                    self.exits[name] = (child.stop(timeout=timeout), time.time() - began)

    def error_lines(self):
        """ERROR (or worse) lines of the API's and the jobs' logs, and anything that is not a JSON
        log line but looks like a traceback."""
        found = []
        for path in self.server_logs():
            name = path.stem
            for line in path.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    if "Traceback" in line or "Error" in line:
                        found.append(f"{name}: {line[:300]}")
                    continue
                if isinstance(entry, dict) and entry.get("level") in ("ERROR", "CRITICAL"):
                    found.append(f"{name}: {entry.get('logger')}: {entry.get('message', '')[:300]}")
        return found

    def server_logs(self):
        """The log files of the API and the jobs (a restarted process appends to its predecessor's)."""
        return sorted({child.log_path for child in [*self.retired, *self.children.values()]
                       if child.name.startswith(("api-", "jobs-"))})

    def warnings(self):
        counts = collections.Counter()
        for path in self.server_logs():
            for line in path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if isinstance(entry, dict) and entry.get("level") == "WARNING":
                        counts[f"{entry.get('logger')}: {entry.get('message', '')[:70]}"] += 1
        return counts

    # -- the end ---------------------------------------------------------------------------------

    def read_back(self):
        phone_uids = {p.uid for p in self.phones}
        with self.connect() as connection:
            users = {row[0]: {"uid": row[1], "zone": row[2]} for row in connection.execute(
                "SELECT id, firebase_uid, timezone FROM users")}
            uid_of = {user_id: user["uid"] for user_id, user in users.items()}
            stored, people = {}, {}
            for user_id, user in users.items():
                if user["uid"] in phone_uids:
                    people[user_id] = {"zone": user["zone"], "doses": [], "checkins": []}
            for record_id, user_id, recorded_at, pain, mood, side_effects, note in connection.execute(
                    "SELECT id, user_id, recorded_at, pain, mood, side_effects, note FROM checkins "
                    "WHERE deleted_at IS NULL"):
                stored[str(record_id)] = {"table": "checkins", "uid": uid_of[user_id], "recorded_at": recorded_at,
                                          "pain": pain, "mood": mood, "side_effects": side_effects, "note": note}
                if user_id in people:
                    people[user_id]["checkins"].append({"id": str(record_id), "side_effects": side_effects or []})
            for record_id, user_id, taken_at, kind, form, amount, unit in connection.execute(
                    "SELECT id, user_id, taken_at, substance_kind, form, amount, unit FROM doses "
                    "WHERE deleted_at IS NULL"):
                dose = {"table": "doses", "uid": uid_of[user_id], "taken_at": taken_at, "substance_kind": kind,
                        "form": form, "amount": float(amount), "unit": unit}
                stored[str(record_id)] = dose
                if user_id in people:
                    people[user_id]["doses"].append(dose)
            devices = collections.defaultdict(list)
            for user_id, token, active, created_at in connection.execute(
                    "SELECT user_id, token, active, created_at FROM devices"):
                devices[user_id].append({"token": token, "active": active, "created_at": created_at})
            occurrences = {}
            for occurrence_id, schedule_id, user_id, due_at, status, sent_at in connection.execute(
                    "SELECT id, schedule_id, user_id, due_at, status, sent_at FROM reminder_occurrences"):
                occurrences[(str(schedule_id), due_at)] = {"id": str(occurrence_id), "user_id": user_id,
                                                           "status": status, "sent_at": sent_at}
            prompts = [{"id": str(row[0]), "user_id": row[1], "rule": row[2], "dedupe_key": row[3],
                        "urgent": row[4] == "high" and row[5], "push_status": row[6], "created_at": row[7]}
                       for row in connection.execute(
                           "SELECT id, user_id, rule, dedupe_key, severity, alert_caregivers, push_status, created_at "
                           "FROM prompts")]
            alerted = collections.defaultdict(list)
            for patient_id, viewer_id in connection.execute(
                    "SELECT patient_id, viewer_id FROM shares WHERE alerts AND revoked_at IS NULL"):
                alerted[patient_id].append(viewer_id)
            failed_events = connection.execute(
                "SELECT name, attempts, last_error FROM events WHERE last_error IS NOT NULL").fetchall()
        return dict(users=users, stored=stored, people=people, devices=devices, occurrences=occurrences,
                    prompts=prompts, alerted=alerted, failed_events=failed_events)

    def receipts(self):
        with open(self.fcm_record) as record:
            return [json.loads(line) for line in record]

    def results(self):
        db = self.read_back()
        receipts = self.receipts()
        ledger = self.ledger
        attempts = [(a.route, a.status, a.at + a.seconds) for a in ledger.attempts]   # when answered
        found = []
        found.append(checks.writes_stored(ledger.creates, ledger.patches, db["stored"]))
        phone_records = {record_id: row for record_id, row in db["stored"].items()
                         if row["uid"].startswith(f"soak-{self.run_id}-phone-")}
        found.append(checks.no_stray_rows(phone_records, ledger.sent_ids))
        found.append(checks.answers(attempts, ledger.gave_up, ledger.unexpected, self.outages))
        reached, lags = checks.reminders_reached(self.owed, db["occurrences"], db["devices"], receipts)
        found.append(reached)
        found.append(checks.only_dead_tokens_dropped(db["devices"], self.quiet.dead_tokens, receipts))
        found.append(checks.prompts_once(db["people"], db["prompts"], LEAF_LIMIT_G, EMERGENCY_SIGN))
        found.append(checks.prompts_pushed(db["prompts"], db["devices"], db["alerted"], receipts))
        duplicated, duplicate_tally = checks.duplicates(receipts, self.windows)
        found.append(duplicated)
        memory, ratios = checks.memory_flat(self.memory_samples(), MEMORY_LIMIT)
        found.append(memory)
        found.append(checks.clean_logs(self.error_lines()))
        found.append(checks.drained(self.backlog))
        found.append(checks.stopped_cleanly({**{name: code for name, (code, _) in self.exits.items()
                                                if name.startswith(("api-", "jobs-"))},
                                             "api-B (deploy)": self.deploy_exit}))
        found.append(checks.Check("the soak's phones ran without a client error", not self.traffic.errors,
                                  f"{len(self.traffic.errors)} exceptions in the phones", self.traffic.errors[:12]))
        found.append(checks.Check("no monitoring handler failed", not db["failed_events"],
                                  f"{len(db['failed_events'])} events with an error",
                                  [f"{name} × {n}: {error}" for name, n, error in db["failed_events"][:12]]))
        return self.summarise(found, db, receipts, lags, duplicate_tally, ratios)

    def summarise(self, found, db, receipts, lags, duplicate_tally, ratios):
        ledger = self.ledger
        steady = [a for a in ledger.attempts if self.steady_start <= a.at <= self.steady_end]
        answered = [a for a in steady if a.status is not None]
        by_route = collections.defaultdict(list)
        for attempt in ledger.attempts:
            if attempt.status is not None:
                by_route[attempt.route].append(attempt.seconds * 1000)
        routes = {route: {**checks.percentiles(ms, 50, 95, 99), "errors": sum(
            1 for a in ledger.attempts if a.route == route and (a.status is None or a.status >= 500))}
            for route, ms in sorted(by_route.items())}
        uid_to_user = {user["uid"]: user_id for user_id, user in db["users"].items()}
        prompt_at = {(p["user_id"], p["dedupe_key"]): p["created_at"].timestamp() for p in db["prompts"]}
        to_prompt = []
        for record_id, create in ledger.creates.items():
            if create["table"] == "checkins" and EMERGENCY_SIGN in create["fields"]["side_effects"]:
                at = prompt_at.get((uid_to_user.get(create["uid"]), f"emergency:{record_id}"))
                if at:
                    to_prompt.append(at - create["acked_at"])
        for (uid, day), acked_at in ledger.crossings.items():
            at = prompt_at.get((uid_to_user.get(uid), f"daily_limit:kratom:leaf_powder:g:{day}"))
            if at:
                to_prompt.append(at - acked_at)
        statuses = collections.Counter("connection error" if a.status is None else str(a.status)
                                       for a in ledger.attempts)
        in_cut = sum(1 for a in ledger.attempts if a.status == 503
                     and any(w["start"] <= a.at + a.seconds <= w["end"] for w in self.outages))
        errors = {"503 during the database cut": in_cut,
                  "503 elsewhere": statuses.get("503", 0) - in_cut,
                  "connection errors (retried on the other server)": statuses.get("connection error", 0),
                  "5xx other than 503": sum(n for status, n in statuses.items()
                                            if status.isdigit() and int(status) >= 500 and status != "503"),
                  "unexpected answers": len(ledger.unexpected), "requests given up": len(ledger.gave_up),
                  "phone client exceptions": len(self.traffic.errors),
                  "error lines in the API's and jobs' logs": len(self.error_lines())}
        answers = collections.Counter(r["answer"] or "accepted" for r in receipts)
        accepted = collections.Counter(checks.push_subject(r["data"])[0] for r in checks.successes(receipts))
        memory = {label: {"start_mib": round(start / 2**20, 1), "end_mib": round(end / 2**20, 1),
                          "ratio": round(ratios.get(label, 0), 3)}
                  for label, (start, end) in self.memory_samples().items()}
        return {
            "soak": "careloop", "run": self.run_id,
            "measured_at": dt.datetime.fromtimestamp(self.started, dt.timezone.utc).isoformat(timespec="seconds"),
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self.settings).items()},
            "machine": {"cpus": os.cpu_count(), "load_per_core_at_end": round(os.getloadavg()[0] / os.cpu_count(), 2)},
            "duration_s": round(time.time() - self.started, 1),
            "steady_s": round(self.steady_end - self.steady_start, 1),
            "tokens": "RS256 ID tokens checked by firebase-admin against loopback certificates (bench/signed_tokens.py)",
            "requests": {"total": len(ledger.attempts), "answered_in_steady": len(answered),
                         "per_s": round(len(answered) / (self.steady_end - self.steady_start), 1),
                         "by_status": dict(statuses.most_common()), "routes": routes,
                         "sync_conflicts": ledger.sync_conflicts, "resolved_412": ledger.resolved_412,
                         "gave_up": len(ledger.gave_up)},
            "writes": {"creates": len(ledger.creates), "corrections": len(ledger.patches),
                       "by_sync": sum(c["via"] == "sync" for c in ledger.creates.values())},
            "pushes": {"fcm_requests": len(receipts), "answers": dict(answers.most_common()),
                       "accepted_by_kind": dict(accepted), "reminders_owed": len(self.owed),
                       "quiet_people": self.settings.quiet, "dead_tokens": len(self.quiet.dead_tokens)},
            "due_to_push_s": {name: {k: (round(v, 2) if isinstance(v, float) else v)
                                     for k, v in checks.percentiles(values, 50, 99).items()}
                              for name, values in lags.items()},
            "write_to_prompt_s": {k: (round(v, 2) if isinstance(v, float) else v)
                                  for k, v in checks.percentiles(to_prompt, 50, 99).items()},
            "prompts": dict(collections.Counter(p["rule"] for p in db["prompts"])),
            "errors": errors,
            "duplicates": duplicate_tally,
            "faults": self.faults, "windows": self.windows,
            "memory": memory,
            "backlog_at_end": self.backlog,
            "minutes": self.timeline(receipts),
            "warnings": dict(self.warnings().most_common(15)),
            "checks": [check.as_dict() for check in found],
            "ok": all(check.ok for check in found),
            "logs": str(self.logs),
        }

    def timeline(self, receipts):
        """Minute by minute of the steady phase: what the phones saw and what FCM accepted, and how
        busy the machine was (a shared one: other work shows here, not in the soak's own figures)."""
        rows = collections.defaultdict(lambda: {"answered": [], "503": 0, "connection": 0, "accepted": 0,
                                                 "refused": 0, "load": []})
        start = self.steady_start
        for attempt in self.ledger.attempts:
            if attempt.at >= start:
                row = rows[int((attempt.at - start) // 60)]
                if attempt.status is None:
                    row["connection"] += 1
                else:
                    row["answered"].append(attempt.seconds * 1000)
                    row["503"] += attempt.status == 503
        for receipt in receipts:
            if receipt["at"] >= start:
                rows[int((receipt["at"] - start) // 60)]["accepted" if receipt["answer"] is None else "refused"] += 1
        for at, load in self.load:
            if at >= start:
                rows[int((at - start) // 60)]["load"].append(load)
        return [{"minute": n + 1, "requests": len(row["answered"]),
                 **{k: (round(v) if v is not None else None)
                    for k, v in checks.percentiles(row["answered"], 50, 99).items() if k in ("p50", "p99")},
                 "503": row["503"], "connection_errors": row["connection"], "pushes_accepted": row["accepted"],
                 "pushes_refused": row["refused"],
                 "load_per_core": round(max(row["load"]), 2) if row["load"] else None}
                for n, row in sorted(rows.items())]

    # -- cleaning up -----------------------------------------------------------------------------

    def cleanup(self):
        """Stop every child, drop the database, forget the Redis keys; safe to call twice."""
        if self.cleaned:
            return
        self.cleaned = True
        for child in list(self.children.values()) + self.retired:
            with contextlib.suppress(Exception):
                child.stop(timeout=20)
        if self.api is not None:
            self.api.stopping.set()
        if self.admin is not None:
            with contextlib.suppress(Exception):
                self.admin.close()
        if self.database_created:
            with self.connect("postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
            keys = list(client.scan_iter(f"{self.redis_prefix}*"))
            if keys:
                client.delete(*keys)
        if self.certificates is not None:
            self.certificates.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def gunicorn_conf():
    from backend import gunicorn_conf

    return gunicorn_conf


def random_for(n):
    import random

    return random.Random(n * 7919 + os.getpid())


def subprocess_run(argv, env):
    import subprocess

    return subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300, check=False)


def say(line):
    print(line, flush=True)
