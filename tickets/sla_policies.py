"""Which SLA targets apply to a ticket, and the bookkeeping of its three clocks.

A clock (first response, next response, resolution) runs while the ticket is new/open, pauses
while pending/on hold, and stops when its event happens (first staff reply; a staff reply after a
customer message; solved). Each running clock has a stored due time. While paused, each clock's
used business minutes are stored in `<clock>_elapsed_minutes`; resuming recomputes the due time as
`add_business_minutes(now, target - elapsed)`, so paused time never counts.

`next_due_at` is the earliest due time of the running clocks and `sla_warning_at` the earliest
instant at which a running clock has used `SLA_WARNING_SHARE` of its target; both are NULL while
paused or stopped. The sweep compares only those stored instants with now.

A clock already past its due time keeps that due time on pause/resume and priority changes: a
breach is never moved into the future.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection

from tickets import sla, sla_defaults
from tickets.batch_scope import batch_cached, batch_known
from tickets.models import BusinessCalendarConfig, SLAPolicy, SLATarget, Ticket
from tourbrain_support.api import ApplicationError

CLOCKS = ("first_response", "next_response", "resolution")


@dataclass(frozen=True)
class Targets:
    first_response: int
    next_response: int
    resolution: int

    def of(self, clock: str) -> int:
        return getattr(self, clock)


# The active version is read on every ticket creation. Its identity and its calendar's content are read in one
# raw statement (no ORM compilation); the policy with its calendar and all its target cells is loaded only when
# that fingerprint changes, and kept per process. Published versions are immutable (a change publishes a new
# version), so a publish or a calendar edit, even through QuerySet.update, takes effect on the next call.
_ACTIVE_FINGERPRINT_SQL = """
SELECT p.id, p.version, p.name, p.created_at, c.id, c.timezone, c.weekly_hours, c.holiday_country,
       c.holiday_subdivision, c.closed_dates, c.always_open, c.updated_at
FROM tickets_slapolicy p JOIN tickets_businesscalendarconfig c ON c.id = p.calendar_id
WHERE p.is_active
"""
_active_cache: dict[str, tuple[tuple, SLAPolicy]] = {}


def _active_fingerprint() -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_FINGERPRINT_SQL)
        row = cursor.fetchone()
    return None if row is None else (connection.alias, *row)


def active_policy() -> SLAPolicy:
    """The active version with its calendar and its target cells (`targets_for` then needs no query).

    One raw statement per call while the version and its calendar are unchanged (none within a
    `batch_scope`); shared by the process's callers, so treat it as read-only.
    """
    return batch_cached("sla_active_policy", _active_policy)


def _active_policy() -> SLAPolicy:
    fingerprint = _active_fingerprint()
    if fingerprint is None:
        # An emptied database (flush) gets the defaults back; with versions present, none active is an error.
        sla_defaults.ensure_defaults()
        fingerprint = _active_fingerprint()
    if fingerprint is None:
        raise ApplicationError("No active SLA policy is configured.", code="no_sla_policy")
    cached = _active_cache.get(connection.alias)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    policy = SLAPolicy.objects.select_related("calendar").get(pk=fingerprint[1])
    policy._sla_target_cells = _target_cells(policy.pk)
    _active_cache[connection.alias] = (fingerprint, policy)
    return policy


def _target_cells(policy_id: int) -> dict[tuple[str, str], Targets]:
    return {
        (row.tier, row.priority): Targets(row.first_response_minutes, row.next_response_minutes, row.resolution_minutes)
        for row in SLATarget.objects.filter(policy_id=policy_id)
    }


def targets_for(policy: SLAPolicy | int, *, tier: str, priority: str) -> Targets:
    cells = getattr(policy, "_sla_target_cells", None)
    if cells is None and batch_known("sla_batch", False):
        # A bulk intake (many replies on tickets of the same few versions): each version's cells read once.
        policy_id = policy if isinstance(policy, int) else policy.pk
        cells = batch_cached(("sla_cells", policy_id), lambda: _target_cells(policy_id))
    if cells is not None:
        if (tier, priority) in cells:
            return cells[(tier, priority)]
        row = None
    else:
        policy_id = policy if isinstance(policy, int) else policy.pk
        row = SLATarget.objects.filter(policy_id=policy_id, tier=tier, priority=priority).first()
    if row is None:
        raise ApplicationError(
            f"SLA policy version has no target for tier '{tier}' and priority '{priority}'.", code="no_sla_target"
        )
    return Targets(row.first_response_minutes, row.next_response_minutes, row.resolution_minutes)


_calendar_cache: dict[tuple, sla.BusinessCalendar] = {}


def calendar_of(config: BusinessCalendarConfig) -> sla.BusinessCalendar:
    """The calendar value of a stored config, cached by its content so edits take effect at once."""
    key = (
        config.timezone,
        json.dumps(config.weekly_hours),
        config.holiday_country,
        config.holiday_subdivision,
        json.dumps(config.closed_dates),
        config.always_open,
    )
    calendar = _calendar_cache.get(key)
    if calendar is None:
        if len(_calendar_cache) > 256:
            _calendar_cache.clear()
        calendar = _calendar_cache[key] = config.as_calendar()
    return calendar


def ticket_calendar(ticket: Ticket) -> sla.BusinessCalendar:
    """The business calendar of the ticket's own policy version (24/7 when it has none)."""
    if ticket.sla_policy_id is None:
        return sla.calendar_24x7()
    return calendar_of(ticket.sla_policy.calendar)


