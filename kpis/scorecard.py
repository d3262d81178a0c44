"""The seed's launch scorecard: each target, the rollup metric that measures it (if one exists yet), and its
pass/fail/no-data status. Targets without a measured metric show "no data", never zero."""

import operator
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Target:
    label: str
    phase: str  # "First 30 days" or "Months 2-6"
    goal: str  # as the seed states it
    metric: str | None = None  # a DailyMetric name; None: not measured yet
    threshold: float | None = None
    comparison: str = ">="  # ">=", "<" or "<="
    # "latest": the metric's value on its latest day; "sum30": the sum over the last 30 days
    aggregate: str = "latest"
    unit: str = "ratio"


COMPARISONS = {">=": operator.ge, "<": operator.lt, "<=": operator.le}

TARGETS = [
    Target("Uptime", "First 30 days", "99.9%", "uptime", 0.999),
    Target("API response time", "First 30 days", "< 500 ms (p95)", "response_time_p95", 500, comparison="<", unit="ms"),
    Target("Error rate", "First 30 days", "< 1%", "error_rate", 0.01, comparison="<"),
    Target("Data loss", "First 30 days", "zero (backup verifications)", "data_loss", 0, comparison="<=", unit="count"),
    Target("Onboarding completion", "First 30 days", "80%", "onboarding_completion_rate", 0.8),
    Target("AI routing adoption", "First 30 days", "70%", "ai_routing_adoption", 0.7),
    Target("Collaboration usage", "First 30 days", "60%", "collaboration_usage", 0.6),
    Target("NPS", "First 30 days", ">= 50", "nps", 50, unit="score"),
    Target("Active beta users", "First 30 days", "15", "active_beta_users", 15, unit="count"),
    Target("Customer testimonials", "First 30 days", "5", "beta_testimonials", 5, unit="count"),
    Target("Conversion intent", "First 30 days", "80%", "conversion_intent", 0.8),
    Target("Beta churn", "First 30 days", "< 10%", "beta_churn", 0.1, comparison="<"),
    Target("Monthly signups", "Months 2-6", "50+ by month 3", "signups", 50, aggregate="sum30", unit="count"),
    Target("Trial-to-paid conversion", "Months 2-6", "25%+", "trial_to_paid", 0.25),
    Target("Customer acquisition cost", "Months 2-6", "< $200", "cac", 200, comparison="<", unit="usd"),
    Target("Session duration", "Months 2-6", "15+ minutes", "session_duration_median", 15 * 60, unit="seconds"),
    Target("MRR", "Months 2-6", "$10K+ by month 6", "mrr", 10000, unit="usd"),
    Target("ARPU", "Months 2-6", "$149+", "arpu", 149, unit="usd"),
    Target("Monthly churn", "Months 2-6", "< 5%", "monthly_churn_rate", 0.05, comparison="<"),
]


TARGETS_BY_LABEL = {target.label: target for target in TARGETS}


def targets_with_settings(settings: dict[str, float]) -> list[Target]:
    """The seed's targets with the thresholds product managers changed ({label: threshold})."""
    return [replace(t, threshold=settings[t.label]) if t.label in settings else t for t in TARGETS]


def target_status(target: Target, value: float | None) -> str:
    if value is None or target.threshold is None:
        return "no data"
    return "pass" if COMPARISONS[target.comparison](value, target.threshold) else "fail"
