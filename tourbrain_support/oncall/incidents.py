"""Incidents: open, post updates (each to Slack `status`; public ones on /status/), resolve with a summary."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from tourbrain_support.api import ApplicationError
from tourbrain_support.notifications.builders import slack_enabled
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import OutboxItem, outbox_enqueue_many
from tourbrain_support.oncall.models import Component, Incident, IncidentUpdate, Page
from tourbrain_support.recorders import record_action

SLACK_STATUS = "status"
KIND_INCIDENT_UPDATE = "incident.update"

logger = logging.getLogger(__name__)

# What the apps do when an incident resolves (the core imports no app): `fn(incident) -> int`, called inside the
# resolving transaction so what it writes to the outbox commits with the resolve, exactly once.
_resolved_hooks: dict[str, Callable[[Incident], int]] = {}


def register_incident_resolved(name: str, fn: Callable[[Incident], int]) -> None:
    """Call `fn(incident)` when an incident resolves (registering a name again replaces it)."""
    _resolved_hooks[name] = fn


def _run_resolved_hooks(incident: Incident) -> None:
    for name, hook in _resolved_hooks.items():
        try:
            with transaction.atomic():  # a savepoint: a failing hook undoes only its own rows, never the resolve
                hook(incident)
        except Exception:
            logger.exception("incident resolved hook failed", extra={"hook": name, "incident": incident.pk})


def _slack_update(incident: Incident, update: IncidentUpdate) -> None:
    if not slack_enabled(SLACK_STATUS):
        return
    visibility = "public" if update.is_public else "internal"
    components = ", ".join(component.name for component in incident.components.all()) or "no component"
    outbox_enqueue_many(
        [
            OutboxItem(
                kind=KIND_INCIDENT_UPDATE,
                channel=OutboxMessage.Channel.SLACK,
                recipient=SLACK_STATUS,
                subject=f"[{incident.get_severity_display()}] {incident.title}: {update.get_status_display()}",
                body=(
                    f"{update.message}\nComponents: {components} ({visibility} update)\n"
                    f"{settings.SITE_URL}{reverse('oncall:incident_detail', args=[incident.pk])}"
                ),
                idempotency_key=f"incident-update:{update.pk}:slack",
                payload={"incident_id": incident.pk, "update_id": update.pk},
            )
        ]
    )


def _add_update(*, incident: Incident, status: str, message: str, is_public: bool, actor) -> IncidentUpdate:
    if not message.strip():
        raise ApplicationError("An update needs a message.", fields={"message": ["This field is required."]})
    update = IncidentUpdate.objects.create(
        incident=incident,
        status=status,
        message=message.strip(),
        is_public=is_public and incident.is_public,
        author=actor if getattr(actor, "pk", None) else None,
    )
    _slack_update(incident, update)
    return update


@transaction.atomic
def incident_open(
    *,
    title: str,
    severity: str,
    message: str,
    components: Iterable[Component] = (),
    is_public: bool = True,
    actor=None,
    page_key: str = "",
) -> Incident:
    """Open an incident (by hand, or from a firing alert's page) with its first update."""
    if severity not in Incident.Severity.values:
        raise ApplicationError("Unknown severity.", fields={"severity": [f"One of {Incident.Severity.values}."]})
    incident = Incident.objects.create(
        title=title.strip()[:200],
        severity=severity,
        is_public=is_public,
        page_key=page_key,
        opened_by=actor if getattr(actor, "pk", None) else None,
    )
    incident.components.set(list(components))
    _add_update(incident=incident, status=Incident.Status.INVESTIGATING, message=message, is_public=True, actor=actor)
    record_action(
        actor=actor,
        action="create",
        resource_type="incident",
        resource_id=incident.pk,
        changes={"title": incident.title, "severity": severity, "public": is_public},
    )
    return incident


@transaction.atomic
def incident_open_from_page(*, page: Page, components: Iterable[Component] = (), actor=None) -> Incident:
    """An incident for a page's alert (once per page key: the open one is returned)."""
    # One incident per alert, whichever rotation's page it is opened from.
    alert_key = page.alert_key or page.key
    existing = Incident.objects.filter(page_key=alert_key).exclude(status=Incident.Status.RESOLVED).first()
    if existing:
        return existing
    severity = Incident.Severity.CRITICAL if page.severity == "critical" else Incident.Severity.MAJOR
    return incident_open(
        title=page.title,
        severity=severity,
        message=f"We are investigating: {page.title}.",
        components=components,
        is_public=False,
        actor=actor,
        page_key=alert_key,
    )


@transaction.atomic
def incident_update(*, incident: Incident, status: str, message: str, is_public: bool = True, actor=None) -> Incident:
    """Post an update; the status `resolved` closes the incident and writes its summary."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.status == Incident.Status.RESOLVED:
        raise ApplicationError("This incident is resolved.", code="incident_resolved", status=409)
    if status not in Incident.Status.values:
        raise ApplicationError("Unknown status.", fields={"status": [f"One of {Incident.Status.values}."]})
    _add_update(incident=incident, status=status, message=message, is_public=is_public, actor=actor)
    incident.status = status
    fields = ["status"]
    if status == Incident.Status.RESOLVED:
        incident.resolved_at = timezone.now()
        incident.summary = incident_summary(incident)
        fields += ["resolved_at", "summary"]
    incident.save(update_fields=fields)
    if status == Incident.Status.RESOLVED:
        _run_resolved_hooks(incident)
    record_action(
        actor=actor,
        action="update",
        resource_type="incident",
        resource_id=incident.pk,
        changes={"status": status, "public": is_public},
    )
    return incident


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min"]
    return " ".join(part for part in parts if part)


def incident_summary(incident: Incident) -> str:
    """The post-incident summary: what, how long, which components and alert, and the timeline."""
    ended = incident.resolved_at or timezone.now()
    components = ", ".join(component.name for component in incident.components.all()) or "none recorded"
    lines = [
        f"Post-incident summary: {incident.title}",
        f"Severity: {incident.get_severity_display()}",
        f"Components: {components}",
        f"Opened: {incident.opened_at:%Y-%m-%d %H:%M} UTC; resolved: {ended:%Y-%m-%d %H:%M} UTC",
        f"Duration: {_duration(ended - incident.opened_at)}",
    ]
    if incident.page_key:
        page = Page.objects.filter(Q(key=incident.page_key) | Q(alert_key=incident.page_key)).order_by("pk").first()
        if page:
            acknowledged = (
                f", acknowledged after {_duration(page.acknowledged_at - page.created_at)}"
                if page.acknowledged_at
                else ""
            )
            lines.append(f"Alert: {page.title} (key {page.key}{acknowledged})")
    lines += ["", "Timeline:"]
    for update in incident.updates.select_related("author").order_by("created_at", "pk"):
        who = f" ({update.author})" if update.author else ""
        visibility = "" if update.is_public else " [internal]"
        lines.append(
            f"- {update.created_at:%Y-%m-%d %H:%M} {update.get_status_display()}{who}{visibility}: {update.message}"
        )
    return "\n".join(lines)
