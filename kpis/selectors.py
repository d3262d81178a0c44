"""Reads for the KPI pages: from the rollup table only, a fixed number of queries whatever the range."""

from collections import defaultdict
from datetime import date, timedelta

from kpis.models import DailyMetric
from kpis.scorecard import TARGETS, target_status

CHART_METRICS = ["signups", "dau", "wau", "mau", "tours_created", "exports", "stickiness", "ai_routing_adoption"]


def daily_series(*, metrics: list[str], start: date, end: date) -> dict[str, dict]:
    """{metric: {"days": [...], "series": {dimension value: [value per day or None]}}} in one query."""
    days = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
    index = {day: position for position, day in enumerate(days)}
    result: dict[str, dict] = {
        metric: {"days": [day.isoformat() for day in days], "series": defaultdict(lambda: [None] * len(days))}
        for metric in metrics
    }
    rows = DailyMetric.objects.filter(metric__in=metrics, day__gte=start, day__lte=end).values_list(
        "metric", "day", "dimension_value", "value"
    )
    for metric, day, dimension_value, value in rows:
        result[metric]["series"][dimension_value or "total"][index[day]] = value
    for data in result.values():
        data["series"] = dict(sorted(data["series"].items()))
    return result


def scorecard(*, end: date) -> list[dict]:
    """Each target with its value (latest day, or sum of the last 30 days), status and 30-day trend."""
    measured = sorted({target.metric for target in TARGETS if target.metric})
    series = daily_series(metrics=measured, start=end - timedelta(days=29), end=end)
    rows = []
    for target in TARGETS:
        value = None
        trend: list = []
        if target.metric:
            # Summed over dimension values (signups by method -> all signups) per day.
            columns = list(series[target.metric]["series"].values())
            per_day = []
            for position in range(len(series[target.metric]["days"])):
                known = [column[position] for column in columns if column[position] is not None]
                per_day.append(sum(known) if known else None)
            trend = per_day
            known = [v for v in per_day if v is not None]
            if known:
                value = sum(known) if target.aggregate == "sum30" else known[-1]
        rows.append({"target": target, "value": value, "status": target_status(target, value), "trend": trend})
    return rows
