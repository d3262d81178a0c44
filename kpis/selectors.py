"""Reads for the KPI pages (from the rollup table only, a fixed number of queries whatever the range), and the
recent health figures the alerting reads over a window ending now (from the raw health samples).
"""

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.db.models import Avg, Count, Q, Sum
from django.utils import timezone

from kpis.analytics import ALL_METHODS, COHORT_METRICS, COHORT_WEEKS, FUNNEL_STEPS, week_start
from kpis.health import HEALTH_ERROR
from kpis.models import (
    SPEED_INSIGHTS_EVENT,
    DailyMetric,
    HealthSample,
    OpenAIUsageSample,
    ProductEvent,
    ScorecardTargetSetting,
)
from kpis.scorecard import target_status, targets_with_settings
from kpis.stats import nearest_rank

CHART_METRICS = ["signups", "dau", "wau", "mau", "tours_created", "exports", "stickiness", "ai_routing_adoption"]
GROWTH_CHART_METRICS = [
    "monthly_signups",
    "organic_share",
    "trial_to_paid",
    "session_duration_median",
    "features_per_session",
]
BUSINESS_CHART_METRICS = ["mrr", "arpu", "clv", "expansion_revenue"]
SUPPORT_CHART_METRICS = ["first_response_median", "first_response_p90", "sla_compliance", "backlog", "kb_deflections"]
HEALTH_CHART_METRICS = [
    "uptime",
    "error_rate",
    "response_time_p95",
    "openai_cost",
    "openai_rate_limit_hits",
    "web_vitals_lcp_p75",
    "web_vitals_inp_p75",
    "web_vitals_cls_p75",
    "web_vitals_ttfb_p75",
    "web_vitals_lcp_p75_country",
    "web_vitals_inp_p75_country",
    "web_vitals_cls_p75_country",
    "web_vitals_ttfb_p75_country",
]


def beta_users_active_since(identifiers: dict[int, set[str]], since: datetime, until: datetime | None = None) -> int:
    """How many of these users (each with the distinct ids their events may carry: auth sub, email) have a product
    event since `since` (and before `until` when given; Vercel's device measurements aside). One query on the
    events' timestamp index; registered as the beta cohort page's counter (tickets.beta_invitations) and the
    `active_beta_users` metric's count."""
    known = {identifier for ids in identifiers.values() for identifier in ids}
    if not known:
        return 0
    events = ProductEvent.objects.filter(timestamp__gte=since, distinct_id__in=known)
    if until is not None:
        events = events.filter(timestamp__lt=until)
    seen = set(events.exclude(name=SPEED_INSIGHTS_EVENT).values_list("distinct_id", flat=True).distinct())
    return sum(1 for ids in identifiers.values() if ids & seen)


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


def format_value(value: float | None, unit: str) -> str:
    """A scorecard figure as shown: "no data" (never zero); percentages with two decimals near 0% and 100%
    (error rate, uptime), where the targets are."""
    if value is None:
        return "no data"
    if unit == "ratio":
        percent = value * 100
        return f"{percent:.2f}%" if percent >= 99 or percent < 10 else f"{percent:.0f}%"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "usd":
        return f"${value:,.0f}"
    if unit == "seconds":
        return f"{value / 60:.1f} min"
    return f"{value:.0f}"


def sparkline_points(values: list, *, width: int = 100, height: int = 20) -> str:
    """SVG polyline points of the known values (days without data skipped), scaled to the box; "" below two."""
    known = [(position, value) for position, value in enumerate(values) if value is not None]
    if len(known) < 2:
        return ""
    low, high = min(v for _, v in known), max(v for _, v in known)
    span = (high - low) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{position * step:.1f},{height - 1 - (value - low) / span * (height - 2):.1f}" for position, value in known
    )


def scorecard(*, end: date) -> list[dict]:
    """Each target with its value (latest day, or sum of the last 30 days), status and 30-day trend."""
    targets = targets_with_settings(dict(ScorecardTargetSetting.objects.values_list("label", "threshold")))
    measured = sorted({target.metric for target in targets if target.metric})
    series = daily_series(metrics=measured, start=end - timedelta(days=29), end=end)
    rows = []
    for target in targets:
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
        rows.append(
            {
                "target": target,
                "value": value,
                "display": format_value(value, target.unit),
                "status": target_status(target, value),
                "trend": trend,
                "sparkline": sparkline_points(trend),
            }
        )
    return rows


def _recent_samples(window: timedelta, now: datetime | None):
    end = now or timezone.now()
    return HealthSample.objects.filter(at__gt=end - window, at__lte=end)


