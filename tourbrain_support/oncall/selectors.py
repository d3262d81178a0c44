"""Reads for the on-call page, the pages, incidents and the public status page (constant query counts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from tourbrain_support.oncall.models import (
    Component,
    EscalationContact,
    Incident,
    IncidentUpdate,
    Override,
    Page,
    Responder,
)
from tourbrain_support.oncall.rotation import (
    Shift,
    active_rotation,
    active_rotations,
    overrides_between,
    shift_at,
    shift_bounds,
    week_index,
)

UPTIME_DAYS = 90
SEVERITY_ORDER = {Incident.Severity.MINOR: 1, Incident.Severity.MAJOR: 2, Incident.Severity.CRITICAL: 3}
# A component's state on the status page, from the worst open public incident touching it.
COMPONENT_STATE = {
    0: "Operational",
    1: "Degraded performance",
    2: "Partial outage",
    3: "Major outage",
}
# A component's probe, from its latest sample: down is a major outage, degraded is degraded performance.
PROBE_LEVEL = {"degraded": 1, "down": 3}
# A probe sample older than this says nothing about now (a silent probe is the alert rules' business).
PROBE_FRESH = timedelta(minutes=5)
# Minor incidents slow a component down; only major and critical ones count as downtime.
DOWNTIME_SEVERITIES = (Incident.Severity.MAJOR, Incident.Severity.CRITICAL)


def oncall_now(at: datetime | None = None, *, rotation=None) -> tuple[Responder | None, Responder | None]:
    """(primary, secondary) of `rotation` (default: the first active one) on call at `at` (default now);
    (None, None) without a rotation."""
    at = at or timezone.now()
    rotation = rotation or active_rotation()
    if rotation is None:
        return None, None
    shift = shift_at(rotation, at, overrides_between(rotation, at, at + timedelta(microseconds=1)))
    return shift.primary, shift.secondary


@dataclass
class Schedule:
    rotation_name: str = ""
    match_labels: dict = field(default_factory=dict)
    now: Shift | None = None
    next: Shift | None = None
    overrides: list = field(default_factory=list)
    members: list = field(default_factory=list)


def _schedule(rotation, at: datetime, overrides: list) -> Schedule:
    now_shift = shift_at(rotation, at, [])
    next_handover = now_shift.ends_at
    _next_start, next_end = shift_bounds(rotation, week_index(rotation, next_handover))
    overrides = [override for override in overrides if override.starts_at < next_end and override.ends_at > at]
    overrides.sort(key=lambda override: (override.created_at, override.pk), reverse=True)  # newest first
    return Schedule(
        rotation_name=rotation.name,
        match_labels=dict(rotation.match_labels or {}),
        now=shift_at(rotation, at, overrides),
        next=shift_at(rotation, next_handover, overrides),
        overrides=sorted(overrides, key=lambda override: override.starts_at),
        members=[member.responder for member in rotation.ordered_members],
    )


def oncall_schedules(at: datetime | None = None) -> list[Schedule]:
    """Each active rotation (oldest first): who is on call now and from its next hand-over, its match labels
    and the overrides still to come; 3 queries however many rotations."""
    at = at or timezone.now()
    rotations = active_rotations()
    if not rotations:
        return []
    # One query for every rotation's overrides up to the latest end of any rotation's next shift.
    horizon = max(
        shift_bounds(rotation, week_index(rotation, shift_at(rotation, at, []).ends_at))[1] for rotation in rotations
    )
    by_rotation: dict[int, list] = {rotation.pk: [] for rotation in rotations}
    for override in Override.objects.filter(
        rotation__in=rotations, starts_at__lt=horizon, ends_at__gt=at
    ).select_related("responder__user"):
        by_rotation[override.rotation_id].append(override)
    return [_schedule(rotation, at, by_rotation[rotation.pk]) for rotation in rotations]


def oncall_schedule(at: datetime | None = None) -> Schedule:
    """The first active rotation's schedule (see `oncall_schedules`); 3 queries."""
    schedules = oncall_schedules(at)
    return schedules[0] if schedules else Schedule()


def escalation_contacts() -> list[EscalationContact]:
    return list(EscalationContact.objects.filter(is_active=True))


def oncall_configured() -> tuple[bool, str]:
    """An active rotation with a primary and a secondary who can be reached, and an escalation contact."""
    primary, secondary = oncall_now()
    if primary is None or secondary is None:
        return False, "no active rotation with at least two active members"
    contacts = EscalationContact.objects.filter(is_active=True).count()
    if not contacts:
        return False, "no escalation contact"
    unreachable = [str(person) for person in (primary, secondary) if not person.user.email]
    if unreachable:
        return False, f"no email for {', '.join(unreachable)}"
    return True, f"primary {primary}, secondary {secondary}, {contacts} escalation contact(s)"


def page_list(*, open_only: bool = False, limit: int = 50) -> QuerySet[Page]:
    pages = Page.objects.select_related("acknowledged_by", "resolved_by")
    if open_only:
        pages = pages.exclude(status=Page.Status.RESOLVED)
    return pages[:limit]


def incident_list(*, open_only: bool = False, limit: int = 50) -> QuerySet[Incident]:
    incidents = Incident.objects.select_related("opened_by").prefetch_related("components")
    if open_only:
        incidents = incidents.exclude(status=Incident.Status.RESOLVED)
    return incidents[:limit]


