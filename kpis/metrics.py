"""The KPI registry: one definition per metric (name, description, unit, how it is computed), and the
computation of one UTC day of each from the raw events.

Trailing windows follow PostHog's definitions: WAU on day D counts distinct users active on D-6..D, MAU on
D-29..D. A metric that has no data on a day (an empty denominator) writes no row: the pages show "no data",
never zero.
"""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from statistics import median
from urllib.parse import urlsplit

from django.db.models import Count, Min, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncMinute

from audit.selectors import backup_outcomes
from knowledge_base.selectors import kb_deflections_daily
from kpis.analytics import day_session_stats
from kpis.health import HEALTH_ERROR
from kpis.models import SPEED_INSIGHTS_EVENT, HealthSample, MarketingSpend, OpenAIUsageSample, ProductEvent
from kpis.revenue import Subscription, price_list, price_on, subscription_changes, subscriptions_at
from kpis.selectors import beta_users_active_since
from kpis.stats import nearest_rank
from tickets.selectors import (
    beta_testimonials_count,
    beta_user_identifiers,
    conversion_intent_share,
    nps_score,
    ticket_backlog_by_tier,
    ticket_first_response_dues,
    ticket_first_responses,
)

# Values of one metric on one day: {dimension value: value}; "" is the value of a metric without dimension.
DayValues = dict[str, float]


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    label: str
    description: str
    unit: str  # "count", "ratio", "seconds", "minutes", "ms", "usd" or "score"
    compute: Callable[[date], DayValues]
    dimension: str = ""
    window_days: int = 1


def day_bounds(day: date, window_days: int = 1) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the window of `window_days` days ending with `day`."""
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
    return end - timedelta(days=window_days), end


def _events(name: str | None, day: date, window_days: int = 1):
    """The window's events of one name, or (None) the users' events: any name but Vercel's device measurements."""
    start, end = day_bounds(day, window_days)
    events = ProductEvent.objects.filter(timestamp__gte=start, timestamp__lt=end)
    return events.filter(name=name) if name else events.exclude(name=SPEED_INSIGHTS_EVENT)


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


# The seed's organicGrowth: "Referral and word-of-mouth percentage", from the signup's `referral` property.
ORGANIC_REFERRALS = ("referral", "word_of_mouth")


# Within `shared_session_stats()` (rollup_day computes every metric of one day in it) the two session metrics share
# one session query per day.
_session_stats: ContextVar[dict[date, tuple[int, float | None, int]] | None] = ContextVar("session_stats", default=None)


@contextmanager
def shared_session_stats() -> Iterator[None]:
    token = _session_stats.set({})
    try:
        yield
    finally:
        _session_stats.reset(token)


def _day_session_stats(day: date) -> tuple[int, float | None, int]:
    shared = _session_stats.get()
    if shared is None:
        return day_session_stats(day)
    if day not in shared:
        shared[day] = day_session_stats(day)
    return shared[day]


def session_duration_median(day: date) -> DayValues:
    count, middle, _ = _day_session_stats(day)
    return {"": middle} if count else {}


def features_per_session(day: date) -> DayValues:
    count, _, features = _day_session_stats(day)
    return {"": features / count} if count else {}


def monthly_signups(day: date) -> DayValues:
    """userSignup events from the first of the month to the end of the day (the month so far)."""
    return {"": _events("userSignup", day, day.day).count()}


def organic_share(day: date) -> DayValues:
    referrals = list(_events("userSignup", day, 30).values_list("properties__referral", flat=True))
    organic = [value for value in referrals if value in ORGANIC_REFERRALS]
    return {"": len(organic) / len(referrals)} if referrals else {}


def trial_to_paid(day: date) -> DayValues:
    # Every signup starts a trial: of the users who signed up in the 30 days ending that day, those subscribed.
    signed_up = _users("userSignup", day, 30)
    _, end = day_bounds(day)
    paying = set(
        ProductEvent.objects.filter(name="subscriptionStarted", timestamp__lt=end, distinct_id__in=signed_up)
        .values_list("distinct_id", flat=True)
        .distinct()
    )
    return _share(paying, signed_up)


def _health_samples(day: date):
    start, end = day_bounds(day)
    return HealthSample.objects.filter(at__gte=start, at__lt=end)


def uptime(day: date) -> DayValues:
    minutes = (
        _health_samples(day)
        .annotate(minute=TruncMinute("at"))
        .values("minute")
        .annotate(total=Count("id"), errors=Count("id", filter=HEALTH_ERROR))
    )
    counts = [(row["total"], row["errors"]) for row in minutes]
    up = sum(1 for total, errors in counts if errors * 2 <= total)
    return {"": up / len(counts)} if counts else {}


