"""Celery tasks of the kpis app (thin: the work is in kpis.rollups and kpis.health)."""

from celery import shared_task

from kpis.health import health_samples_prune, request_samples_drain
from kpis.partitions import events_partitions_maintain
from kpis.rollups import rollup_nightly


@shared_task(time_limit=3600, soft_time_limit=3500)
def kpi_rollup_nightly() -> int:
    return rollup_nightly()


@shared_task(time_limit=120, soft_time_limit=100)
def kpi_health_samples_drain() -> int:
    return request_samples_drain()


@shared_task(time_limit=600, soft_time_limit=550)
def kpi_health_samples_prune() -> int:
    return health_samples_prune()


@shared_task(time_limit=1800, soft_time_limit=1700)
def kpi_events_partitions_maintain() -> dict:
    result = events_partitions_maintain()
    return {key: [str(month) for month in value] if isinstance(value, list) else value for key, value in result.items()}