def incident_detail(incident_id: int) -> Incident | None:
    updates = IncidentUpdate.objects.select_related("author")
    return (
        Incident.objects.select_related("opened_by")
        .prefetch_related("components", Prefetch("updates", queryset=updates))
        .filter(pk=incident_id)
        .first()
    )


def public_open_incidents() -> list[Incident]:
    """Open public incidents with their public updates, newest update first; 3 queries."""
    updates = IncidentUpdate.objects.filter(is_public=True).order_by("-created_at", "-pk")
    return list(
        Incident.objects.filter(is_public=True)
        .exclude(status=Incident.Status.RESOLVED)
        .prefetch_related("components", Prefetch("updates", queryset=updates, to_attr="public_updates"))
        .order_by("-opened_at")
    )


def status_banner() -> list[dict]:
    """Open public incidents as banner lines for customers (widget API and portal); 1 query."""
    return [
        {"id": pk, "title": title, "severity": severity, "status": status}
        for pk, title, severity, status in Incident.objects.filter(is_public=True)
        .exclude(status=Incident.Status.RESOLVED)
        .order_by("-opened_at")
        .values_list("pk", "title", "severity", "status")[:5]
    ]


@dataclass
class ComponentStatus:
    component: Component
    state: str
    level: int
    uptime_percent: float | None
    uptime_source: str


def _probe_samples_model():
    """The alerting app's ProbeSample when it is installed (uptime from probes), else None."""
    try:
        return apps.get_model("alerting", "ProbeSample")
    except LookupError:
        return None


def _uptime_from_incidents(components: list[Component], since: datetime, now: datetime) -> dict[int, float]:
    """Share of the window without a major/critical incident on each component; 1 query."""
    window = (now - since).total_seconds()
    down: dict[int, list[tuple[datetime, datetime]]] = {component.pk: [] for component in components}
    through = Incident.components.through
    rows = through.objects.filter(
        Q(incident__resolved_at__isnull=True) | Q(incident__resolved_at__gt=since),
        incident__severity__in=DOWNTIME_SEVERITIES,
        incident__opened_at__lt=now,
        component_id__in=list(down),
    ).values_list("component_id", "incident__opened_at", "incident__resolved_at")
    for component_id, opened_at, resolved_at in rows:
        down[component_id].append((max(opened_at, since), min(resolved_at or now, now)))
    uptime = {}
    for component_id, spans in down.items():
        lost, cursor = 0.0, since
        for start, end in sorted(spans):  # merge overlapping incidents so an hour is never lost twice
            start = max(start, cursor)
            if end > start:
                lost += (end - start).total_seconds()
                cursor = end
        uptime[component_id] = 100.0 * (1 - lost / window) if window else 100.0
    return uptime


def _uptime_from_samples(model, components: list[Component], since: datetime) -> dict[int, float]:
    """Share of healthy samples per probe over the window (a degraded sample counts as up); 1 grouped query."""
    names = {component.probe_name for component in components if component.probe_name}
    if not names:
        return {}
    counts = (
        model.objects.filter(probe__in=names, sampled_at__gte=since)
        .values("probe")
        .annotate(total=Count("pk"), down=Count("pk", filter=Q(status="down")))
    )
    by_name = {row["probe"]: 100.0 * (row["total"] - row["down"]) / row["total"] for row in counts if row["total"]}
    return {component.pk: by_name[component.probe_name] for component in components if component.probe_name in by_name}


def _probe_levels(model, components: list[Component], now: datetime) -> dict[int, int]:
    """Each component's level from its probe's latest fresh sample (0 when healthy); 1 query.

    So a service that stops answering shows on the page within a probe tick, before anyone opens an
    incident, and shows as operational again once its probe is healthy.
    """
    names = {component.probe_name for component in components if component.probe_name}
    if not names:
        return {}
    fresh = model.objects.filter(probe__in=names, sampled_at__gte=now - PROBE_FRESH, sampled_at__lte=now)
    latest = fresh.filter(
        sampled_at=Subquery(fresh.filter(probe=OuterRef("probe")).order_by("-sampled_at").values("sampled_at")[:1])
    ).values_list("probe", "status")
    by_name = {probe: PROBE_LEVEL.get(status, 0) for probe, status in latest}
    return {component.pk: by_name[component.probe_name] for component in components if component.probe_name in by_name}


def status_page(now: datetime | None = None) -> tuple[list[ComponentStatus], list[Incident]]:
    """Each component's state (the worst of its open public incidents and its probe) and 90-day uptime, and
    the open public incidents; at most 7 queries."""
    now = now or timezone.now()
    since = now - timedelta(days=UPTIME_DAYS)
    components = list(Component.objects.all())
    incidents = public_open_incidents()
    levels: dict[int, int] = {}
    for incident in incidents:
        for component in incident.components.all():
            levels[component.pk] = max(levels.get(component.pk, 0), SEVERITY_ORDER[incident.severity])
    from_incidents = _uptime_from_incidents(components, since, now)
    samples_model = _probe_samples_model()
    from_samples = _uptime_from_samples(samples_model, components, since) if samples_model else {}
    probe_levels = _probe_levels(samples_model, components, now) if samples_model else {}
    result = []
    for component in components:
        level = max(levels.get(component.pk, 0), probe_levels.get(component.pk, 0))
        if component.pk in from_samples:
            uptime, source = from_samples[component.pk], "probe samples"
        else:
            uptime, source = from_incidents.get(component.pk), "incident history"
        result.append(ComponentStatus(component, COMPONENT_STATE[level], level, uptime, source))
    return result, incidents
