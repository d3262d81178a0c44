"""The tickets app's values for alert rules (registered at start-up; the core never imports this app)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse

from tickets.selectors import critical_beta_bugs, widget_intake_backlog
from tourbrain_support.alerting.sources import SourceValue, register_source

LISTED = 5  # references named in the notification; the count says how many more


def _critical_beta_bugs(window: timedelta, now: datetime) -> SourceValue:
    """The count, and the newest tickets by reference with a link to the newest (the page's link too); 1 query."""
    references = list(
        critical_beta_bugs(since=now - window, until=now)
        .order_by("-created_at", "-pk")
        .values_list("reference", flat=True)[: LISTED + 1]
    )
    if not references:
        return SourceValue(0.0)
    count = critical_beta_bugs(since=now - window, until=now).count() if len(references) > LISTED else len(references)
    site = settings.SITE_URL.rstrip("/")
    annotations = {
        "ticket": ", ".join(references[:LISTED]) + (f" and {count - LISTED} more" if count > LISTED else ""),
        "url": site + reverse("tickets:detail", args=[references[0]]),
    }
    return SourceValue(float(count), annotations)


def _widget_tickets_unfiled(window: timedelta, now: datetime) -> SourceValue:
    """Widget tickets accepted longer than the window ago and still not filed, plus those whose retries are
    used up (the worker is down or filing fails); annotated with the admin page. 1 query."""
    backlog = widget_intake_backlog(now=now, older_than=window)
    count = backlog["pending"] + backlog["failed"]
    if not count:
        return SourceValue(0.0)
    annotations = {
        "pending": str(backlog["pending"]),
        "failed": str(backlog["failed"]),
        "url": settings.SITE_URL.rstrip("/") + reverse("admin:tickets_ticketintake_changelist"),
    }
    return SourceValue(float(count), annotations)


def alert_sources_register() -> None:
    register_source(
        "tickets.critical_beta_bugs",
        _critical_beta_bugs,
        description="Critical bugs filed by beta users in the window (annotated with their references and link).",
    )
    register_source(
        "tickets.widget_tickets_unfiled",
        _widget_tickets_unfiled,
        description="Widget tickets accepted longer than the window ago and not filed yet, plus failed ones.",
    )