def prefetch_targets(tickets: Iterable[Ticket]) -> None:
    """Load every target of the tickets' policy versions in one query into `ticket_targets`' memo."""
    tickets = [ticket for ticket in tickets if ticket.sla_policy_id is not None]
    rows = SLATarget.objects.filter(policy_id__in={ticket.sla_policy_id for ticket in tickets})
    by_key = {
        (row.policy_id, row.tier, row.priority): Targets(
            row.first_response_minutes, row.next_response_minutes, row.resolution_minutes
        )
        for row in rows
    }
    for ticket in tickets:
        memo = ticket.__dict__.setdefault("_sla_targets", {})
        memo.update({key: value for key, value in by_key.items() if key[0] == ticket.sla_policy_id})


def ticket_targets(ticket: Ticket, *, priority: str | None = None) -> Targets | None:
    """Targets of the ticket's own policy version, memoised on the instance (one query per cell)."""
    if ticket.sla_policy_id is None:
        return None
    key = (ticket.sla_policy_id, ticket.tier, priority or ticket.priority)
    memo = ticket.__dict__.setdefault("_sla_targets", {})
    if key not in memo:
        memo[key] = targets_for(key[0], tier=key[1], priority=key[2])
    return memo[key]


def warning_share() -> float:
    return float(settings.SLA_WARNING_SHARE)


def _warning_instant(calendar, *, now: datetime, due: datetime, target: int) -> datetime:
    """When the clock due at `due` (target `target`) will have used the warning share."""
    remaining_at_warning = target - math.ceil(target * warning_share())
    remaining = sla.remaining_business_minutes(calendar, now, due)
    if remaining <= remaining_at_warning:
        return now
    return sla.add_business_minutes(calendar, now, remaining - remaining_at_warning)


def _running_clocks(ticket: Ticket) -> dict[str, datetime]:
    """Due times of the clocks that are ticking (status aside)."""
    clocks = {}
    if ticket.first_responded_at is None and ticket.first_response_due_at is not None:
        clocks["first_response"] = ticket.first_response_due_at
    if ticket.next_response_due_at is not None:
        clocks["next_response"] = ticket.next_response_due_at
    if ticket.solved_at is None and ticket.resolution_due_at is not None:
        clocks["resolution"] = ticket.resolution_due_at
    return clocks


def refresh_next_due(ticket: Ticket, *, now: datetime) -> None:
    """Recompute next_due_at, sla_warning_at and sla_state from the stored due times."""
    if ticket.status not in ("new", "open"):
        ticket.next_due_at = None
        ticket.sla_warning_at = None
        if ticket.status in ("solved", "closed"):
            ticket.sla_state = Ticket.SLAState.OK
        return
    clocks = _running_clocks(ticket)
    if not clocks:
        ticket.next_due_at = ticket.sla_warning_at = None
        ticket.sla_state = Ticket.SLAState.OK
        return
    calendar = ticket_calendar(ticket)
    targets = ticket_targets(ticket)
    ticket.next_due_at = min(clocks.values())
    ticket.sla_warning_at = min(
        _warning_instant(calendar, now=now, due=due, target=targets.of(clock)) for clock, due in clocks.items()
    )
    # Only the sweep moves a ticket into warning/breached (it notifies and escalates); here a state
    # can only relax when the clock that caused it stopped or moved.
    if ticket.sla_state == Ticket.SLAState.BREACHED:
        if ticket.next_due_at > now:
            ticket.sla_state = Ticket.SLAState.OK
    elif ticket.sla_warning_at > now:
        ticket.sla_state = Ticket.SLAState.OK


