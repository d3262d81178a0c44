"""Daily rollups: compute every registered metric for a range of UTC days into DailyMetric, by upsert.

Rerunning a day rewrites the same rows (and removes rows of dimension values that are gone). The nightly
run also recomputes the days whose events arrived late, found from the received_at watermark. On PostgreSQL
an advisory lock keeps two runs from overlapping; SQLite serializes writers anyway.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import Max
from django.db.models.functions import TruncDate
from django.utils import timezone

from knowledge_base.selectors import kb_deflection_days_decided
from kpis.analytics import COHORT_METRICS, COHORT_WEEKS, cohort_values, week_start
from kpis.metrics import LONGEST_WINDOW_DAYS, METRICS, shared_session_stats
from kpis.models import DailyMetric, ProductEvent, RollupState

ADVISORY_LOCK_KEY = 0x6B706973  # "kpis"
WATERMARK_KEY = "rollup"
# Deflections are decided 30 minutes after the open: the days of those decided since the last run are redone.
KB_DEFLECTIONS_WATERMARK_KEY = "kb_deflections"
# A decision stamped just before a run may commit after the run read its day: the next run looks back this far.
KB_DECISION_MARGIN = timedelta(minutes=5)
CHUNK_DAYS = 30


class RollupAlreadyRunning(Exception):
    pass


@contextmanager
def rollup_lock() -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise RollupAlreadyRunning("Another KPI rollup is running.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


@transaction.atomic
def rollup_day(*, day: date) -> int:
    """Write every metric of `day`; returns the number of rows it now holds."""
    now = timezone.now()
    with shared_session_stats():  # the two session metrics share the day's session query
        rows = [
            DailyMetric(
                metric=metric.name,
                day=day,
                dimension=metric.dimension,
                dimension_value=value_key,
                value=float(value),
                computed_at=now,
            )
            for metric in METRICS
            for value_key, value in metric.compute(day).items()
        ]
    DailyMetric.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["metric", "day", "dimension", "dimension_value"],
        update_fields=["value", "computed_at"],
    )
    # Rows not rewritten now (a dimension value or a ratio that no longer has data) are stale.
    # (The funnel and retention rows under this day, a signup week's Monday, belong to rollup_cohorts.)
    DailyMetric.objects.filter(day=day).exclude(computed_at=now).exclude(metric__in=COHORT_METRICS).delete()
    return len(rows)


@transaction.atomic
def rollup_cohorts(*, as_of: date) -> int:
    """Write the funnel and retention of the signup weeks of the COHORT_WEEKS weeks ending with as_of, counting
    events up to the end of as_of (each signup week's Monday holds its rows); returns the rows written."""
    now = timezone.now()
    rows = [
        DailyMetric(
            metric=metric, day=week, dimension=dimension, dimension_value=key, value=float(value), computed_at=now
        )
        for metric, week, dimension, key, value in cohort_values(as_of=as_of)
    ]
    DailyMetric.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["metric", "day", "dimension", "dimension_value"],
        update_fields=["value", "computed_at"],
    )
    first_week = week_start(as_of) - timedelta(weeks=COHORT_WEEKS - 1)
    DailyMetric.objects.filter(metric__in=COHORT_METRICS, day__gte=first_week, day__lte=as_of).exclude(
        computed_at=now
    ).delete()
    return len(rows)


def rollup_range(*, start: date, end: date, progress=None) -> int:
    """Roll up start..end (inclusive) in chunks, printing a progress line per chunk; returns rows written."""
    total_days = (end - start).days + 1
    written = 0
    with rollup_lock():
        for offset in range(total_days):
            written += rollup_day(day=start + timedelta(days=offset))
            done = offset + 1
            if progress and (done % CHUNK_DAYS == 0 or done == total_days):
                progress(f"KPI rollup: {done}/{total_days} days ({start} .. {end}), {written} rows")
        written += rollup_cohorts(as_of=end)
    return written


def dirty_days(*, since, until) -> set[date]:
    """Days holding events received in (since, until]: late events make their day (and the trailing
    windows after it) stale."""
    events = ProductEvent.objects.filter(received_at__lte=until)
    if since is not None:
        events = events.filter(received_at__gt=since)
    return set(events.annotate(day=TruncDate("timestamp")).values_list("day", flat=True).distinct())


def rollup_nightly(*, progress=None) -> int:
    """Yesterday, plus every day changed by events received since the last run (and the windows after it), plus
    the days of help-center deflections decided since the last run."""
    run_started = timezone.now()
    yesterday = run_started.date() - timedelta(days=1)
    with rollup_lock():
        state, _ = RollupState.objects.get_or_create(key=WATERMARK_KEY)
        # Received up to the newest stored event; later arrivals are the next run's.
        until = ProductEvent.objects.aggregate(newest=Max("received_at"))["newest"] or run_started
        days = {yesterday} | {day for day in dirty_days(since=state.watermark, until=until) if day <= yesterday}
        to_compute: set[date] = set()
        for day in days:
            to_compute.update(
                day + timedelta(days=offset)
                for offset in range(LONGEST_WINDOW_DAYS)
                if day + timedelta(days=offset) <= yesterday
            )
        # kb_deflections is a one-day metric: a late decision makes only its own day stale.
        kb_state, _ = RollupState.objects.get_or_create(key=KB_DEFLECTIONS_WATERMARK_KEY)
        to_compute.update(
            day for day in kb_deflection_days_decided(since=kb_state.watermark, until=run_started) if day <= yesterday
        )
        written = 0
        for day in sorted(to_compute):
            written += rollup_day(day=day)
        written += rollup_cohorts(as_of=yesterday)
        if progress:
            progress(f"KPI rollup: {len(to_compute)} days recomputed, {written} rows")
        state.watermark = until
        state.save(update_fields=["watermark", "updated_at"])
        kb_state.watermark = run_started - KB_DECISION_MARGIN
        kb_state.save(update_fields=["watermark", "updated_at"])
    return written