def error_rate(day: date) -> DayValues:
    counts = _health_samples(day).aggregate(total=Count("id"), errors=Count("id", filter=HEALTH_ERROR))
    return {"": counts["errors"] / counts["total"]} if counts["total"] else {}


def response_time_p95(day: date) -> DayValues:
    durations = _health_samples(day).filter(duration_ms__isnull=False).values_list("duration_ms", flat=True)
    value = nearest_rank(durations, 0.95)
    return {"": value} if value is not None else {}


def _openai_sum(field: str) -> Callable[[date], DayValues]:
    def compute(day: date) -> DayValues:
        start, end = day_bounds(day)
        rows = (
            OpenAIUsageSample.objects.filter(at__gte=start, at__lt=end)
            .values("model")
            .annotate(total=Sum(field))
            .order_by()
        )
        return {row["model"]: float(row["total"]) for row in rows}

    return compute


_NUMERIC_SEGMENT = re.compile(r"/\d+(?=/|$)")


def web_vitals_route(properties: dict) -> str:
    """The page of a `$web_vitals` event: `$pathname`, else the path of `$current_url`; numeric path segments
    become `:id`, so /tours/12 and /tours/13 are one route."""
    path = properties.get("$pathname")
    if not isinstance(path, str) or not path:
        url = properties.get("$current_url")
        path = urlsplit(url).path if isinstance(url, str) else ""
    return (_NUMERIC_SEGMENT.sub("/:id", path) or "/")[:200]


def web_vitals_country(properties: dict) -> str | None:
    """The visitor's country (ISO code) of a web-vitals event: Vercel's `country`; posthog-js events have one only
    when something upstream adds PostHog's `$geoip_country_code`."""
    country = properties.get("$geoip_country_code")
    return country.upper()[:2] if isinstance(country, str) and country else None


WEB_VITALS_EVENTS = ("$web_vitals", SPEED_INSIGHTS_EVENT)


def _web_vital_p75(vital: str, dimension=web_vitals_route) -> Callable[[date], DayValues]:
    """p75 (nearest rank) of `$web_vitals_<vital>_value` (posthog-js's $web_vitals and Vercel Speed Insights
    events) per dimension value (route, or country), and over all of them ("")."""
    prop = f"$web_vitals_{vital}_value"

    def compute(day: date) -> DayValues:
        start, end = day_bounds(day)
        rows = ProductEvent.objects.filter(name__in=WEB_VITALS_EVENTS, timestamp__gte=start, timestamp__lt=end)
        by_route: dict[str, list[float]] = {}
        for properties in rows.values_list("properties", flat=True):
            value = properties.get(prop) if isinstance(properties, dict) else None
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                key = dimension(properties)
                if key is not None:
                    by_route.setdefault(key, []).append(value)
        result = {route: nearest_rank(values, 0.75) for route, values in by_route.items()}
        if by_route:
            result[""] = nearest_rank([value for values in by_route.values() for value in values], 0.75)
        return result

    return compute


def _paying(day: date) -> tuple[list, list]:
    """(subscription changes up to the end of `day`, prices of the subscriptions running at its end)."""
    _, end = day_bounds(day)
    changes = subscription_changes(end=end)
    running = subscriptions_at(changes, price_list(), at=end)
    return changes, [subscription.price for subscription in running.values() if subscription.price is not None]


def mrr(day: date) -> DayValues:
    changes, paid = _paying(day)
    return {"": float(sum(paid))} if changes else {}


def arpu(day: date) -> DayValues:
    _, paid = _paying(day)
    return {"": float(sum(paid)) / len(paid)} if paid else {}


def clv(day: date) -> DayValues:
    revenue_per_user = arpu(day)
    churn = monthly_churn_rate(day)
    if not revenue_per_user or not churn or churn[""] == 0:
        return {}
    return {"": revenue_per_user[""] / churn[""]}


def expansion_revenue(day: date) -> DayValues:
    start, end = day_bounds(day)
    changes = subscription_changes(end=end)
    prices = price_list()
    running = subscriptions_at(changes, prices, at=start)
    todays = [change for change in changes if change[1] >= start]
    if not running and not todays:
        return {}
    expansion = Decimal(0)
    for user, timestamp, name, plan in todays:
        if name == "churnEvent":
            running.pop(user, None)
            continue
        new = Subscription(plan, price_on(prices, plan, timestamp.date()))
        old = running.get(user)
        # An upgrade: the monthly price goes up (a first subscription is new revenue, not expansion).
        if old is not None and old.price is not None and new.price is not None and new.price > old.price:
            expansion += new.price - old.price
        running[user] = new
    return {"": float(expansion)}


