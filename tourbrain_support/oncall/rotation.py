"""Who is on call at an instant: the weekly rotation in its local time zone, then overrides on top.

Hand-overs happen at a wall-clock time (e.g. Monday 09:00 Europe/London), so weeks are counted on local
wall-clock time: a DST change moves the UTC instant of the hand-over, never its local hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch

from tourbrain_support.oncall.models import Override, Responder, Rotation, RotationMember

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Shift:
    """The people on call between two hand-overs (overrides applied at `at`)."""

    primary: Responder | None
    secondary: Responder | None
    starts_at: datetime
    ends_at: datetime


def rotation_zone(rotation: Rotation) -> ZoneInfo:
    return ZoneInfo(rotation.time_zone or settings.BUSINESS_TIMEZONE)


def _anchor(rotation: Rotation) -> datetime:
    """Local wall-clock time of week 0's hand-over: the first hand-over weekday on or after `starts_on`."""
    starts_on: date = rotation.starts_on
    first = starts_on + timedelta(days=(rotation.handover_weekday - starts_on.weekday()) % 7)
    return datetime.combine(first, rotation.handover_time)


def _aware(local_wall: datetime, zone: ZoneInfo) -> datetime:
    # fold=0: an ambiguous wall time (DST ends) is its first occurrence; a missing one is shifted forward.
    return local_wall.replace(tzinfo=zone)


def week_index(rotation: Rotation, at: datetime) -> int:
    """Which week of the rotation `at` falls in (negative before the anchor)."""
    zone = rotation_zone(rotation)
    local_wall = at.astimezone(zone).replace(tzinfo=None)
    return (local_wall - _anchor(rotation)) // WEEK


def shift_bounds(rotation: Rotation, week: int) -> tuple[datetime, datetime]:
    zone = rotation_zone(rotation)
    start = _anchor(rotation) + week * WEEK
    return _aware(start, zone), _aware(start + WEEK, zone)


def active_rotations() -> list[Rotation]:
    """The active rotations with their members (responder and user) loaded, oldest first; 2 queries."""
    members = RotationMember.objects.select_related("responder__user").filter(responder__is_active=True)
    return list(
        Rotation.objects.filter(is_active=True)
        .prefetch_related(Prefetch("members", queryset=members, to_attr="ordered_members"))
        .order_by("pk")
    )


def active_rotation() -> Rotation | None:
    """The first active rotation (the one /oncall/ shows) with its members loaded; 2 queries."""
    rotations = active_rotations()
    return rotations[0] if rotations else None


def rotations_for_labels(rotations: list[Rotation], labels: dict[str, str]) -> list[Rotation]:
    """The rotations an alert's labels select (each rotation's `match_labels` all held by them); none selected:
    every one of them, so an alert never goes unpaged for want of a route."""
    selected = [
        rotation
        for rotation in rotations
        if rotation.match_labels
        and all(str(labels.get(name, "")) == str(value) for name, value in rotation.match_labels.items())
    ]
    return selected or list(rotations)


def scheduled_pair(rotation: Rotation, week: int) -> tuple[Responder | None, Responder | None]:
    """The rotation's own primary and secondary of a week (no overrides)."""
    members = [member.responder for member in rotation.ordered_members]
    if not members:
        return None, None
    primary = members[week % len(members)]
    secondary = members[(week + 1) % len(members)] if len(members) > 1 else None
    return primary, secondary


def overrides_between(rotation: Rotation, start: datetime, end: datetime) -> list[Override]:
    """Overrides touching [start, end], newest first; 1 query."""
    return list(
        Override.objects.filter(rotation=rotation, starts_at__lt=end, ends_at__gt=start)
        .select_related("responder__user")
        .order_by("-created_at", "-pk")
    )


def shift_at(rotation: Rotation, at: datetime, overrides: list[Override]) -> Shift:
    """Primary and secondary at `at`: the week's pair, replaced by the newest override covering `at`."""
    week = week_index(rotation, at)
    primary, secondary = scheduled_pair(rotation, week)
    covering = [override for override in overrides if override.starts_at <= at < override.ends_at]
    for override in reversed(covering):  # oldest first, so the newest is applied last and wins
        if override.role == Override.Role.PRIMARY:
            primary = override.responder
        else:
            secondary = override.responder
    if secondary is not None and primary is not None and secondary.pk == primary.pk:
        # Someone covering the primary while being the week's secondary: the week's primary backs them up.
        secondary = scheduled_pair(rotation, week)[0] if scheduled_pair(rotation, week)[0] != primary else None
    start, end = shift_bounds(rotation, week)
    return Shift(primary=primary, secondary=secondary, starts_at=start, ends_at=end)
