"""The KPI registry: one definition per metric (name, description, unit, how it is computed), and the
computation of one UTC day of each from the raw events.

Trailing windows follow PostHog's definitions: WAU on day D counts distinct users active on D-6..D, MAU on
D-29..D. A metric that has no data on a day (an empty denominator) writes no row: the pages show "no data",
never zero.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from statistics import median

from django.db.models import Count
from django.db.models.fields.json import KeyTextTransform

from kpis.models import ProductEvent

# Values of one metric on one day: {dimension value: value}; "" is the value of a metric without dimension.
DayValues = dict[str, float]


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    label: str
    description: str
    unit: str  # "count", "ratio" or "seconds"
    compute: Callable[[date], DayValues]
    dimension: str = ""
    window_days: int = 1


def day_bounds(day: date, window_days: int = 1) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the window of `window_days` days ending with `day`."""
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
    return end - timedelta(days=window_days), end


def _events(name: str | None, day: date, window_days: int = 1):
    start, end = day_bounds(day, window_days)
    events = ProductEvent.objects.filter(timestamp__gte=start, timestamp__lt=end)
    return events.filter(name=name) if name else events


def _users(name: str | None, day: date, window_days: int = 1) -> set[str]:
    return set(_events(name, day, window_days).values_list("distinct_id", flat=True).distinct())


def _count(name: str) -> Callable[[date], DayValues]:
    def compute(day: date) -> DayValues:
        return {"": _events(name, day).count()}

    return compute


def _count_by(name: str, prop: str) -> Callable[[date], DayValues]:
    def compute(day: date) -> DayValues:
        rows = (
            _events(name, day)
            .annotate(dimension_value=KeyTextTransform(prop, "properties"))
            .values("dimension_value")
            .annotate(n=Count("id"))
        )
        return {str(row["dimension_value"]): row["n"] for row in rows}

    return compute


def _active_users(window_days: int) -> Callable[[date], DayValues]:
    def compute(day: date) -> DayValues:
        return {"": _events(None, day, window_days).values("distinct_id").distinct().count()}

    return compute


def _share(numerator: set, denominator: set) -> DayValues:
    return {"": len(numerator & denominator) / len(denominator)} if denominator else {}


def stickiness(day: date) -> DayValues:
    dau = _active_users(1)(day)[""]
    mau = _active_users(30)(day)[""]
    return {"": dau / mau} if mau else {}


def onboarding_completion_rate(day: date) -> DayValues:
    signed_up = _users("userSignup", day, 30)
    _, end = day_bounds(day)
    completed = set(
        ProductEvent.objects.filter(name="onboardingCompleted", timestamp__lt=end, distinct_id__in=signed_up)
        .values_list("distinct_id", flat=True)
        .distinct()
    )
    return _share(completed, signed_up)


def onboarding_median_time(day: date) -> DayValues:
    times = [
        value
        for value in _events("onboardingCompleted", day).values_list("properties__timeToComplete", flat=True)
        if isinstance(value, int | float)
    ]
    return {"": float(median(times))} if times else {}


def ai_routing_adoption(day: date) -> DayValues:
    return _share(_users("aiRoutingUsed", day, 30), _users("tourCreated", day, 30))


def collaboration_usage(day: date) -> DayValues:
    return _share(_users("collaborationUsed", day, 30), _users(None, day, 30))


def monthly_churn_rate(day: date) -> DayValues:
    window_start, _ = day_bounds(day, 30)
    before = ProductEvent.objects.filter(timestamp__lt=window_start)
    subscribed = set(before.filter(name="subscriptionStarted").values_list("distinct_id", flat=True))
    churned_before = set(before.filter(name="churnEvent").values_list("distinct_id", flat=True))
    customers = subscribed - churned_before
    return _share(_users("churnEvent", day, 30), customers)


METRICS: list[MetricDefinition] = [
    MetricDefinition(
        "signups",
        "Signups",
        "userSignup events, by signup method.",
        "count",
        _count_by("userSignup", "method"),
        "method",
    ),
    MetricDefinition(
        "organizations_created",
        "Organizations created",
        "organizationCreated events, by organization type.",
        "count",
        _count_by("organizationCreated", "type"),
        "type",
    ),
    MetricDefinition("dau", "Daily active users", "Distinct users with any event that day.", "count", _active_users(1)),
    MetricDefinition(
        "wau",
        "Weekly active users",
        "Distinct users with any event in the 7 days ending that day.",
        "count",
        _active_users(7),
        window_days=7,
    ),
    MetricDefinition(
        "mau",
        "Monthly active users",
        "Distinct users with any event in the 30 days ending that day.",
        "count",
        _active_users(30),
        window_days=30,
    ),
    MetricDefinition("stickiness", "Stickiness", "DAU / MAU.", "ratio", stickiness, window_days=30),
    MetricDefinition(
        "onboarding_completion_rate",
        "Onboarding completion",
        "Of the users who signed up in the 30 days ending that day, the share with an onboardingCompleted event "
        "by the end of that day.",
        "ratio",
        onboarding_completion_rate,
        window_days=30,
    ),
    MetricDefinition(
        "onboarding_median_time",
        "Onboarding median time",
        "Median timeToComplete of that day's onboardingCompleted events (as sent, in seconds).",
        "seconds",
        onboarding_median_time,
    ),
    MetricDefinition("tours_created", "Tours created", "tourCreated events.", "count", _count("tourCreated")),
    MetricDefinition(
        "ai_routing_adoption",
        "AI routing adoption",
        "Of the users who created a tour in the 30 days ending that day, the share who used AI routing in them.",
        "ratio",
        ai_routing_adoption,
        window_days=30,
    ),
    MetricDefinition(
        "collaboration_usage",
        "Collaboration usage",
        "Of the users active in the 30 days ending that day (MAU), the share who used collaboration.",
        "ratio",
        collaboration_usage,
        window_days=30,
    ),
    MetricDefinition(
        "exports",
        "Exports",
        "exportGenerated events, by export type.",
        "count",
        _count_by("exportGenerated", "type"),
        "type",
    ),
    MetricDefinition(
        "subscriptions",
        "Subscriptions started",
        "subscriptionStarted events, by plan.",
        "count",
        _count_by("subscriptionStarted", "plan"),
        "plan",
    ),
    MetricDefinition("churn_events", "Churn events", "churnEvent events.", "count", _count("churnEvent")),
    MetricDefinition(
        "monthly_churn_rate",
        "Monthly churn rate",
        "Users with a churnEvent in the 30 days ending that day, over the users subscribed (subscriptionStarted, "
        "not churned) before those 30 days.",
        "ratio",
        monthly_churn_rate,
        window_days=30,
    ),
]
METRICS_BY_NAME = {metric.name: metric for metric in METRICS}
# A late event on day D changes the trailing metrics of the days after it, up to the longest window.
LONGEST_WINDOW_DAYS = max(metric.window_days for metric in METRICS)
