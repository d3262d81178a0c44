"""Reads of the activity log for the review pages, exports, security metrics and GDPR access exports.

The review list pages by keyset on the primary key (newest first): each page is one indexed range
scan of `limit + 1` rows, whatever the table size; there is never a COUNT(*) over the filtered set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from audit.models import AuditCheckpoint, AuditEvent, AuditPersonalData, AuditSubject, BackupRun


@dataclass(frozen=True)
class EventFilters:
    actor_id: int | None = None
    organization_id: int | None = None
    action: str = ""
    resource_type: str = ""
    resource_id: str = ""
    success: bool | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_dict(self) -> dict:
        data = {
            "actor": self.actor_id,
            "organization": self.organization_id,
            "action": self.action,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "success": self.success,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        return {key: value for key, value in data.items() if value not in (None, "")}


def audit_event_queryset(filters: EventFilters) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if filters.actor_id is not None:
        events = events.filter(actor_id=filters.actor_id)
    if filters.organization_id is not None:
        events = events.filter(organization_id=filters.organization_id)
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.resource_type:
        events = events.filter(resource_type=filters.resource_type)
    if filters.resource_id:
        events = events.filter(resource_id=filters.resource_id)
    if filters.success is not None:
        events = events.filter(success=filters.success)
    if filters.since is not None:
        events = events.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(occurred_at__lt=filters.until)
    return events


@dataclass
class EventPage:
    events: list[AuditEvent]
    next_before: int | None  # older page: ?before=<id>
    previous_after: int | None  # newer page: ?after=<id>


def _attach_actors_and_organizations(events: list[AuditEvent]) -> None:
    """Two bulk lookups instead of joins: a join would turn the filter on organization or actor into an
    INNER JOIN (rows whose user or organization is gone would vanish, and the planner loses the index)."""
    from django.contrib.auth import get_user_model

    from tourbrain_support.models import Organization

    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    org_ids = {e.organization_id for e in events if e.organization_id is not None}
    actors = get_user_model().objects.only("id", "email", "name").in_bulk(actor_ids) if actor_ids else {}
    orgs = Organization.objects.only("id", "name").in_bulk(org_ids) if org_ids else {}
    for event in events:
        # Cached as None when the row is gone (audit rows outlive what they point at).
        AuditEvent.actor.field.set_cached_value(event, actors.get(event.actor_id))
        AuditEvent.organization.field.set_cached_value(event, orgs.get(event.organization_id))


def _cursor_condition(filters: EventFilters, cursor_id: int, older: bool) -> Q:
    """Keyset condition relative to the row `cursor_id` in the page's order."""
    if filters.since is None and filters.until is None:
        return Q(id__lt=cursor_id) if older else Q(id__gt=cursor_id)
    # Time-ranged pages are ordered by (occurred_at, id): the occurred_at index serves the range.
    at = AuditEvent.objects.filter(pk=cursor_id).values_list("occurred_at", flat=True).first()
    if at is None:
        return Q(pk__in=[])
    if older:
        return Q(occurred_at__lt=at) | Q(occurred_at=at, id__lt=cursor_id)
    return Q(occurred_at__gt=at) | Q(occurred_at=at, id__gt=cursor_id)


def audit_event_page(
    filters: EventFilters, *, before: int | None = None, after: int | None = None, limit: int = 50
) -> EventPage:
    """One page, newest first. `before`: the rows after this one (older); `after`: the rows before it
    (newer). Without a time range the order is the id; with one, (occurred_at, id)."""
    events = audit_event_queryset(filters)
    timed = filters.since is not None or filters.until is not None
    newest_first = ["-occurred_at", "-id"] if timed else ["-id"]
    oldest_first = ["occurred_at", "id"] if timed else ["id"]
    if after is not None:
        rows = list(events.filter(_cursor_condition(filters, after, older=False)).order_by(*oldest_first)[: limit + 1])
        has_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        _attach_actors_and_organizations(rows)
        return EventPage(
            events=rows,
            next_before=rows[-1].pk if rows else None,  # we came from an older page
            previous_after=rows[0].pk if has_newer else None,
        )
    if before is not None:
        events = events.filter(_cursor_condition(filters, before, older=True))
    rows = list(events.order_by(*newest_first)[: limit + 1])
    has_older = len(rows) > limit
    rows = rows[:limit]
    _attach_actors_and_organizations(rows)
    return EventPage(
        events=rows,
        next_before=rows[-1].pk if has_older else None,
        previous_after=rows[0].pk if rows and before is not None else None,
    )