def _first_response_minutes(fraction: float) -> Callable[[date], DayValues]:
    """A percentile (nearest rank) of wall-clock minutes from creation to first response, of the tickets first
    answered that day, by tier and over all tiers ("")."""

    def compute(day: date) -> DayValues:
        start, end = day_bounds(day)
        by_tier: dict[str, list[float]] = {}
        for tier, created_at, responded_at in ticket_first_responses(start=start, end=end):
            by_tier.setdefault(tier, []).append((responded_at - created_at).total_seconds() / 60)
        result = {tier: nearest_rank(minutes, fraction) for tier, minutes in by_tier.items()}
        if by_tier:
            result[""] = nearest_rank([m for minutes in by_tier.values() for m in minutes], fraction)
        return result

    return compute


def sla_compliance(day: date) -> DayValues:
    start, end = day_bounds(day)
    met: dict[str, list[bool]] = {}
    for tier, due_at, responded_at in ticket_first_response_dues(start=start, end=end):
        met.setdefault(tier, []).append(responded_at is not None and responded_at <= due_at)
    result = {tier: sum(flags) / len(flags) for tier, flags in met.items()}
    if met:
        every = [flag for flags in met.values() for flag in flags]
        result[""] = sum(every) / len(every)
    return result


def backlog(day: date) -> DayValues:
    _, end = day_bounds(day)
    by_tier = ticket_backlog_by_tier(at=end)
    return {**by_tier, "": sum(by_tier.values())}


# NPS and conversion intent over the answers of a trailing quarter (one survey round per person per 90 days).
SURVEY_WINDOW_DAYS = 90


def nps(day: date) -> DayValues:
    start, end = day_bounds(day, SURVEY_WINDOW_DAYS)
    score = nps_score(since=start, until=end)
    return {} if score is None else {"": score}


def conversion_intent(day: date) -> DayValues:
    start, end = day_bounds(day, SURVEY_WINDOW_DAYS)
    share = conversion_intent_share(since=start, until=end)
    return {} if share is None else {"": share}


def beta_testimonials(day: date) -> DayValues:
    _, end = day_bounds(day)
    return {"": float(beta_testimonials_count(until=end))}


BETA_ACTIVE_DAYS = 30


def beta_active_users(day: date) -> DayValues:
    """The beta cohort page's "Active" count as of the end of the day: the cohort's users (today's cohort, as for
    beta churn) with a product event under one of their ids (auth `sub`, email) in the 30 days ending with it."""
    start, end = day_bounds(day, BETA_ACTIVE_DAYS)
    return {"": float(beta_users_active_since(beta_user_identifiers(cohort_only=True), start, end))}


def beta_churn(day: date) -> DayValues:
    """Of the beta users (kpis reads who they are from the tickets app: auth `sub`s and email as distinct ids),
    the share with a churnEvent up to the end of the day. The cohort is today's: the rollup of a past day uses
    today's list of beta users."""
    identifiers = beta_user_identifiers()
    if not identifiers:
        return {}
    _, end = day_bounds(day)
    known = {identifier for ids in identifiers.values() for identifier in ids}
    churned_ids = set(
        ProductEvent.objects.filter(name="churnEvent", timestamp__lt=end, distinct_id__in=known)
        .values_list("distinct_id", flat=True)
        .distinct()
    )
    churned = sum(1 for ids in identifiers.values() if ids & churned_ids)
    return {"": churned / len(identifiers)}


def data_loss(day: date) -> DayValues:
    """Failed backups, backup verifications and restore drills finished in the 30 days ending with the day; no
    data without any finished run (zero data loss is not claimed unverified)."""
    start, end = day_bounds(day, 30)
    finished, failed = backup_outcomes(since=start, until=end)
    return {"": float(failed)} if finished else {}


def customer_acquisition_cost(day: date) -> DayValues:
    """The month's marketing spend, prorated to the days of the month so far, over the new paying customers of
    the month so far (users whose first subscriptionStarted falls in it). No data without a spend row for the
    month or without a new customer."""
    month_start = day.replace(day=1)
    spend = MarketingSpend.objects.filter(month=month_start).values_list("amount_usd", flat=True).first()
    if spend is None:
        return {}
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    days_in_month = (next_month - month_start).days
    month_begins, _ = day_bounds(month_start)
    _, end = day_bounds(day)
    first_paid = (
        ProductEvent.objects.filter(name="subscriptionStarted", timestamp__lt=end)
        .values("distinct_id")
        .annotate(first=Min("timestamp"))
        .filter(first__gte=month_begins)
        .count()
    )
    if not first_paid:
        return {}
    prorated = float(spend) * ((day - month_start).days + 1) / days_in_month
    return {"": prorated / first_paid}


