"""The soak: the production topology on this machine, on loopback only, for a bounded time, with
simulated phones, reminders coming due every minute, and faults; then checks of what was kept.

    python -m bench.soak                 # the full run, under 10 minutes (make soak)
    python -m bench.soak --minutes 3     # the short one CI runs (make soak-ci)

It is not one of `python -m bench`'s benchmarks (BENCHMARKS runs them all by default): it measures
no ratio against a baseline, it passes or fails, and it takes minutes of its own.

What runs: a fresh PostgreSQL database (created, migrated with `careloop db upgrade`, dropped at
the end), two gunicorn masters with the Dockerfile's settings (`-c python:backend.gunicorn_conf`,
CARELOOP_ENV=production, JSON logs; each with half its workers, so that a deploy can stop one while
the other serves), two `careloop jobs`, Redis with a key prefix of this run's own, the fake FCM
(tests/fakes/fcm_server.py) answering after FCM's round trip, and ID tokens signed RS256 and
checked by firebase-admin against certificates served on loopback (bench/signed_tokens.py). The API and the jobs reach PostgreSQL and Redis through TCP proxies
(tests/fakes/tcp_proxy.py) that the soak can cut.

What happens: phones sign up, register push tokens, set a daily limit, make a caregiver share and
a clinician link, add a reminder; then they log check-ins and doses (client ids, retried on 503 or
a lost connection), sync (WatermelonDB's pull and push), correct check-ins with If-Match, read,
and their caregivers and clinicians read. Thousands of quiet people, written straight into the
database, have reminders coming due every minute. On a timeline: one jobs process is SIGKILLed
while it sends a batch of due reminders, and restarted; one gunicorn master gets SIGTERM (a
deploy) and is started again; Redis is cut for 10 s; PostgreSQL for 5 s, while a jobs process
sends; the fake FCM answers ~5 % errors (503, 429 with Retry-After) until 45 s before the end, and
UNREGISTERED for uninstalled apps.

What is checked (bench/soak/checks.py): every acknowledged write is stored, once; no 500, and 503
only during the database cut; every due reminder reached every active device; each expected prompt
(a daily limit passed, an emergency sign) exists exactly once and was pushed (urgent ones to the
caregivers too); duplicate pushes only from a batch in flight at the kill or the cut, counted;
RSS of the API workers and the jobs flat; no error in their logs; the backlog drained. It prints a
table, writes bench/results/soak.json and exits 1 if a check failed.

Everything it starts runs in a session of its own and is stopped, and the database dropped, on
the way out, whether the soak passed, failed, was interrupted (Ctrl-C, SIGTERM) or, for the
children, killed (they get SIGTERM when it dies; a database it could not drop is dropped by the
next soak).
"""

import argparse
import atexit
import logging
import signal
import sys

from bench.soak.run import Settings, Soak


def main(argv=None):
    arguments = parse(argv)
    settings = Settings(**{name: value for name, value in vars(arguments).items() if value is not None})
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    soak = Soak(settings)
    atexit.register(soak.cleanup)
    # SIGTERM unwinds like Ctrl-C, so the finally below stops everything and drops the database.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        results = soak.run()
    finally:
        soak.cleanup()
        signal.signal(signal.SIGTERM, previous)
    from bench.soak.report import print_report, save

    print_report(results)
    path = save(results)
    print(f"  {path}; logs of this run in {results['logs']}")
    print("== soak: " + ("every check passed" if results["ok"] else "FAILED"), flush=True)
    return 0 if results["ok"] else 1


def parse(argv):
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=(
        "The production topology on loopback for a bounded time, simulated phones and faults, then "
        "checks of what was kept (see bench/soak/__init__.py)."))
    parser.add_argument("--minutes", type=float, help=f"the whole run's length, setup to checks (default {defaults.minutes:g})")
    parser.add_argument("--phones", type=int, help=f"simulated phones (default {defaults.phones})")
    parser.add_argument("--quiet", type=int, help=f"people who only receive reminders (default {defaults.quiet:,})")
    parser.add_argument("--every", type=int, help="a quiet person's reminder comes due every this many minutes "
                                                  f"(default {defaults.every})")
    parser.add_argument("--rate", type=float, help=f"phone actions per second, all together (default {defaults.rate:g})")
    parser.add_argument("--workers", type=int, help=f"client threads driving the phones (default {defaults.workers})")
    parser.add_argument("--api-workers", type=int, help="GUNICORN_WORKERS of each of the two masters (default: "
                                                        "half of backend/gunicorn_conf.py's, so both make one "
                                                        "Dockerfile server)")
    parser.add_argument("--api-threads", type=int, help="GUNICORN_THREADS (default: backend/gunicorn_conf.py's)")
    parser.add_argument("--fcm-latency-ms", type=float, help=f"the fake FCM's round trip (default {defaults.fcm_latency_ms:g})")
    parser.add_argument("--fcm-errors", help=f"shares of FCM error answers (default {defaults.fcm_errors})")
    parser.add_argument("--logs", help="where the children's logs go (default: bench/results/soak-logs, replaced at each run)")
    return parser.parse_args(argv)
