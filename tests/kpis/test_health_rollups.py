"""Health rollups (uptime, error rate, p95 response time, OpenAI cost and rate-limit hits) against a
brute-force Python computation over hypothesis-generated request and usage samples."""

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpis.models import DailyMetric, HealthSample, OpenAIUsageSample
from kpis.rollups import rollup_range

pytestmark = pytest.mark.django_db

START = date(2026, 4, 1)
DAYS = 2
MIDNIGHT = datetime.combine(START, datetime.min.time(), tzinfo=UTC)

request_strategy = st.tuples(
    st.integers(0, DAYS * 24 * 60 - 1),  # minute
    st.integers(0, 59),  # second
    st.sampled_from([200, 201, 302, 404, 500, 503, -1]),
    st.one_of(st.none(), st.floats(0.5, 5000, allow_nan=False)),
)
usage_strategy = st.tuples(
    st.integers(0, DAYS * 24 * 60 - 1),
    st.sampled_from(["gpt-4o", "gpt-4o-mini"]),
    st.decimals(0, 50, places=6, allow_nan=False, allow_infinity=False),
    st.integers(0, 9),
)


def oracle(requests, usage, day: date) -> dict:
    first = (day - START).days * 24 * 60
    todays = [r for r in requests if first <= r[0] < first + 24 * 60]
    todays_usage = [u for u in usage if first <= u[0] < first + 24 * 60]
    expected: dict = {}
    if todays:
        failed = [status >= 500 or status < 0 for _, _, status, _ in todays]
        expected["error_rate"] = {"": sum(failed) / len(todays)}
        minutes: dict[int, list[bool]] = {}
        for (minute, _, _, _), fail in zip(todays, failed, strict=True):
            minutes.setdefault(minute, []).append(fail)
        up = [minute for minute, fails in minutes.items() if sum(fails) <= len(fails) / 2]
        expected["uptime"] = {"": len(up) / len(minutes)}
    durations = sorted(d for _, _, _, d in todays if d is not None)
    if durations:
        expected["response_time_p95"] = {"": durations[math.ceil(0.95 * len(durations)) - 1]}
    costs: dict[str, Decimal] = {}
    hits: dict[str, int] = {}
    for _, model, cost, hit in todays_usage:
        costs[model] = costs.get(model, Decimal(0)) + cost
        hits[model] = hits.get(model, 0) + hit
    if todays_usage:
        expected["openai_cost"] = {model: float(total) for model, total in costs.items()}
        expected["openai_rate_limit_hits"] = dict(hits)
    return expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(request_strategy, max_size=80), usage=st.lists(usage_strategy, max_size=20))
def test_health_metrics_equal_the_oracle(requests, usage):
    HealthSample.objects.all().delete()
    OpenAIUsageSample.objects.all().delete()
    DailyMetric.objects.all().delete()
    HealthSample.objects.bulk_create(
        HealthSample(
            source=HealthSample.Source.PORTAL,
            sample_key=f"s{index}",
            at=MIDNIGHT + timedelta(minutes=minute, seconds=second),
            status=status,
            duration_ms=duration,
        )
        for index, (minute, second, status, duration) in enumerate(requests)
    )
    OpenAIUsageSample.objects.bulk_create(
        OpenAIUsageSample(
            sample_key=f"u{index}",
            at=MIDNIGHT + timedelta(minutes=minute),
            model=model,
            cost_usd=cost,
            rate_limit_hits=hit,
        )
        for index, (minute, model, cost, hit) in enumerate(usage)
    )
    rollup_range(start=START, end=START + timedelta(days=DAYS - 1))
    names = {"uptime", "error_rate", "response_time_p95", "openai_cost", "openai_rate_limit_hits"}
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        stored: dict = {}
        for row in DailyMetric.objects.filter(day=day, metric__in=names):
            stored.setdefault(row.metric, {})[row.dimension_value] = row.value
        expected = oracle(requests, usage, day)
        assert stored.keys() == expected.keys(), day
        for metric, values in expected.items():
            assert stored[metric].keys() == values.keys(), (metric, day)
            for key, value in values.items():
                assert stored[metric][key] == pytest.approx(value), (metric, day, key)
