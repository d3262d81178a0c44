"""Routing: default rules by type, the priority queue, lead-edited rules, round-robin assignment."""

import pytest

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.tickets.factories import TicketFactory
from tickets.models import RoutingRule, Team
from tickets.routing import route
from tourbrain_support.models import Organization
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("type", "team"),
    [("bug", "engineering"), ("billing", "billing"), ("feature_request", "product"), ("question", "support")],
)
def test_default_rules_route_by_type(type, team):
    assert route(type=type, priority="medium", tier="general").team == team
    assert TicketFactory(type=type).team == team


@pytest.mark.parametrize(
    ("tier", "priority", "expected"),
    [
        ("beta", "critical", True),
        ("enterprise", "critical", True),
        ("general", "critical", False),
        ("beta", "high", True),
        ("beta", "low", True),
        ("enterprise", "low", False),
        ("general", "high", False),
    ],
)
def test_every_beta_ticket_and_critical_enterprise_tickets_go_to_the_priority_queue(tier, priority, expected):
    assert route(type="bug", priority=priority, tier=tier).priority_queue is expected


def test_priority_queue_on_created_tickets():
    enterprise = OrganizationFactory(plan=Organization.Plan.ENTERPRISE)
    user = MembershipFactory(organization=enterprise).user
    ticket = TicketFactory(requester=user, organization=enterprise, type="question", priority="critical")
    assert (ticket.tier, ticket.team, ticket.priority_queue) == ("enterprise", "support", True)


def test_a_lead_edited_rule_takes_effect():
    # given a lead sends enterprise bugs to support first, and switches off the billing rule
    RoutingRule.objects.create(order=50, type="bug", tier="enterprise", team="support", description="Enterprise bugs")
    RoutingRule.objects.filter(type="billing").update(is_active=False)
    # then
    assert route(type="bug", priority="low", tier="enterprise").team == "support"
    assert route(type="bug", priority="low", tier="general").team == "engineering"
    assert route(type="billing", priority="low", tier="general").team == "support"  # no rule: the default team


def test_round_robin_among_available_members(make_user):
    first, second, away = (make_user(Role.SUPPORT_REP) for _ in range(3))
    away.is_available = False
    away.save()
    team = Team.objects.get(slug="support")
    team.members.add(first, second, away)
    team.round_robin = True
    team.save()
    assignees = [TicketFactory(type="question").assignee for _ in range(4)]
    assert assignees == [first, second, first, second]


def test_no_round_robin_leaves_tickets_unassigned(make_user):
    Team.objects.get(slug="support").members.add(make_user(Role.SUPPORT_REP))
    assert TicketFactory(type="question", requester=UserFactory()).assignee is None