def start_clocks(ticket: Ticket, *, policy: SLAPolicy, now: datetime) -> None:
    """A new ticket: first-response and resolution clocks start at created_at."""
    ticket.sla_policy = policy
    targets = targets_for(policy, tier=ticket.tier, priority=ticket.priority)
    # Seed the instance memo of `ticket_targets`: later reads of these targets cost no query.
    ticket.__dict__.setdefault("_sla_targets", {})[(policy.pk, ticket.tier, ticket.priority)] = targets
    calendar = calendar_of(policy.calendar)
    start = ticket.created_at
    ticket.first_response_due_at = sla.add_business_minutes(calendar, start, targets.first_response)
    ticket.resolution_due_at = sla.add_business_minutes(calendar, start, targets.resolution)
    ticket.next_response_due_at = None
    ticket.sla_state = Ticket.SLAState.OK
    refresh_next_due(ticket, now=now)


def _elapsed(calendar, *, now: datetime, due: datetime, target: int) -> int:
    return target - sla.remaining_business_minutes(calendar, now, due)


def pause_clocks(ticket: Ticket, *, now: datetime) -> None:
    """Store what each running clock has used; the due times stay for display but stop counting."""
    if ticket.paused_at is not None:
        return
    calendar = ticket_calendar(ticket)
    targets = ticket_targets(ticket)
    if targets is not None:
        for clock, due in _running_clocks(ticket).items():
            setattr(ticket, f"{clock}_elapsed_minutes", _elapsed(calendar, now=now, due=due, target=targets.of(clock)))
    ticket.paused_at = now


def resume_clocks(ticket: Ticket, *, now: datetime) -> None:
    """Restart the clocks where they stopped: due = now + (target - elapsed) business minutes."""
    if ticket.paused_at is None:
        refresh_next_due(ticket, now=now)
        return
    calendar = ticket_calendar(ticket)
    targets = ticket_targets(ticket)
    if targets is not None:
        for clock in _running_clocks(ticket):
            remaining = targets.of(clock) - getattr(ticket, f"{clock}_elapsed_minutes")
            if remaining > 0:
                setattr(ticket, f"{clock}_due_at", sla.add_business_minutes(calendar, now, remaining))
            # remaining <= 0: already breached, the due time stays in the past.
            setattr(ticket, f"{clock}_elapsed_minutes", 0)
    ticket.paused_at = None
    refresh_next_due(ticket, now=now)


def stop_resolution(ticket: Ticket, *, now: datetime) -> None:
    """Solved: every clock pauses (a reopen continues them); the next-response clock is dropped."""
    pause_clocks(ticket, now=now)
    ticket.next_response_due_at = None
    ticket.next_response_elapsed_minutes = 0
    ticket.solved_at = now


def reopen_resolution(ticket: Ticket, *, now: datetime) -> None:
    """Reopened: the clocks continue from where they stopped when it was solved."""
    ticket.solved_at = None
    resume_clocks(ticket, now=now)


def start_next_response(ticket: Ticket, *, now: datetime) -> None:
    """A customer wrote after the first staff reply: the next-response clock starts (if not already)."""
    if ticket.first_responded_at is None or ticket.next_response_due_at is not None:
        return
    targets = ticket_targets(ticket)
    if targets is None:
        return
    ticket.next_response_due_at = sla.add_business_minutes(ticket_calendar(ticket), now, targets.next_response)
    ticket.next_response_elapsed_minutes = 0


def retarget(ticket: Ticket, *, new_priority: str, now: datetime) -> None:
    """Priority changed: running clocks keep the minutes they used and get the new targets.

    A clock already past due keeps its due time (a breach is never undone by a priority change); a clock
    whose new target is already used up becomes due now.
    """
    old = ticket_targets(ticket)
    ticket.priority = new_priority
    new = ticket_targets(ticket)
    if old is None or new is None:
        return
    calendar = ticket_calendar(ticket)
    paused = ticket.paused_at is not None
    for clock, due in _running_clocks(ticket).items():
        if paused:
            continue  # elapsed is stored; resume applies the new target
        if due <= now:
            continue
        elapsed = _elapsed(calendar, now=now, due=due, target=old.of(clock))
        remaining = new.of(clock) - elapsed
        setattr(ticket, f"{clock}_due_at", sla.add_business_minutes(calendar, now, remaining) if remaining > 0 else now)
    refresh_next_due(ticket, now=now)
