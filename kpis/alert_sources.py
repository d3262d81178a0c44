"""The KPI app's values for alert rules: error rate, response time, OpenAI rate limits, failed sign-ups
(registered at start-up; the core's alerting never imports this app)."""

from datetime import datetime, timedelta

from kpis import selectors
from tourbrain_support.alerting.sources import register_source


def _error_rate(window: timedelta, now: datetime) -> float | None:
    return selectors.health_error_rate(window, now=now)


def _response_time_avg_ms(window: timedelta, now: datetime) -> float | None:
    return selectors.health_response_time_mean(window, now=now)


def _openai_rate_limited(window: timedelta, now: datetime) -> float:
    return float(selectors.openai_rate_limit_hits(window, now=now))


def _signup_failure_rate(window: timedelta, now: datetime) -> float | None:
    return selectors.signup_failure_rate(window, now=now)


def alert_sources_register() -> None:
    register_source(
        "kpis.error_rate", _error_rate, description="Share of sampled requests that failed (portal and Vercel)."
    )
    register_source(
        "kpis.response_time_avg_ms", _response_time_avg_ms, description="Mean response time of sampled requests, ms."
    )
    register_source(
        "kpis.openai_rate_limited", _openai_rate_limited, description="OpenAI rate-limit answers (429) reported."
    )
    register_source(
        "kpis.signup_failure_rate",
        _signup_failure_rate,
        description="Share of sign-up attempts that failed (signupFailed among userSignup + signupFailed events).",
    )
