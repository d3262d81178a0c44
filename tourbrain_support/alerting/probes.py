"""Health probes, run every minute by beat: the database, Redis, the Celery heartbeat and external HTTP services.

All probes of a run start together in threads and the run waits at most ALERT_PROBE_DEADLINE_SECONDS: a
probe still running then is recorded as down ("timed out") and left to finish on its own (each has its
own socket timeout, so its thread ends soon after). One slow service therefore never delays the others,
and a run never hangs the worker. Results are stored as `ProbeSample` rows; rows older than
ALERT_PROBE_RETENTION_DAYS are deleted a batch per run.

The database probe records, besides its own state and query time, on PostgreSQL the active connections
(`database.connections`), their share of `max_connections` (`database.utilization`, 0..1) and the mean
statement time from `pg_stat_statements` when the extension is installed (`database.statement_ms`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from tourbrain_support import health
from tourbrain_support.alerting.models import HttpProbe, ProbeSample

logger = logging.getLogger(__name__)

DETAIL_LIMIT = 300
PRUNE_BATCH = 10000


@dataclass(frozen=True)
class ProbeResult:
    probe: str
    status: str
    latency_ms: float | None = None
    value: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class HttpProbeConfig:
    name: str
    url: str
    method: str = "GET"
    expected_status: int = 200
    timeout_seconds: float = 5.0
    degraded_after_ms: int | None = None
    json_field: str = ""
    json_expected: str = ""


Healthy, Degraded, Down = ProbeSample.Status.HEALTHY, ProbeSample.Status.DEGRADED, ProbeSample.Status.DOWN


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _error(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:DETAIL_LIMIT]


# --- the probes ----------------------------------------------------------------------------------------


def probe_database() -> list[ProbeResult]:
    """Connect and run a query on a connection of this thread (closed after), plus PostgreSQL's load figures."""
    connection = connections[DEFAULT_DB_ALIAS]
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
            latency = _elapsed_ms(started)
            results = [ProbeResult("database", Healthy, latency, latency, "reachable")]
            if connection.vendor == "postgresql":
                results += _postgres_load(cursor)
        return results
    except Exception as exc:
        return [ProbeResult("database", Down, _elapsed_ms(started), None, _error(exc))]
    finally:
        connection.close()


def _postgres_load(cursor) -> list[ProbeResult]:
    cursor.execute(
        "SELECT count(*) FILTER (WHERE state <> 'idle'), count(*), current_setting('max_connections')::int"
        " FROM pg_stat_activity WHERE backend_type = 'client backend'"
    )
    active, total, limit = cursor.fetchone()
    results = [
        ProbeResult("database.connections", Healthy, None, float(active), f"{active} active of {total} open"),
        ProbeResult("database.utilization", Healthy, None, round(total / limit, 4), f"{total} of {limit}"),
    ]
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
    if cursor.fetchone():
        try:
            cursor.execute("SELECT sum(total_exec_time) / nullif(sum(calls), 0) FROM pg_stat_statements")
            (mean,) = cursor.fetchone()
            if mean is not None:
                results.append(ProbeResult("database.statement_ms", Healthy, None, round(float(mean), 3)))
        except Exception as exc:  # installed but not preloaded: the view raises
            logger.info("pg_stat_statements unreadable: %s", _error(exc))
    return results


