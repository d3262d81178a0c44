"""Customer-side services and selectors shared by the widget API and the portal."""

from datetime import timedelta

import pytest
import time_machine
from django.http import Http404
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import MembershipFactory, UserFactory
from tests.tickets.factories import TicketFactory
from tickets import customer_selectors, customer_services, services
from tickets.models import Ticket
from tourbrain_support.api import ApplicationError
from tourbrain_support.models import Membership
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


@given(st.text(max_size=400))
def test_subject_from_description_is_one_short_line(description):
    subject = customer_services.subject_from_description(description)
    assert "\n" not in subject
    assert len(subject) <= customer_services.SUBJECT_FROM_DESCRIPTION_LENGTH


def test_subject_from_description_keeps_short_first_lines_and_cuts_long_ones_at_a_word():
    assert customer_services.subject_from_description("\n  PDF   export\tbroken \nmore") == "PDF export broken"
    long = "The itinerary export " * 10
    subject = customer_services.subject_from_description(long)
    assert subject.endswith("…")
    assert long.startswith(subject[:-1])
    assert subject[-2] != " "


def test_only_the_customer_rates_and_staff_cannot(make_user):
    ticket = TicketFactory(status=Ticket.Status.SOLVED, solved_at=timezone.now())
    for outsider in (UserFactory(), make_user(Role.SUPPORT_REP)):
        with pytest.raises(ApplicationError) as error:
            customer_services.ticket_rate(ticket=ticket, actor=outsider, score=5)
        assert error.value.status == 403
    rating = customer_services.ticket_rate(ticket=ticket, actor=ticket.user, score=5)
    assert rating.rated_by == ticket.user


def test_a_new_solve_opens_a_new_rating(make_user):
    rep = make_user(Role.SUPPORT_REP)
    ticket = TicketFactory()
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    customer_services.ticket_rate(ticket=ticket, actor=ticket.user, score=2)
    with time_machine.travel(timezone.now() + timedelta(days=3)):
        services.ticket_reply(ticket=ticket, author=ticket.user, body="It broke again")
        services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    with time_machine.travel(timezone.now() + timedelta(days=9)):
        ticket.refresh_from_db()
        assert customer_selectors.can_rate(Ticket.objects.select_related("satisfaction").get(pk=ticket.pk))
        rating = customer_services.ticket_rate(ticket=ticket, actor=ticket.user, score=5)
    assert (rating.score, rating.solved_at) == (5, Ticket.objects.get(pk=ticket.pk).solved_at)


def test_organization_scope_and_lookup_follow_the_membership_role():
    ticket = TicketFactory()
    organization = ticket.organization
    admin = MembershipFactory(organization=organization, role=Membership.Role.ADMIN).user
    member = MembershipFactory(organization=organization, role=Membership.Role.MEMBER).user
    assert list(customer_selectors.tickets_for_customer(admin, "organization")) == [ticket]
    assert customer_selectors.ticket_for_customer_or_404(admin, ticket.reference) == ticket
    assert list(customer_selectors.tickets_for_customer(member, "mine")) == []
    with pytest.raises(Http404):
        customer_selectors.tickets_for_customer(member, "organization")
    with pytest.raises(Http404):
        customer_selectors.ticket_for_customer_or_404(member, ticket.reference)


def test_mark_seen_only_for_the_requester(make_user):
    ticket = TicketFactory()
    rep = make_user(Role.SUPPORT_REP)
    services.ticket_reply(ticket=ticket, author=rep, body="hello")
    assert customer_services.ticket_mark_seen(ticket=ticket, user=rep) is False
    assert customer_selectors.tickets_for_customer(ticket.user).get().unread_count == 1
    version = Ticket.objects.get(pk=ticket.pk).version
    assert customer_services.ticket_mark_seen(ticket=ticket, user=ticket.user) is True
    assert customer_selectors.tickets_for_customer(ticket.user).get().unread_count == 0
    assert Ticket.objects.get(pk=ticket.pk).version == version  # a read receipt, not a change


def test_promise_text():
    assert customer_selectors.promise_text(120) == "within 2 business hours"
    assert customer_selectors.promise_text(60) == "within 1 business hour"
    assert customer_selectors.promise_text(30) == "within 30 business minutes"
    assert customer_selectors.promise_text(90) == "within 90 business minutes"
