"""The SLA sweep: warning at 75%, breach at 100%, escalation once, set-based, safe to run twice or at once."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from tests.factories import MembershipFactory, OrganizationFactory
from tests.tickets.factories import TicketFactory
from tickets import services
from tickets.models import Team, Ticket
from tickets.sweep import sla_sweep
from tourbrain_support.models import Organization
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # London business hours, no holiday


def at(minutes: int) -> datetime:
    return MONDAY_10 + timedelta(minutes=minutes)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def lead(make_user):
    lead = make_user(Role.SUPPORT_LEAD, email="lead@example.test")
    Team.objects.filter(slug="engineering").update(lead=lead)
    return lead


def enterprise_bug(**fields):
    """Enterprise medium bug: first response 60 business minutes (warning at 45), routed to engineering."""
    organization = OrganizationFactory(plan=Organization.Plan.ENTERPRISE)
    user = MembershipFactory(organization=organization).user
    fields.setdefault("priority", "medium")
    return TicketFactory(requester=user, organization=organization, type="bug", **fields)


def breach_emails():
    return OutboxMessage.objects.filter(kind=OutboxMessage.Kind.SLA_BREACH, channel=OutboxMessage.Channel.EMAIL)


def test_warning_at_75_percent_then_breach_at_100_percent_escalates(clock, lead, make_user):
    rep = make_user(Role.SUPPORT_REP, email="rep@example.test")
    ticket = enterprise_bug(assignee=rep)

    clock.move_to(at(44))
    assert sla_sweep().warned == []
    clock.move_to(at(45))
    assert sla_sweep().warned == [ticket.pk]
    ticket.refresh_from_db()
    assert (ticket.sla_state, ticket.warning_notified_at) == ("warning", at(45))
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.SLA_WARNING, recipient=rep.email).count() == 1

    clock.move_to(at(59))
    assert sla_sweep().breached == []
    clock.move_to(at(60))
    result = sla_sweep()
    assert result.breached == [ticket.pk]
    ticket.refresh_from_db()
    # then: breached, one priority step up, moved to the team lead; the due time did not move
    assert (ticket.sla_state, ticket.priority, ticket.assignee, ticket.escalated_at) == (
        "breached",
        "high",
        lead,
        at(60),
    )
    assert ticket.first_response_due_at == at(60) == ticket.next_due_at
    assert set(breach_emails().values_list("recipient", flat=True)) == {rep.email, lead.email}
    assert ticket.history.first().priority == "high"


def test_rerun_escalates_each_breach_once(clock, lead):
    ticket = enterprise_bug()
    clock.move_to(at(90))
    assert sla_sweep().breached == [ticket.pk]
    emails = breach_emails().count()
    version = Ticket.objects.get(pk=ticket.pk).version
    clock.move_to(at(91))
    second = sla_sweep()
    call_command("sla_sweep", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert (second.breached, second.warned) == ([], [])
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.version, breach_emails().count()) == ("high", version, emails)


def test_past_both_thresholds_is_escalated_not_warned(clock, lead):
    ticket = enterprise_bug()
    clock.move_to(at(120))
    result = sla_sweep()
    assert (result.breached, result.warned) == ([ticket.pk], [])
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.SLA_WARNING).exists()


def test_critical_stays_critical_and_a_team_without_lead_keeps_its_assignee(clock, make_user):
    rep = make_user(Role.SUPPORT_REP)
    ticket = enterprise_bug(priority="critical", assignee=rep)
    clock.move_to(at(31))  # enterprise critical: 30 minutes
    sla_sweep()
    ticket.refresh_from_db()
    assert (ticket.sla_state, ticket.priority, ticket.assignee) == ("breached", "critical", rep)


def test_paused_tickets_are_not_swept(clock, lead, make_user):
    ticket = enterprise_bug()
    services.ticket_set_status(ticket=ticket, status="pending", actor=make_user(Role.SUPPORT_REP))
    clock.move_to(at(600))
    assert sla_sweep().breached == []


def test_escalation_is_not_undone_by_the_raised_priority(clock, lead, make_user):
    # given a breached, escalated ticket
    ticket = enterprise_bug()
    clock.move_to(at(61))
    sla_sweep()
    # when a rep raises the priority again (targets shrink) or pauses and resumes
    rep = make_user(Role.SUPPORT_REP)
    services.ticket_set_priority(ticket=ticket, priority="critical", actor=rep)
    services.ticket_set_status(ticket=ticket, status="pending", actor=rep)
    clock.move_to(at(70))
    services.ticket_set_status(ticket=ticket, status="open", actor=rep)
    # then the breached clock stays due in the past and the ticket stays breached, not escalated again
    ticket.refresh_from_db()
    assert ticket.first_response_due_at == at(60)
    assert ticket.sla_state == "breached"
    assert sla_sweep().breached == []


def test_a_stopped_clock_lets_a_later_breach_escalate_again(clock, lead, make_user):
    ticket = enterprise_bug()
    clock.move_to(at(61))
    sla_sweep()
    services.ticket_reply(ticket=ticket, author=make_user(Role.SUPPORT_REP), body="On it")
    ticket.refresh_from_db()
    assert ticket.sla_state == "ok"  # the resolution clock (1080 minutes) is fine
    clock.move_to(ticket.resolution_due_at)
    assert sla_sweep().breached == [ticket.pk]
    ticket.refresh_from_db()
    assert ticket.priority == "critical"


def test_sweep_query_count_does_not_grow_with_tickets(clock, lead, django_assert_max_num_queries):
    few = [enterprise_bug() for _ in range(2)]
    clock.move_to(at(61))
    with django_assert_max_num_queries(20) as few_queries:
        assert len(sla_sweep().breached) == len(few)
    clock.move_to(at(0))
    many = [enterprise_bug() for _ in range(20)]  # one INSERT batch of history rows on SQLite too
    clock.move_to(at(61))
    with django_assert_max_num_queries(len(few_queries.captured_queries)):
        assert len(sla_sweep().breached) == len(many)
    with django_assert_max_num_queries(6):
        sla_sweep()  # nothing changes: two index lookups (and their savepoints)


def test_sweep_in_small_batches_covers_everything(clock, lead):
    tickets = [enterprise_bug() for _ in range(5)]
    clock.move_to(at(61))
    assert sorted(sla_sweep(batch_size=2).breached) == sorted(ticket.pk for ticket in tickets)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_escalate_each_breach_once(lead):
    with time_machine.travel(MONDAY_10, tick=False):
        tickets = [enterprise_bug() for _ in range(40)]
    barrier = threading.Barrier(2)
    results = []

    def run():
        from django.db import connection as thread_connection

        try:
            barrier.wait()
            results.append(sla_sweep(now=at(61), batch_size=7))
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    breached = [ticket_id for result in results for ticket_id in result.breached]
    assert sorted(breached) == sorted(ticket.pk for ticket in tickets)  # each exactly once
    assert set(Ticket.objects.values_list("priority", flat=True)) == {"high"}
    assert breach_emails().filter(recipient=lead.email).count() == len(tickets)
