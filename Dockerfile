# Production image: the API under gunicorn, or the jobs process with `careloop jobs`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CARELOOP_ENV=production \
    CARELOOP_LOG_FORMAT=json

# A numeric user and group: a runtime that forbids root (Kubernetes' runAsNonRoot) can check a
# number without reading the image's /etc/passwd.
RUN groupadd --gid 10001 careloop && useradd --create-home --uid 10001 --gid 10001 careloop
WORKDIR /app

COPY pyproject.toml README.md ./
COPY backend ./backend
COPY jobs ./jobs
COPY migrations ./migrations
# pip pinned: an unpinned upgrade would build a different image from the same commit.
RUN pip install --upgrade pip==26.3 && pip install -e . && chown -R careloop:careloop /app

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]

# Its workers count metrics together (prometheus-client multiprocess mode; see backend/gunicorn_conf.py).
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/careloop-metrics
CMD ["gunicorn", "-c", "python:backend.gunicorn_conf", "backend:create_app()"]