def audit_event_detail(event_id: int) -> tuple[AuditEvent, list[AuditPersonalData], AuditCheckpoint | None]:
    event = AuditEvent.objects.select_related("actor", "organization").get(pk=event_id)
    personal = list(AuditPersonalData.objects.filter(event_id=event.pk).order_by("id"))
    checkpoint = (
        AuditCheckpoint.objects.filter(
            stream=AuditCheckpoint.Stream.EVENTS, first_id__lte=event.pk, last_id__gte=event.pk
        )
        .only("id", "sequence", "first_id", "last_id", "sealed_at", "merkle_root", "key_id")
        .first()
    )
    return event, personal, checkpoint


def audit_event_iter(filters: EventFilters, *, chunk: int = 2000) -> Iterator[AuditEvent]:
    """Every matching event, newest first, fetched in keyset chunks (constant memory for big exports)."""
    timed = filters.since is not None or filters.until is not None
    events = audit_event_queryset(filters).order_by(*(["-occurred_at", "-id"] if timed else ["-id"]))
    last = None
    while True:
        page = events
        if last is not None:
            page = events.filter(
                (Q(occurred_at__lt=last.occurred_at) | Q(occurred_at=last.occurred_at, id__lt=last.pk))
                if timed
                else Q(id__lt=last.pk)
            )
        rows = list(page[:chunk])
        _attach_actors_and_organizations(rows)
        yield from rows
        if len(rows) < chunk:
            return
        last = rows[-1]


def audit_action_counts(*, window_start: datetime, window_end: datetime, actions: tuple[str, ...]) -> dict[str, int]:
    rows = (
        AuditEvent.objects.filter(occurred_at__gte=window_start, occurred_at__lt=window_end, action__in=actions)
        .values_list("action")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)


def audit_exports_per_actor(*, window_start: datetime, window_end: datetime, baseline_start: datetime) -> list[dict]:
    """Per actor with an export in the window: exports in the window and in [baseline_start, window_start)."""
    exports = AuditEvent.objects.filter(
        action=AuditEvent.Action.EXPORT, occurred_at__gte=baseline_start, occurred_at__lt=window_end
    )
    active = exports.filter(occurred_at__gte=window_start).values("actor_id")
    rows = (
        exports.filter(actor_id__in=active)
        .values("actor_id", "actor__email")
        .annotate(
            in_window=Count("id", filter=Q(occurred_at__gte=window_start)),
            baseline=Count("id", filter=Q(occurred_at__lt=window_start)),
        )
        .order_by()
    )
    return [
        {
            "actor_id": r["actor_id"],
            "actor": r["actor__email"] or "",
            "in_window": r["in_window"],
            "baseline": r["baseline"],
        }
        for r in rows
    ]


# --- GDPR ---------------------------------------------------------------------------------------


def _subject_id(user):
    return AuditSubject.objects.filter(user=user).values_list("subject_id", flat=True).first()


def audit_subject_export(*, user) -> dict:
    """The person's audit trail for an access export: events by or about them (the activity log's own
    selector) with the personal data held about them in each."""
    from audit.selectors_events import audit_events_for_user

    subject_id = _subject_id(user)
    events = [
        {
            "id": e.pk,
            "occurred_at": e.occurred_at,
            "action": e.action,
            "resource_type": e.resource_type,
            "resource_id": e.resource_id,
            "success": e.success,
            "changes": e.changes,
            "as_actor": e.actor_id == user.pk,
            "personal_data": [row.data for row in e.personal_data_of_subject],
        }
        for e in audit_events_for_user(user)
    ]
    return {"available": True, "subject_id": str(subject_id) if subject_id else None, "events": events}


def audit_subject_identifiers(*, user) -> list[str]:
    """Strings held for the person in the audit log's personal-data store (IPs, user agents, emails)."""
    subject_id = _subject_id(user)
    if subject_id is None:
        return []
    found: set[str] = set()
    for data in AuditPersonalData.objects.filter(subject_id=subject_id).values_list("data", flat=True):
        for value in (data or {}).values():
            if not isinstance(value, str):
                continue
            try:
                ipaddress.ip_address(value)
            except ValueError:
                continue
            found.add(value)
    return sorted(found)


def backup_outcomes(*, since: datetime, until: datetime) -> tuple[int, int]:
    """(backups, verifications and restore drills finished in [since, until), those that failed): the KPI
    scorecard's data-loss figure (a failed run is a backup that cannot be relied on)."""
    counts = BackupRun.objects.filter(finished_at__gte=since, finished_at__lt=until).aggregate(
        finished=Count("id"), failed=Count("id", filter=Q(status=BackupRun.Status.FAILED))
    )
    return counts["finished"], counts["failed"]
