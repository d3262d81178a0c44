"""Gunicorn settings for the portal's web processes (production and `make run`):

    gunicorn -c python:tourbrain_support.gunicorn_conf tourbrain_support.wsgi

Each worker loads the application and is then warmed (`tourbrain_support.warmup`: URL configuration,
templates, database connection, the queue's first-page query) before it accepts its first connection, so no
user's request pays for a cold worker. `WEB_WARMUP=0` skips the warm-up (for measuring it: `make bench`).
Either way each worker logs "worker ready" when it starts accepting.

Gunicorn's own flags and variables still apply and win over these defaults: `--bind` (default
127.0.0.1:8000, or 0.0.0.0:$PORT), `--workers` (default `WEB_CONCURRENCY`, else 2), `GUNICORN_CMD_ARGS`.
"""

import os
import time

wsgi_app = "tourbrain_support.wsgi:application"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"  # the warm connection is the main thread's, the one a sync worker serves from
timeout = 30
graceful_timeout = 20
# Requests are logged by the application (JSON lines with the request id); gunicorn logs only its own events.
errorlog = "-"
loglevel = "info"
# No runtime control socket: one per user by default, so two portals on a host (or make run beside the
# tests) would fight over it.
control_socket_disable = True


def warmup_enabled() -> bool:
    return os.environ.get("WEB_WARMUP", "1").strip().lower() not in ("0", "false", "no", "off")


def post_worker_init(worker):
    started = time.perf_counter()
    if warmup_enabled():
        from tourbrain_support.warmup import warm

        warm()
    worker.log.info(
        "worker ready (pid %s, warm-up %s, %.0f ms)",
        worker.pid,
        "on" if warmup_enabled() else "off",
        (time.perf_counter() - started) * 1000,
    )
