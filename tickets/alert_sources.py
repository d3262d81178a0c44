"""The tickets app's values for alert rules (registered at start-up; the core never imports this app)."""

from datetime import datetime, timedelta

from tickets.selectors import critical_beta_bug_count
from tourbrain_support.alerting.sources import register_source


def _critical_beta_bugs(window: timedelta, now: datetime) -> float:
    return float(critical_beta_bug_count(since=now - window, until=now))


def alert_sources_register() -> None:
    register_source(
        "tickets.critical_beta_bugs",
        _critical_beta_bugs,
        description="Critical bugs filed by beta users in the window.",
    )