def health_error_rate(window: timedelta, *, now: datetime | None = None) -> float | None:
    """Share of the requests sampled in the window (portal and Vercel) that failed; None without samples."""
    counts = _recent_samples(window, now).aggregate(total=Count("id"), errors=Count("id", filter=HEALTH_ERROR))
    return counts["errors"] / counts["total"] if counts["total"] else None


def health_response_time_mean(window: timedelta, *, now: datetime | None = None) -> float | None:
    """Mean response time in milliseconds of the samples with a duration; None without any."""
    return _recent_samples(window, now).filter(duration_ms__isnull=False).aggregate(mean=Avg("duration_ms"))["mean"]


def health_response_time_p95(window: timedelta, *, now: datetime | None = None) -> float | None:
    """95th percentile (nearest rank) response time in milliseconds; None without samples with a duration."""
    durations = _recent_samples(window, now).filter(duration_ms__isnull=False).values_list("duration_ms", flat=True)
    return nearest_rank(durations, 0.95)


def openai_rate_limit_hits(window: timedelta, *, now: datetime | None = None) -> int:
    """OpenAI rate-limit answers (429) reported for the window (0 when nothing was reported)."""
    end = now or timezone.now()
    usage = OpenAIUsageSample.objects.filter(at__gt=end - window, at__lte=end)
    return usage.aggregate(hits=Sum("rate_limit_hits"))["hits"] or 0


# A failed sign-up as the product reports it: a custom `signupFailed` event beside the seed's `userSignup`.
SIGNUP_EVENT = "userSignup"
SIGNUP_FAILED_EVENT = "signupFailed"


def signup_failure_rate(window: timedelta, *, now: datetime | None = None) -> float | None:
    """Share of sign-up attempts in the window that failed; None when nobody tried to sign up."""
    end = now or timezone.now()
    counts = ProductEvent.objects.filter(
        name__in=[SIGNUP_EVENT, SIGNUP_FAILED_EVENT], timestamp__gt=end - window, timestamp__lte=end
    ).aggregate(total=Count("id"), failed=Count("id", filter=Q(name=SIGNUP_FAILED_EVENT)))
    return counts["failed"] / counts["total"] if counts["total"] else None


STEP_LABELS = {
    "signup": "Signed up",
    "onboarding": "Onboarding completed",
    "first_tour": "First tour",
    "ai_routing": "AI routing used",
    "subscription": "Subscribed",
}


def cohort_tables(*, as_of: date, method: str = ALL_METHODS) -> dict:
    """The funnel (per signup week and overall, for one signup method or all) and the retention table of the
    signup weeks ending with as_of, from the rollup rows (one query)."""
    first_week = week_start(as_of) - timedelta(weeks=COHORT_WEEKS - 1)
    rows = DailyMetric.objects.filter(metric__in=COHORT_METRICS, day__gte=first_week, day__lte=as_of).values_list(
        "metric", "day", "dimension_value", "value"
    )
    users: dict = defaultdict(dict)
    waits: dict = defaultdict(dict)
    methods: set[str] = set()
    sizes: dict = {}
    retention: dict = defaultdict(dict)
    for metric, week, key, value in rows:
        if metric in ("funnel_users", "funnel_median_seconds"):
            row_method, _, step = key.partition(":")
            methods.add(row_method)
            if row_method == method:
                (users if metric == "funnel_users" else waits)[week][step] = value
        elif metric == "cohort_size":
            sizes[week] = int(value)
        else:
            retention[week][int(key)] = value
    steps = [step for step, _ in FUNNEL_STEPS]

    def funnel_rows(counts: dict, medians: dict) -> list[dict]:
        signed_up = counts.get("signup", 0)
        return [
            {
                "step": step,
                "label": STEP_LABELS[step],
                "users": int(counts.get(step, 0)),
                "conversion": counts.get(step, 0) / signed_up if signed_up else None,
                "median_hours": medians[step] / 3600 if step in medians else None,
            }
            for step in steps
        ]

    total = {step: sum(users[week].get(step, 0) for week in users) for step in steps}
    weekly = [{"week": week, "steps": funnel_rows(users[week], waits[week])} for week in sorted(users)]
    width = max((len(retention[week]) for week in retention), default=0)
    return {
        "method": method,
        "methods": sorted(methods - {ALL_METHODS}),
        "funnel": funnel_rows(total, {}),
        "weekly_funnel": weekly,
        "retention_weeks": list(range(width)),
        "retention": [
            {"week": week, "size": sizes.get(week, 0), "shares": [retention[week].get(i) for i in range(width)]}
            for week in sorted(sizes)
        ],
    }