def probe_redis() -> list[ProbeResult]:
    import redis

    started = time.perf_counter()
    timeout = settings.ALERT_PROBE_TIMEOUT_SECONDS
    try:
        client = redis.Redis.from_url(_redis_url(), socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return [ProbeResult("redis", Healthy, _elapsed_ms(started), None, "PONG")]
    except Exception as exc:
        return [ProbeResult("redis", Down, _elapsed_ms(started), None, _error(exc))]


def _redis_url() -> str:
    if settings.REDIS_URL:
        return settings.REDIS_URL
    return settings.CELERY_BROKER_URL


def probe_celery() -> list[ProbeResult]:
    """The workers' heartbeat (the same check as /readyz); the value is the newest heartbeat's age in seconds."""
    from tourbrain_support.models import WorkerHeartbeat

    started = time.perf_counter()
    try:
        ok, detail = health.check_worker()
        latest = WorkerHeartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
        age = (timezone.now() - latest).total_seconds() if latest else None
        return [ProbeResult("celery", Healthy if ok else Down, _elapsed_ms(started), age, detail[:DETAIL_LIMIT])]
    finally:
        connections[DEFAULT_DB_ALIAS].close()


def probe_http(config: HttpProbeConfig) -> list[ProbeResult]:
    started = time.perf_counter()
    try:
        response = requests.request(config.method, config.url, timeout=config.timeout_seconds, allow_redirects=False)
    except Exception as exc:
        return [ProbeResult(config.name, Down, _elapsed_ms(started), None, _error(exc))]
    latency = _elapsed_ms(started)
    if response.status_code != config.expected_status:
        detail = f"HTTP {response.status_code}, expected {config.expected_status}"
        return [ProbeResult(config.name, Down, latency, None, detail)]
    status, detail, value = Healthy, f"HTTP {response.status_code}", None
    if config.json_field:
        found = _json_path(response, config.json_field)
        if isinstance(found, bool) or not isinstance(found, int | float):
            text = "" if found is None else str(found)
            detail = f"{config.json_field}={text}"[:DETAIL_LIMIT]
        else:
            value = float(found)
            text = str(found)
            detail = f"{config.json_field}={found}"
        if config.json_expected and text != config.json_expected:
            status = Degraded
    if config.degraded_after_ms is not None and latency > config.degraded_after_ms:
        status, detail = Degraded, f"{detail}, slow: {latency:.0f} ms"
    return [ProbeResult(config.name, status, latency, value, detail)]


def _json_path(response: requests.Response, path: str) -> Any:
    try:
        found = response.json()
    except (ValueError, json.JSONDecodeError):
        return None
    for part in path.split("."):
        if isinstance(found, dict):
            found = found.get(part)
        elif isinstance(found, list) and part.isdigit() and int(part) < len(found):
            found = found[int(part)]
        else:
            return None
    return found


# --- which probes run ----------------------------------------------------------------------------------


def http_probe_configs() -> list[HttpProbeConfig]:
    """The probes of the admin (enabled) and of the ALERT_HTTP_PROBES setting; the admin's win on a name clash."""
    configs = {}
    for entry in settings.ALERT_HTTP_PROBES:
        config = HttpProbeConfig(**entry)
        configs[config.name] = config
    for probe in HttpProbe.objects.filter(enabled=True):
        configs[probe.name] = HttpProbeConfig(
            name=probe.name,
            url=probe.url,
            method=probe.method,
            expected_status=probe.expected_status,
            timeout_seconds=min(probe.timeout_seconds, settings.ALERT_PROBE_DEADLINE_SECONDS),
            degraded_after_ms=probe.degraded_after_ms,
            json_field=probe.json_field,
            json_expected=probe.json_expected,
        )
    return list(configs.values())


def redis_configured() -> bool:
    return bool(settings.REDIS_URL) or settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def probe_plan(http_configs: list[HttpProbeConfig] | None = None) -> dict[str, Callable[[], list[ProbeResult]]]:
    """name -> function for every probe of a run."""
    plan: dict[str, Callable[[], list[ProbeResult]]] = {"database": probe_database, "celery": probe_celery}
    if redis_configured():
        plan["redis"] = probe_redis
    for config in http_probe_configs() if http_configs is None else http_configs:
        plan[config.name] = lambda config=config: probe_http(config)
    return plan


def configured_probe_names() -> set[str]:
    """Every probe name rules may read (`probe:<name>:<field>`), including the database's load figures."""
    names = set(probe_plan())
    names |= {"database.connections", "database.utilization", "database.statement_ms"}
    return names


# --- a run -----------------------------------------------------------------------------------------------


def probes_run(*, now: datetime | None = None, plan: dict[str, Callable] | None = None) -> list[ProbeSample]:
    """Run every probe concurrently within the deadline, store one sample per result, prune old samples."""
    now = now or timezone.now()
    plan = probe_plan() if plan is None else plan
    deadline = settings.ALERT_PROBE_DEADLINE_SECONDS
    executor = ThreadPoolExecutor(max_workers=max(1, len(plan)), thread_name_prefix="probe")
    futures = {executor.submit(function): name for name, function in plan.items()}
    _done, not_done = wait(futures, timeout=deadline)
    # Do not wait for the stragglers: their own timeouts end them.
    executor.shutdown(wait=False, cancel_futures=True)
    results: list[ProbeResult] = []
    for future, name in futures.items():
        if future in not_done:
            results.append(ProbeResult(name, Down, deadline * 1000, None, f"timed out after {deadline:g} s"))
            continue
        try:
            results.extend(future.result())
        except Exception as exc:  # a probe bug must not cost the other samples
            logger.exception("probe failed", extra={"probe": name})
            results.append(ProbeResult(name, Down, None, None, _error(exc)))
    samples = ProbeSample.objects.bulk_create(
        [
            ProbeSample(
                probe=result.probe,
                sampled_at=now,
                status=result.status,
                latency_ms=result.latency_ms,
                value=result.value,
                detail=result.detail[:DETAIL_LIMIT],
            )
            for result in results
        ]
    )
    probe_samples_prune(now=now)
    return samples


def probe_samples_prune(*, now: datetime) -> int:
    """Delete one batch of samples older than the retention (a run per minute keeps up with a minute's rows)."""
    cutoff = now - timedelta(days=settings.ALERT_PROBE_RETENTION_DAYS)
    ids = list(ProbeSample.objects.filter(sampled_at__lt=cutoff).values_list("id", flat=True)[:PRUNE_BATCH])
    if not ids:
        return 0
    deleted, _ = ProbeSample.objects.filter(id__in=ids).delete()
    return deleted