def kb_deflections(day: date) -> DayValues:
    """Help-center deflections of the suggested articles opened that day (decided 30 minutes after the open)."""
    start, end = day_bounds(day)
    return {"": float(sum(row["total"] for row in kb_deflections_daily(since=start, until=end)))}


WEB_VITALS = [
    ("lcp", "LCP", "Largest Contentful Paint", "ms"),
    ("inp", "INP", "Interaction to Next Paint", "ms"),
    ("cls", "CLS", "Cumulative Layout Shift", "score"),
    ("ttfb", "TTFB", "Time to First Byte", "ms"),
]


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
    MetricDefinition(
        "dau",
        "Daily active users",
        "Distinct users with any event that day (Vercel Speed Insights measurements aside).",
        "count",
        _active_users(1),
    ),
    MetricDefinition(
        "wau",
        "Weekly active users",
        "Distinct users with any event in the 7 days ending that day (Vercel Speed Insights measurements aside).",
        "count",
        _active_users(7),
        window_days=7,
    ),
    MetricDefinition(
        "mau",
        "Monthly active users",
        "Distinct users with any event in the 30 days ending that day (Vercel Speed Insights measurements aside).",
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
METRICS += [
    MetricDefinition(
        "session_duration_median",
        "Session duration (median)",
        "Median length of the day's sessions: a user's events with no gap over 30 minutes form a session, from its "
        "first to its last event (a session crossing midnight counts on each day).",
        "seconds",
        session_duration_median,
    ),
    MetricDefinition(
        "features_per_session",
        "Features per session",
        "Mean number of distinct event names (PostHog's own `$` events aside) per session of the day.",
        "count",
        features_per_session,
    ),
    MetricDefinition(
        "monthly_signups",
        "Monthly signups",
        "userSignup events from the first of the month to the end of that day (the value on the month's last day "
        "is the month's total).",
        "count",
        monthly_signups,
        window_days=31,
    ),
    MetricDefinition(
        "organic_share",
        "Organic share",
        "Of the userSignup events of the 30 days ending that day, the share whose `referral` property is "
        "referral or word_of_mouth.",
        "ratio",
        organic_share,
        window_days=30,
    ),
    MetricDefinition(
        "trial_to_paid",
        "Trial to paid",
        "Of the users who signed up in the 30 days ending that day (each signup starts a trial), the share with a "
        "subscriptionStarted by the end of that day.",
        "ratio",
        trial_to_paid,
        window_days=30,
    ),
]
METRICS += [
    MetricDefinition(
        "uptime",
        "Uptime",
        "Of the minutes of the day with request samples (this portal's and the Vercel drain's), the share in which "
        "at most half of the sampled requests failed (a 5xx, or a crashed function).",
        "ratio",
        uptime,
    ),
    MetricDefinition(
        "error_rate",
        "Error rate",
        "Share of the day's request samples that failed (a 5xx, or a crashed function).",
        "ratio",
        error_rate,
    ),
    MetricDefinition(
        "response_time_p95",
        "Response time p95",
        "95th percentile (nearest rank) of the response times of the day's request samples that carry one.",
        "ms",
        response_time_p95,
    ),
    MetricDefinition(
        "openai_cost",
        "OpenAI cost",
        "Sum of the reported OpenAI usage cost of the day, by model (USD).",
        "usd",
        _openai_sum("cost_usd"),
        "model",
    ),
    MetricDefinition(
        "openai_rate_limit_hits",
        "OpenAI rate-limit hits",
        "Sum of the reported OpenAI rate-limit answers (429) of the day, by model.",
        "count",
        _openai_sum("rate_limit_hits"),
        "model",
    ),
    MetricDefinition(
        "mrr",
        "MRR",
        "Monthly recurring revenue at the end of the day: the monthly price of every running subscription "
        "(subscriptionStarted, not followed by a churnEvent), at the plan's price on the day it started.",
        "usd",
        mrr,
    ),
    MetricDefinition(
        "arpu",
        "ARPU",
        "MRR over the paying users at the end of the day.",
        "usd",
        arpu,
    ),
    MetricDefinition(
        "clv",
        "Customer lifetime value",
        "ARPU / monthly churn rate (of the same day); no data while the churn rate is zero.",
        "usd",
        clv,
        window_days=30,
    ),
    MetricDefinition(
        "expansion_revenue",
        "Expansion revenue",
        "Monthly revenue added that day by plan changes to a dearer plan (new price minus the price paid before).",
        "usd",
        expansion_revenue,
    ),
    MetricDefinition(
        "first_response_median",
        "First response (median)",
        "Median (nearest rank) wall-clock minutes from a ticket's creation to its first staff response, of the "
        "tickets first answered that day, by tier (the total line over all tiers).",
        "minutes",
        _first_response_minutes(0.5),
        "tier",
    ),
    MetricDefinition(
        "first_response_p90",
        "First response (p90)",
        "90th percentile (nearest rank) of the same minutes, by tier.",
        "minutes",
        _first_response_minutes(0.9),
        "tier",
    ),
    MetricDefinition(
        "sla_compliance",
        "SLA compliance",
        "Of the tickets whose first response fell due that day, the share answered by the due time, by tier.",
        "ratio",
        sla_compliance,
        "tier",
    ),
    MetricDefinition(
        "backlog",
        "Backlog",
        "Tickets open at the end of the day (created, neither solved nor closed yet), by tier.",
        "count",
        backlog,
        "tier",
    ),
    MetricDefinition(
        "kb_deflections",
        "Help center deflections",
        "Suggested help articles opened that day from the widget or the portal's new-ticket form and not followed "
        "by a ticket from that person within 30 minutes (once per person, draft and article), by day of the open.",
        "count",
        kb_deflections,
    ),
    MetricDefinition(
        "nps",
        "NPS",
        "Net Promoter Score of the NPS answers of the trailing 90 days: % promoters (9-10) - % detractors (0-6).",
        "score",
        nps,
    ),
    MetricDefinition(
        "conversion_intent",
        "Beta conversion intent",
        "Of the beta users who answered the feedback form in the trailing 90 days, the share whose latest answer "
        "is that they would pay to keep access.",
        "ratio",
        conversion_intent,
    ),
    MetricDefinition(
        "beta_testimonials",
        "Testimonials",
        "Beta testimonials given with consent to publish and approved by a lead, up to the end of the day.",
        "count",
        beta_testimonials,
    ),
    MetricDefinition(
        "active_beta_users",
        "Active beta users",
        "Beta cohort users with a product event (under their auth sub or email) in the 30 days ending with the "
        "day: the beta cohort page's Active count.",
        "count",
        beta_active_users,
    ),
    MetricDefinition(
        "beta_churn",
        "Beta churn",
        "Of the beta users (cohort or active beta organization; known in events by their auth sub or email), the "
        "share with a churnEvent up to the end of the day (today's cohort).",
        "ratio",
        beta_churn,
    ),
    MetricDefinition(
        "data_loss",
        "Data loss",
        "Failed backups, backup verifications and restore drills in the 30 days ending that day (no data without "
        "a finished run).",
        "count",
        data_loss,
        window_days=30,
    ),
    MetricDefinition(
        "cac",
        "Customer acquisition cost",
        "The month's marketing spend (admin: Marketing spends) prorated to the month so far, over the users whose "
        "first subscriptionStarted is in the month so far.",
        "usd",
        customer_acquisition_cost,
    ),
    *(
        MetricDefinition(
            f"web_vitals_{key}_p75",
            f"{acronym} p75",
            f"75th percentile (nearest rank) of {title} ({acronym}) in the day's posthog-js $web_vitals events and "
            "Vercel Speed Insights measurements, by route (path with numeric segments as :id); the total line is "
            "over all routes.",
            unit,
            _web_vital_p75(acronym),
            "route",
        )
        for key, acronym, title, unit in WEB_VITALS
    ),
    *(
        MetricDefinition(
            f"web_vitals_{key}_p75_country",
            f"{acronym} p75 by country",
            f"75th percentile (nearest rank) of {title} ({acronym}) by the visitor's country (Vercel Speed Insights' "
            "`country`, or `$geoip_country_code`); the total line is over the measurements with a country.",
            unit,
            _web_vital_p75(acronym, web_vitals_country),
            "country",
        )
        for key, acronym, title, unit in WEB_VITALS
    ),
]
METRICS_BY_NAME = {metric.name: metric for metric in METRICS}
# A late event on day D changes the trailing metrics of the days after it, up to the longest window.
LONGEST_WINDOW_DAYS = max(metric.window_days for metric in METRICS)
