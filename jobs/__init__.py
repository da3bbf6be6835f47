"""The jobs process: which periodic jobs exist and how often they run.

Each job is a thin loop of calls into services, one committed batch at a time. The same jobs
run in `careloop jobs` (a BlockingScheduler, any number of processes side by side) and inside
`careloop run` (a BackgroundScheduler, the embedded default).
"""

import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import signal
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import current_app

from backend.events import drain
from backend.events.drain import drain_events
from backend.monitoring.delivery import send_prompt_pushes
from backend.monitoring.handlers import check_missed_checkins as missed_checkins_step
from backend.errors import where
from backend.extensions import db
from backend.push import pipeline
from backend.push import services as push_services
from backend.push.services import prune_stale_devices
from backend.metrics import JOB_ITEMS, JOB_RUNS
from backend.reminders import dispatch
from backend.reminders import services as reminder_services
from backend.sharing import services as sharing_services
from backend.sqltypes import utcnow

log = logging.getLogger("careloop.jobs")

# One pass of a step runs at most this many batches, so a flood of one kind of work (reminders to
# materialise) cannot hold up the next step of the same job (pushing them); a run whose pass was
# full goes again at once (JobRunner), rather than leaving the rest to the next tick.
MAX_BATCHES_PER_RUN = 50
# After SIGTERM, how long the batches in flight may take to finish and record their outcomes (below
# the 30 s a container orchestrator commonly waits before SIGKILL).
STOP_GRACE_SECONDS = 25

# Set by SIGTERM or SIGINT: no new batch is claimed; the batches in flight finish and commit.
STOPPING = threading.Event()
# Per job thread: whether a pass of the run in progress stopped at MAX_BATCHES_PER_RUN with work left.
_PASS = threading.local()


def in_batches(step):
    """Run a service step until it reports no more work, committing after each batch; stop claiming
    new batches once the process is asked to stop."""
    handled = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        if STOPPING.is_set():
            break
        count = step(utcnow())
        db.session.commit()
        # Sessions keep objects loaded after commit (see extensions.db); each batch starts fresh.
        db.session.expire_all()
        handled += count
        if not count:
            break
    else:
        _PASS.full = True
    return handled


def sized(step):
    """A pushing step with the configured CARELOOP_DISPATCH_BATCH, if any, as its batch size."""
    size = current_app.config.get("CARELOOP_DISPATCH_BATCH")
    return functools.partial(step, batch_size=size) if size else step


def send_reminders():
    """Create due occurrences, push them (unless a check-in already answered them)."""
    return in_batches(dispatch.materialize_due) + in_batches(sized(dispatch.dispatch_due))


def retry_pushes():
    """Send again the pushes of every purpose that were throttled or met a server error. Each batch's
    lease is committed before it is sent: an outcome lost to a crash still waits out Retry-After."""
    def lease_then_send(now, **size):
        leased = pipeline.lease_retries(now, **size)
        db.session.commit()
        return pipeline.retry_leased(leased, now)
    return in_batches(sized(lease_then_send))


def follow_up_checkins():
    """Nudge once for check-ins still missing after the follow-up delay."""
    return in_batches(sized(dispatch.send_follow_ups))


def monitor():
    """Run the monitoring rules on new events, then push the prompts they raised."""
    return in_batches(drain_events) + in_batches(send_prompt_pushes)


def check_missed_checkins():
    """Prompt people (and alert caregivers) when check-ins stopped while reminders are on."""
    return in_batches(missed_checkins_step)


def prune_devices():
    """Forget device tokens unseen for 270 days."""
    return in_batches(prune_stale_devices)


# What the retention job prunes, by the name of its period in RETENTION_DAYS.
PRUNED = {
    "events": drain.prune_processed,
    "push_deliveries": push_services.prune_deliveries,
    "local_pushes": push_services.prune_local_pushes,
    "reminder_occurrences": reminder_services.prune_occurrences,
    "access_log": sharing_services.prune_access_log,
}


def prune_old_rows():
    """Forget operational rows past their retention period (RETENTION_DAYS)."""
    days = current_app.config["RETENTION_DAYS"]
    return sum(in_batches(functools.partial(prune, keep=dt.timedelta(days=days[name])))
               for name, prune in PRUNED.items())


@dataclasses.dataclass(frozen=True)
class Job:
    name: str
    run: callable
    every_seconds: int


JOBS = (
    Job("send-reminders", send_reminders, 10),
    Job("follow-up-checkins", follow_up_checkins, 30),
    Job("monitor", monitor, 2),
    Job("retry-pushes", retry_pushes, 10),
    Job("missed-checkins", check_missed_checkins, 3600),
    Job("prune-devices", prune_devices, 6 * 3600),
    Job("prune-old-rows", prune_old_rows, 3600),
)


