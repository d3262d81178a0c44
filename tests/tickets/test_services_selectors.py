"""Selectors: role scoping, queue filters and order, ticket detail lookups, roadmap groups, constant queries."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.tickets.factories import TicketFactory
from tickets import selectors, services
from tickets.models import Ticket
from tourbrain_support.api import ApplicationError
from tourbrain_support.models import Organization
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MONDAY_10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def tickets():
    return {type: TicketFactory(type=type) for type in ("bug", "billing", "feature_request", "question")}


@pytest.mark.parametrize(
    ("role", "teams"),
    [
        (Role.SUPPORT_REP, {"engineering", "billing", "product", "support"}),
        (Role.SUPPORT_LEAD, {"engineering", "billing", "product", "support"}),
        (Role.ADMIN, {"engineering", "billing", "product", "support"}),
        (Role.ENGINEER, {"engineering"}),
        (Role.BILLING_ADMIN, {"billing"}),
        (Role.AUDITOR, set()),
        (Role.PRODUCT_MANAGER, set()),
        (None, set()),
    ],
)
def test_queue_visibility_by_role(make_user, tickets, role, teams):
    user = make_user(role)
    assert {ticket.team for ticket in selectors.ticket_queue(user=user, filters={})} == teams


def test_queue_filters_and_order(make_user):
    rep = make_user(Role.SUPPORT_REP)
    enterprise = OrganizationFactory(plan=Organization.Plan.ENTERPRISE)
    boss = MembershipFactory(organization=enterprise).user
    urgent = TicketFactory(requester=boss, organization=enterprise, type="bug", priority="critical", subject="Crash")
    slow = TicketFactory(type="question", priority="low", subject="How to export")
    mine = TicketFactory(type="question", priority="critical", subject="Invoice layout")  # due 14:00
    services.ticket_claim(ticket=mine, actor=rep)
    paused = TicketFactory(type="question")
    services.ticket_set_status(ticket=paused, status="pending", actor=rep)
    done = TicketFactory(type="question")
    services.ticket_set_status(ticket=done, status="solved", actor=rep)

    def ids(**filters):
        return [ticket.pk for ticket in selectors.ticket_queue(user=rep, filters=filters)]

    # sorted by next due time, paused (no due time) last; solved hidden from the active default
    assert ids() == [urgent.pk, mine.pk, slow.pk, paused.pk]
    assert set(ids(status="any")) == {urgent.pk, slow.pk, mine.pk, paused.pk, done.pk}
    assert ids(status="solved") == [done.pk]
    assert ids(tier="enterprise") == [urgent.pk]
    assert ids(team="engineering", priority="critical") == [urgent.pk]
    assert ids(assignee="me") == [mine.pk]
    assert ids(assignee=str(rep.pk)) == [mine.pk]
    assert ids(assignee="none") == [urgent.pk, slow.pk, paused.pk]
    assert ids(view="my_open") == [mine.pk]
    assert ids(q="export") == [slow.pk]
    assert ids(q=urgent.reference.lower()) == [urgent.pk]
    assert ids(q=str(slow.pk)) == [slow.pk]
    assert ids(view="breaching_soon") == [urgent.pk]  # enterprise critical: due in 30 minutes
    assert ids(sla_state="ok", type="bug") == [urgent.pk]


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "archived"), ("tier", "gold"), ("sla_state", "red"), ("assignee", "bob"), ("view", "all")],
)
def test_unknown_filter_values_are_refused(make_user, field, value):
    with pytest.raises(ApplicationError) as error:
        selectors.ticket_queue(user=make_user(Role.SUPPORT_REP), filters={field: value})
    assert error.value.code == "invalid_choice"
    assert field in error.value.fields


def test_queue_query_count_is_constant(make_user, django_assert_max_num_queries):
    rep = make_user(Role.SUPPORT_REP)
    TicketFactory.create_batch(3)
    with django_assert_max_num_queries(2) as few:
        rows = list(selectors.ticket_queue(user=rep, filters={})[:50])
        [(row.user, row.organization, row.assignee, row.sla_policy.calendar) for row in rows]
    TicketFactory.create_batch(12)
    with django_assert_max_num_queries(len(few.captured_queries)):
        rows = list(selectors.ticket_queue(user=rep, filters={})[:50])
        [(row.user, row.organization, row.assignee, row.sla_policy.calendar) for row in rows]


def test_ticket_detail_by_reference_or_id(make_user, tickets, django_assert_max_num_queries):
    rep, engineer = make_user(Role.SUPPORT_REP), make_user(Role.ENGINEER)
    bug, question = tickets["bug"], tickets["question"]
    services.ticket_reply(ticket=bug, author=rep, body="Hello")
    services.ticket_add_note(ticket=bug, author=rep, body="Internal")
    for key in (bug.reference, bug.reference.lower(), bug.pk, str(bug.pk)):
        assert selectors.ticket_detail(user=rep, reference_or_id=key) == bug
    assert selectors.ticket_detail(user=engineer, reference_or_id=bug.reference) == bug
    with pytest.raises(Ticket.DoesNotExist):
        selectors.ticket_detail(user=engineer, reference_or_id=question.reference)
    with pytest.raises(Ticket.DoesNotExist):
        selectors.ticket_detail(user=rep, reference_or_id="TB-nope")
    with django_assert_max_num_queries(2):
        messages = list(selectors.ticket_messages(ticket=bug))
        [list(message.attachments.all()) for message in messages]
    assert [message.is_internal for message in messages] == [False, True]
    assert [message.is_internal for message in selectors.ticket_messages(ticket=bug, include_internal=False)] == [False]


def test_roadmap_groups_duplicates_with_organization_and_tier_counts(make_user, django_assert_max_num_queries):
    pm = make_user(Role.PRODUCT_MANAGER)
    original = TicketFactory(type="feature_request", subject="Dark mode")
    beta = UserFactory(is_beta=True)
    duplicates = [TicketFactory(type="feature_request"), TicketFactory(type="feature_request", requester=beta)]
    for duplicate in duplicates:
        services.ticket_merge_duplicate(duplicate=duplicate, original=original, actor=pm)
    other = TicketFactory(type="feature_request", subject="Offline mode")
    TicketFactory(type="bug")
    with django_assert_max_num_queries(2):
        groups = selectors.roadmap_feature_requests()
    assert [group["ticket"] for group in groups] == [original, other]
    assert (groups[0]["request_count"], groups[0]["organization_count"]) == (3, 3)
    assert groups[0]["tiers"] == {"enterprise": 0, "beta": 1, "general": 2}


def test_breaching_soon_excludes_breached_and_far_tickets(make_user):
    rep = make_user(Role.SUPPORT_REP)
    far = TicketFactory(type="question", priority="low")  # general: 480 minutes
    with time_machine.travel(MONDAY_10 + timedelta(hours=7), tick=False):
        assert [ticket.pk for ticket in selectors.ticket_queue(user=rep, filters={"view": "breaching_soon"})] == [
            far.pk
        ]


@pytest.mark.parametrize("reference", ["TB-\u00b3", "\u00b3\xa0", "\u0661\u0662", "TB-" + "9" * 40, "", "TB-"])
def test_a_reference_that_is_not_ascii_digits_finds_nothing(reference):
    # str.isdigit() accepts superscripts and other scripts' digits, which int() refuses (a 500 found by fuzzing)
    assert list(Ticket.objects.by_reference(reference)) == []
