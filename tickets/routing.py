"""Routing: which team gets a new ticket, whether it joins the priority queue, and round-robin assignment.

Rules are rows a lead edits (`RoutingRule`). The first active matching rule (by order) that names a
team decides the team (support when none does); any active matching rule flagged `priority_queue`
puts the ticket in the priority queue. Empty match fields match anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from tickets.models import RoutingRule, Team, Ticket
from tourbrain_support.models import User

DEFAULT_TEAM = Ticket.Team.SUPPORT


@dataclass(frozen=True)
class Route:
    team: str
    priority_queue: bool


def _matches(rule: RoutingRule, *, type: str, priority: str, tier: str) -> bool:
    return (
        (not rule.type or rule.type == type)
        and (not rule.priority or rule.priority == priority)
        and (not rule.tier or rule.tier == tier)
    )


def route(*, type: str, priority: str, tier: str) -> Route:
    """Team and priority-queue flag for a ticket with these attributes (one query)."""
    team = ""
    priority_queue = False
    for rule in RoutingRule.objects.filter(is_active=True).order_by("order", "id"):
        if not _matches(rule, type=type, priority=priority, tier=tier):
            continue
        if rule.team and not team:
            team = rule.team
        priority_queue = priority_queue or rule.priority_queue
    return Route(team=team or DEFAULT_TEAM, priority_queue=priority_queue)


def next_round_robin_assignee(*, team_slug: str) -> User | None:
    """The next available, active member after the last one assigned, when the team assigns in turn.

    Locks the team row so two tickets created at once do not go to the same member.
    """
    team = Team.objects.select_for_update().filter(slug=team_slug, round_robin=True).first()
    if team is None:
        return None
    members = list(team.members.filter(is_active=True, is_available=True).order_by("id").only("id", "email", "name"))
    if not members:
        return None
    last_id = team.last_assigned_id or 0
    chosen = next((member for member in members if member.id > last_id), members[0])
    Team.objects.filter(pk=team.pk).update(last_assigned=chosen)
    return chosen
