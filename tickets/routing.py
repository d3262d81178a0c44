"""Routing: which team gets a new ticket, whether it joins the priority queue, and round-robin assignment.

Rules are rows a lead edits (`RoutingRule`). The first active matching rule (by order) that names a
team decides the team (support when none does); any active matching rule flagged `priority_queue`
puts the ticket in the priority queue. Empty match fields match anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from tickets.batch_scope import batch_cached, batch_known, batch_prime
from tickets.models import Team, Ticket
from tourbrain_support.models import User

DEFAULT_TEAM = Ticket.Team.SUPPORT


@dataclass(frozen=True)
class Route:
    team: str
    priority_queue: bool


# Read on every ticket creation, so in one raw statement (ORM compilation would cost more than the query).
_ACTIVE_RULES_SQL = """
SELECT type, priority, tier, team, priority_queue FROM tickets_routingrule WHERE is_active ORDER BY "order", id
"""


def route(*, type: str, priority: str, tier: str) -> Route:
    """Team and priority-queue flag for a ticket with these attributes (one query)."""
    team = ""
    priority_queue = False
    rules = batch_cached("routing_rules", _active_rules)
    for rule_type, rule_priority, rule_tier, rule_team, rule_priority_queue in rules:
        # Empty match fields match anything.
        if (rule_type and rule_type != type) or (rule_priority and rule_priority != priority):
            continue
        if rule_tier and rule_tier != tier:
            continue
        if rule_team and not team:
            team = rule_team
        priority_queue = priority_queue or bool(rule_priority_queue)
    return Route(team=team or DEFAULT_TEAM, priority_queue=priority_queue)


def _active_rules() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_RULES_SQL)
        return cursor.fetchall()


_ROUND_ROBIN_TEAM_SQL = """
SELECT id, last_assigned_id FROM tickets_team WHERE slug = %s AND round_robin ORDER BY id LIMIT 1
"""


def next_round_robin_assignee(*, team_slug: str) -> User | None:
    """The next available, active member after the last one assigned, when the team assigns in turn.

    Locks the team row so two tickets created at once do not go to the same member.
    """
    # Raw, like the rules: most teams do not assign in turn, and this lookup runs for every new ticket.
    if batch_known(("not_round_robin", team_slug)):
        return None  # already looked up in this batch: the team does not assign in turn
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(_ROUND_ROBIN_TEAM_SQL + lock, [team_slug])
        team = cursor.fetchone()
    if team is None:
        batch_prime(("not_round_robin", team_slug), True)
        return None
    team_id, last_id = team
    members = list(
        User.objects.filter(support_teams=team_id, is_active=True, is_available=True)
        .order_by("id")
        .only("id", "email", "name")
    )
    if not members:
        return None
    chosen = next((member for member in members if member.id > (last_id or 0)), members[0])
    Team.objects.filter(pk=team_id).update(last_assigned=chosen)
    return chosen
