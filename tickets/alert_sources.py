"""The tickets app's values for alert rules (registered at start-up; the core never imports this app)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse

from tickets.selectors import critical_beta_bugs
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


def alert_sources_register() -> None:
    register_source(
        "tickets.critical_beta_bugs",
        _critical_beta_bugs,
        description="Critical bugs filed by beta users in the window (annotated with their references and link).",
    )
