"""Liveness and readiness checks: each returns (ok, detail) and never raises."""

import os
import time
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone


def check_database() -> tuple[bool, str]:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "reachable"
    except Exception as exc:
        return False, f"unreachable: {exc.__class__.__name__}: {exc}"


def check_migrations() -> tuple[bool, str]:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            return False, f"{len(plan)} migration(s) not applied"
        return True, "all applied"
    except Exception as exc:
        return False, f"cannot check: {exc.__class__.__name__}: {exc}"


# A down broker must answer the probe quickly, well inside a load balancer's health-check timeout.
BROKER_CHECK_TIMEOUT = 2.0


def check_broker() -> tuple[bool, str]:
    from kombu import Connection

    # A fresh connection from the current settings: the probe must not reuse a pooled, half-dead socket.
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # The filesystem transport "connects" to anything; what matters is that its folders are usable.
        folders = {options.get("data_folder_in"), options.get("data_folder_out")} - {None}
        unusable = [folder for folder in sorted(folders) if not os.access(folder, os.W_OK | os.X_OK)]
        if unusable:
            return False, f"unreachable: broker folder not writable: {', '.join(unusable)}"
    else:
        options.update(socket_connect_timeout=BROKER_CHECK_TIMEOUT, socket_timeout=BROKER_CHECK_TIMEOUT)
    try:
        with Connection(
            settings.CELERY_BROKER_URL, transport_options=options, connect_timeout=BROKER_CHECK_TIMEOUT
        ) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_CHECK_TIMEOUT)
        return True, "reachable"
    except Exception as exc:
        return False, f"unreachable: {exc.__class__.__name__}: {exc}"


def check_worker() -> tuple[bool, str]:
    from tourbrain_support.models import WorkerHeartbeat

    try:
        latest = WorkerHeartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
    except Exception as exc:
        return False, f"cannot read heartbeat: {exc.__class__.__name__}"
    if latest is None:
        return False, "no worker heartbeat yet"
    age = timezone.now() - latest
    if age > timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE):
        return False, f"last heartbeat {int(age.total_seconds())}s ago"
    return True, f"last heartbeat {int(age.total_seconds())}s ago"


READINESS_CHECKS = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
    "worker": check_worker,
}


def run_readiness_checks() -> tuple[bool, dict]:
    results = {}
    for name, check in READINESS_CHECKS.items():
        started = time.perf_counter()
        ok, detail = check()
        results[name] = {"ok": ok, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return all(item["ok"] for item in results.values()), results
