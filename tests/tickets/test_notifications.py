"""Ticket notifications end to end: services and the sweep write outbox rows, delivered to real servers."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from tests.celery_utils import broker_down
from tests.factories import MembershipFactory, OrganizationFactory
from tickets import services
from tickets.models import Team, Ticket
from tickets.notifications import notify_sla_breach
from tickets.sweep import sla_sweep
from tourbrain_support.models import Organization
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_deliver_due
from tourbrain_support.notifications.tasks import deliver_pending_outbox
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

# Monday 2 March 2026, 10:00 UTC (= London, GMT): inside business hours.
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def lead(make_user):
    """The engineering lead (bugs are routed to engineering)."""
    user = make_user(Role.SUPPORT_LEAD, email="lead@tourbrain.test", name="Lee Lead")
    Team.objects.filter(slug=Ticket.Team.ENGINEERING).update(lead=user)
    return user


@pytest.fixture
def rep(make_user):
    return make_user(Role.SUPPORT_REP, email="rep@tourbrain.test", name="Robin Rep")


@pytest.fixture
def customer():
    organization = OrganizationFactory(plan=Organization.Plan.ENTERPRISE)
    return MembershipFactory(organization=organization, user__email="founder@band.test").user


@pytest.fixture
def slack(settings, http_server):
    settings.SLACK_WEBHOOK_URL = http_server.url("/services/T/B/X")
    return http_server


def _create(customer, *, priority="critical", subject="Tour export crashes") -> Ticket:
    return services.ticket_create(
        requester=customer,
        organization=customer.organizations.first(),
        type="bug",
        priority=priority,
        subject=subject,
        description="Export to PDF fails for every tour.",
        channel="portal",
    )


def _rows(kind: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind=kind).order_by("channel", "recipient"))


# --- new critical ticket -----------------------------------------------------------------------------


def test_critical_ticket_emails_the_team_lead_and_posts_to_slack(
    clock, customer, lead, smtp_server, slack, settings, celery_eager, django_capture_on_commit_callbacks
):
    # given a site URL for links
    settings.SITE_URL = "https://support.tourbrain.test"

    # when an enterprise customer files a critical bug (the transaction commits; tasks run inline)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        ticket = _create(customer)

    # then the engineering lead got one email naming the ticket, its tier, priority, due time and link
    received = smtp_server.wait_for(1)
    assert [mail.rcpt_tos for mail in received] == [["lead@tourbrain.test"]]
    mail = received[0]
    assert mail.message["Subject"] == f"[{ticket.reference}] New critical bug: Tour export crashes"
    text = mail.text()
    for expected in (
        ticket.reference,
        "Tour export crashes",
        "Tier:      Enterprise",
        "Priority:  Critical",
        "Due:       first response Mon 02 Mar 2026 10:30 GMT (10:30 UTC)",
        f"https://support.tourbrain.test/queue/{ticket.reference}/",
    ):
        assert expected in text, expected

    # and Slack got one post about it
    assert len(slack.requests) == 1
    assert ticket.reference in slack.requests[0].json()["text"]

    # and both rows are sent, with the providers' answers
    rows = _rows(OutboxMessage.Kind.TICKET_CRITICAL)
    assert [(row.channel, row.status) for row in rows] == [("email", "sent"), ("slack", "sent")]
    assert rows[0].provider_response.startswith("250 ")
    assert rows[1].provider_response == "200 ok"


def test_non_critical_ticket_notifies_nobody(clock, customer, lead):
    _create(customer, priority="high")
    assert OutboxMessage.objects.count() == 0


def test_without_a_slack_webhook_only_email_is_written(clock, customer, lead, settings):
    settings.SLACK_WEBHOOK_URL = ""
    _create(customer)
    assert [row.channel for row in _rows(OutboxMessage.Kind.TICKET_CRITICAL)] == ["email"]


def test_with_the_broker_down_a_critical_ticket_is_created_and_notified_once_the_broker_is_back(
    clock, customer, lead, smtp_server, slack, django_capture_on_commit_callbacks
):
    # given Redis is down: when a critical ticket is filed and its transaction commits
    with broker_down(), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        ticket = _create(customer)

    # then the ticket exists, and its notifications wait in the outbox
    assert Ticket.objects.filter(pk=ticket.pk).exists()
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"pending"}
    assert smtp_server.messages == []
    assert slack.requests == []

    # when the broker is back and the periodic delivery runs, twice
    deliver_pending_outbox.apply()
    deliver_pending_outbox.apply()

    # then the lead's email and the Slack post went out exactly once
    assert len(smtp_server.wait_for(1)) == 1
    assert len(slack.requests) == 1
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}


# --- assignment --------------------------------------------------------------------------------------


def test_assignment_emails_the_assignee_once_per_assignment(clock, customer, lead, rep, smtp_server):
    # given a ticket
    ticket = _create(customer, priority="medium")

    # when the lead assigns it to the rep, a retried request repeats it, then it goes back and forth
    services.ticket_assign(ticket=ticket, assignee=rep, actor=lead)
    services.ticket_assign(ticket=Ticket.objects.get(pk=ticket.pk), assignee=rep, actor=lead)
    services.ticket_assign(ticket=Ticket.objects.get(pk=ticket.pk), assignee=lead, actor=lead)
    services.ticket_assign(ticket=Ticket.objects.get(pk=ticket.pk), assignee=rep, actor=lead)

    # then the rep got one email per real assignment, and the lead none for assigning themselves
    rows = _rows(OutboxMessage.Kind.TICKET_ASSIGNED)
    assert [row.recipient for row in rows] == ["rep@tourbrain.test", "rep@tourbrain.test"]
    outbox_deliver_due()
    received = smtp_server.wait_for(2)
    assert len(received) == 2
    assert received[0].message["Subject"] == f"[{ticket.reference}] Assigned to you: Tour export crashes"
    assert "assigned to you by Lee Lead" in received[0].text()


def test_claiming_a_ticket_yourself_sends_nothing(clock, customer, rep):
    ticket = _create(customer, priority="medium")
    services.ticket_assign(ticket=ticket, assignee=rep, actor=rep)
    assert _rows(OutboxMessage.Kind.TICKET_ASSIGNED) == []


# --- SLA warning and breach --------------------------------------------------------------------------


def test_sla_warning_emails_the_assignee_and_a_rerun_sends_nothing(clock, customer, lead, rep, smtp_server, slack):
    # given a critical enterprise bug assigned to the rep (first response due in 30 business minutes)
    ticket = _create(customer)
    services.ticket_assign(ticket=ticket, assignee=rep, actor=lead)
    ticket.refresh_from_db()

    # when the sweep runs at 75% of the target, and again
    assert ticket.sla_warning_at == MONDAY_10 + timedelta(minutes=23)
    clock.move_to(ticket.sla_warning_at)
    assert sla_sweep().warned == [ticket.pk]
    assert sla_sweep().warned == []

    # then the rep got one warning email and Slack one digest
    rows = _rows(OutboxMessage.Kind.SLA_WARNING)
    assert [(row.channel, row.recipient) for row in rows] == [("email", "rep@tourbrain.test"), ("slack", "default")]
    outbox_deliver_due()
    outbox_deliver_due()
    warnings = [mail for mail in smtp_server.messages if "SLA warning" in mail.message["Subject"]]
    assert len(warnings) == 1
    assert warnings[0].message["Subject"] == (
        f"[{ticket.reference}] SLA warning: first response due Mon 02 Mar 2026 10:30 GMT (10:30 UTC)"
    )
    digests = [request.json()["text"] for request in slack.requests if "SLA warning" in request.json()["text"]]
    assert len(digests) == 1
    assert digests[0].startswith("*SLA warning: 1 ticket*")


def test_sla_breach_emails_assignee_and_lead_and_posts_one_digest(clock, customer, lead, rep, smtp_server, slack):
    # given two critical bugs assigned to the rep
    tickets = [_create(customer, subject=f"Crash {n}") for n in range(2)]
    for ticket in tickets:
        services.ticket_assign(ticket=ticket, assignee=rep, actor=lead)
    OutboxMessage.objects.all().delete()
    slack.requests.clear()

    # when both breach and the sweep runs twice (escalation: priority stays critical, the lead takes them)
    clock.move_to(MONDAY_10 + timedelta(minutes=31))
    assert sorted(sla_sweep().breached) == sorted(ticket.pk for ticket in tickets)
    assert sla_sweep().breached == []

    # then per ticket the former assignee and the lead are emailed, and Slack gets one digest of both
    rows = _rows(OutboxMessage.Kind.SLA_BREACH)
    emails = sorted((row.payload["reference"], row.recipient) for row in rows if row.channel == "email")
    assert emails == sorted(
        (ticket.reference, email) for ticket in tickets for email in ("lead@tourbrain.test", "rep@tourbrain.test")
    )
    assert [row.channel for row in rows].count("slack") == 1

    # and delivery sends each exactly once
    outbox_deliver_due()
    outbox_deliver_due()
    assert len(smtp_server.wait_for(4)) == 4
    assert "moved to the team lead" in smtp_server.messages[0].text()
    assert len(slack.requests) == 1
    text = slack.requests[0].json()["text"]
    assert text.startswith("*SLA breached: 2 tickets*")
    assert all(ticket.reference in text for ticket in tickets)


def test_breach_notification_queries_do_not_grow_with_the_batch(
    clock, customer, lead, rep, slack, django_assert_max_num_queries
):
    # given a batch of breached tickets, as the sweep hands them over
    tickets = [_create(customer, priority="high", subject=f"Crash {n}") for n in range(40)]
    stamp = MONDAY_10 + timedelta(hours=5)
    Ticket.objects.filter(pk__in=[ticket.pk for ticket in tickets]).update(escalated_at=stamp, assignee=lead)
    batch = list(Ticket.objects.filter(pk__in=[ticket.pk for ticket in tickets]).select_related("assignee"))
    for ticket in batch:
        ticket.escalated_from_id = rep.pk

    # when the breach notifications are written, then a handful of queries serve the whole batch
    with django_assert_max_num_queries(8):
        created = notify_sla_breach(batch)
    assert len(created) == 40 * 2 + 1

    # and writing them again adds nothing
    assert notify_sla_breach(batch) == []
