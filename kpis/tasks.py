"""Celery tasks of the kpis app (thin: the work is in kpis.rollups)."""

from celery import shared_task

from kpis.rollups import rollup_nightly


@shared_task(time_limit=3600, soft_time_limit=3500)
def kpi_rollup_nightly() -> int:
    return rollup_nightly()