class JobRunner:
    """Runs one job inside an app context; when the database is away, logs and backs off."""

    MAX_BACKOFF = 300
    # Scheduler ticks jitter: a run starting this much before resume_at is the one it waits for
    # (without it, the tick landing on resume_at is skipped and every backoff lasts a tick longer).
    TICK_SLACK = 1.0

    def __init__(self, app, job):
        self.app, self.job = app, job
        self.failures = 0
        self.resume_at = 0.0

    def __call__(self):
        started = time.monotonic()
        if started + self.TICK_SLACK < self.resume_at or STOPPING.is_set():
            return None
        with IN_FLIGHT.running(), self.app.app_context():
            try:
                handled = self._run_while_full()
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
                db.session.rollback()
                self.failures += 1
                delay = min(self.MAX_BACKOFF, self.job.every_seconds * 2 ** (self.failures - 1))
                self.resume_at = started + delay
                log.warning("job %s: database unavailable (%s); retrying in %ss",
                            self.job.name, type(error.orig or error).__name__, delay)
                JOB_RUNS.labels(self.job.name, "database_unavailable").inc()
                return None
            except Exception as error:
                db.session.rollback()
                # The type and where, never the message: a driver's message can quote people's data.
                log.error("job %s failed with %s\n%s", self.job.name, type(error).__name__, where(error))
                JOB_RUNS.labels(self.job.name, "failed").inc()
                return None
            finally:
                db.session.remove()
        beat(self.app)
        if self.failures:
            log.info("job %s: database back after %s failed runs", self.job.name, self.failures)
        self.failures, self.resume_at = 0, 0.0
        JOB_RUNS.labels(self.job.name, "ok").inc()
        JOB_ITEMS.labels(self.job.name).inc(handled or 0)
        if handled:
            log.info("job %s handled %s items", self.job.name, handled)
        return handled


    def _run_while_full(self):
        """The job's run, again at once while a pass of it stopped full: 100,000 reminders due at once
        go out back to back, not a pass per tick (the wait for each tick was a quarter of the time)."""
        handled = 0
        while True:
            _PASS.full = False
            handled += self.job.run() or 0
            if not _PASS.full or STOPPING.is_set():
                return handled


def beat(app):
    """Touch the heartbeat file: this process ran a job to the end just now."""
    path = app.config.get("CARELOOP_JOBS_HEARTBEAT")
    if path:
        Path(path).touch()


def alive(app, now=None):
    """Whether the heartbeat is fresh: a job ran to the end within HEARTBEAT_STALE_SECONDS (the
    fastest job runs every 2 s, so a minute of silence means the process is stuck or gone)."""
    path = Path(app.config["CARELOOP_JOBS_HEARTBEAT"])
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age <= HEARTBEAT_STALE_SECONDS


HEARTBEAT_STALE_SECONDS = 60


def add_jobs(scheduler, app):
    for job in JOBS:
        scheduler.add_job(JobRunner(app, job), IntervalTrigger(seconds=job.every_seconds), id=job.name,
                          name=job.name, max_instances=1, coalesce=True, next_run_time=utcnow())
    return scheduler


class _InFlight:
    """How many job runs are in progress, to wait for them on the way out."""

    def __init__(self):
        self._count = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def running(self):
        with self._changed:
            self._count += 1
        try:
            yield
        finally:
            with self._changed:
                self._count -= 1
                self._changed.notify_all()

    def wait_until_done(self, timeout):
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout)


IN_FLIGHT = _InFlight()


@contextlib.contextmanager
def stopping_on_signals(on_stop=None):
    """SIGTERM (a deploy) or SIGINT: stop claiming work and let the batches in flight finish, so a
    deploy re-sends nothing (a SIGKILL mid-batch re-sends that batch: its claim was never committed).
    Yields when the signal came (a one-item list, None until then); the previous handlers are put
    back on the way out."""
    stopping_since = [None]

    def stop(signum, frame):
        if STOPPING.is_set():
            return
        STOPPING.set()
        stopping_since[0] = time.monotonic()
        if on_stop is not None:
            on_stop()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopping_since
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def finish(stopping_since):
    """After a stop signal: wait for the runs in flight (bounded), say so in one line; the exit code."""
    if stopping_since[0] is None:
        return 0
    finished = IN_FLIGHT.wait_until_done(STOP_GRACE_SECONDS)
    took = time.monotonic() - stopping_since[0]
    if finished:
        log.info("jobs process stopped on a signal after %.1f s: the batches in flight finished and were recorded",
                 took)
        return 0
    log.error("jobs process stopped on a signal with work still in flight after %s s: its uncommitted "
              "batch will be claimed again (and may be re-sent)", STOP_GRACE_SECONDS)
    return 1


def run_once(app):
    """Every job once, in order (cron-style deployments and tests); after a stop signal, no further
    batch or job starts."""
    handled = {}
    for job in JOBS:
        if STOPPING.is_set():
            break
        handled[job.name] = JobRunner(app, job)()
    return handled


def run_blocking(app):
    """The jobs process: run the schedule until a stop signal, then finish what is in flight.
    Returns the process's exit code."""
    scheduler = add_jobs(BlockingScheduler(timezone="UTC"), app)
    # From the signal handler: no waiting there (the scheduler's loop runs in this same thread).
    with stopping_on_signals(on_stop=lambda: scheduler.shutdown(wait=False)) as stopping_since:
        log.info("jobs process started: %s", ", ".join(job.name for job in JOBS))
        scheduler.start()
        return finish(stopping_since)


def start_background(app):
    scheduler = add_jobs(BackgroundScheduler(timezone="UTC", daemon=True), app)
    scheduler.start()
    return scheduler
