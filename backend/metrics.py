"""Prometheus metrics at GET /metrics: counts and timings only.

Labels are route templates, methods, status codes, job names and push outcomes — never an id, a
substance, a symptom or anything else about a person. With several gunicorn workers, set
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode) so /metrics adds them up.

Who may read them: with CARELOOP_METRICS_TOKEN set, only a scraper sending it as a bearer token;
production without one serves no /metrics at all (404); development without one serves anyone.
"""

import hmac
import os
import time

from flask import Response, abort, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram,
                               generate_latest, multiprocess)
from prometheus_client.core import GaugeMetricFamily

from backend.registry import registry
from backend.sqltypes import utcnow

HTTP_REQUESTS = Counter("careloop_http_requests_total", "HTTP requests answered",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("careloop_http_request_seconds", "Time to answer an HTTP request", ["method", "route"])
PUSH_RESULTS = Counter("careloop_push_results_total", "Push sends by outcome", ["outcome"])
JOB_RUNS = Counter("careloop_job_runs_total", "Job runs by result", ["job", "result"])
JOB_ITEMS = Counter("careloop_job_items_total", "Items handled by jobs", ["job"])
PROMPTS_RAISED = Counter("careloop_prompts_raised_total", "Monitoring prompts raised, by rule", ["rule"])
REMINDER_LAG = Histogram("careloop_reminder_push_lag_seconds", "From a reminder's due time to its first push",
                         buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600))


class _Backlogs:
    """What is waiting, read from the database at each scrape: the features' backlog gauges
    (registry.backlog_gauges), each a function giving (name, help, value) triples."""

    def collect(self):
        for read in registry().backlog_gauges:
            for name, doc, value in read(utcnow()):
                yield GaugeMetricFamily(name, doc, value=value)


def _route():
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def _start():
    g.metrics_started = time.perf_counter()


# Any other method (FOOBAR …) is counted as "other": a label value per made-up method would let
# anyone create series without end.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _finish(response):
    route = _route()
    method = request.method if request.method in METHODS else "other"
    HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
    started = g.pop("metrics_started", None)
    if started is not None:
        HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)
    return response


def metrics_view():
    token = current_app.config.get("CARELOOP_METRICS_TOKEN")
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(sent.encode(), token.encode()):
            abort(401)
    elif current_app.config["CARELOOP_ENV"] == "production":
        abort(404)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    waiting = CollectorRegistry()
    waiting.register(_Backlogs())
    # content_type, not mimetype: Flask would add a second charset to CONTENT_TYPE_LATEST's own.
    return Response(generate_latest(counted) + generate_latest(waiting), content_type=CONTENT_TYPE_LATEST)


def init_app(app):
    app.before_request(_start)
    app.after_request(_finish)
    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
