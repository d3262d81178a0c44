"""Warm a web process before it takes traffic, so its first request costs what the next ones do.

A fresh process pays on its first request for what Django and PostgreSQL do lazily: importing the URL
configuration and every view module behind it, compiling templates, opening the database connection, and
(per PostgreSQL connection) loading the catalog and statistics of each table a query touches. `warm()` does
all of that up front; gunicorn runs it in each worker after the application is loaded and before the worker
accepts a connection (`tourbrain_support.gunicorn_conf`, `post_worker_init`).

The apps add their own steps: `<app>.warmup.warm()` when the app has that module (tickets runs the queue's
first-page query). Warming reads only; a step that fails is logged and skipped, never fatal, since a cold
worker still serves.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

APPS_WITH_WARMUP = ["tickets", "audit", "kpis", "knowledge_base"]
# Paths resolved once, so the resolver's compiled patterns and the views' modules are in place.
WARM_PATHS = ["/", "/queue/", "/healthz"]


def warm() -> dict[str, float]:
    """Run every warm-up step; returns the milliseconds each took (a failed step is logged and left out)."""
    steps: list[tuple[str, Callable[[], object]]] = [
        ("urls", warm_urls),
        ("templates", warm_templates),
        ("database", warm_database),
    ]
    for app in APPS_WITH_WARMUP:
        try:
            module = importlib.import_module(f"{app}.warmup")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.warmup":
                raise
            continue
        steps.append((app, module.warm))
    timings = {}
    for name, step in steps:
        started = time.perf_counter()
        try:
            step()
        except Exception:
            logger.warning("warm-up step %s failed; the first request will pay for it", name, exc_info=True)
            continue
        timings[name] = round((time.perf_counter() - started) * 1000, 1)
    logger.info("process warmed", extra={"warmup_ms": timings})
    return timings


def warm_urls() -> int:
    """Import the URL configuration (and with it every view module) and build the reverse lookups."""
    from django.urls import URLResolver, get_resolver, resolve
    from django.urls.exceptions import Resolver404

    resolvers = [get_resolver()]
    count = 0
    while resolvers:
        resolver = resolvers.pop()
        resolver.reverse_dict  # noqa: B018 - built on first access
        for pattern in resolver.url_patterns:
            count += 1
            if isinstance(pattern, URLResolver):
                resolvers.append(pattern)
    for path in WARM_PATHS:
        with contextlib.suppress(Resolver404):
            resolve(path)
    return count


def warm_templates() -> list[str]:
    """Compile the project's own templates into the cached loader (the apps' and the admin's stay lazy)."""
    from django.template import engines

    root = Path(settings.BASE_DIR)
    names = []
    for engine in engines.all():
        for directory in engine.template_dirs:
            directory = Path(directory)
            if not directory.is_relative_to(root) or ".venv" in directory.parts:
                continue
            for path in sorted(directory.rglob("*.html")):
                name = path.relative_to(directory).as_posix()
                engine.get_template(name)
                names.append(name)
    return names


def warm_database() -> None:
    """Open each database connection now (kept for CONN_MAX_AGE, so the first request reuses it)."""
    from django.db import connections

    for alias in settings.DATABASES:
        connection = connections[alias]
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
