"""gunicorn settings of the Dockerfile (`gunicorn -c python:backend.gunicorn_conf …`).

Several workers each count their own Prometheus metrics: prometheus-client's multiprocess mode
keeps them in files under PROMETHEUS_MULTIPROC_DIR, which GET /metrics adds up; the directory is
emptied when the server starts, and a dead worker's live gauges are dropped. Request log lines
have report-link tokens redacted, and with CARELOOP_LOG_FORMAT=json (the Dockerfile's) gunicorn's
own and access lines are JSON objects like the app's, an access line carrying the request's
X-Request-Id (backend.logs).
"""

import os
import shutil
from pathlib import Path

from gunicorn.workers import gthread
from prometheus_client import multiprocess

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Processes, not threads: a request is mostly Python, and threads of one process take turns on its
# GIL. On 2 cores a check-in create cost the server 2.3 ms of CPU with 4 workers × 4 threads and
# 1.6–1.9 ms with 2 or 4 workers of one thread (`python -m bench foundation`, 2026-11-29).
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1)))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread"  # keeps idle keep-alive connections aside, even with one thread

# A new connection's first bytes: gthread gives the connection a thread that waits for them up to
# this long (5 s as shipped) before handing it to its poller. With one thread a worker, a socket
# that sends nothing (a phone on a bad network, a load balancer connecting ahead, someone holding
# sockets open) held everyone else's requests for those 5 s. 50 ms is longer than a request takes
# to follow its connection on any network a server sits on, so only idle sockets go to the poller.
# Not 0: gunicorn 27 then hands nearly every new connection to the poller, and dropped some of
# them unanswered (open loop at 25 requests/s: p50 139 ms instead of 3 ms, from reconnects).
# A gunicorn internal (27.x): refuse to start rather than run with the 5 s wait if it moves.
if not isinstance(getattr(gthread, "DEFAULT_WORKER_DATA_TIMEOUT", None), float):
    raise RuntimeError("gunicorn's gthread.DEFAULT_WORKER_DATA_TIMEOUT is gone; see backend/gunicorn_conf.py")
gthread.DEFAULT_WORKER_DATA_TIMEOUT = 0.05
accesslog = "-"
logger_class = "backend.logs.GunicornLogger"


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:  # a previous run's files would be added to this one's counts
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
