"""Customer email end to end: services write outbox rows, the outbox delivers to a real SMTP server, and the
delivered messages carry what mail clients thread by (Message-ID, In-Reply-To, References, subject)."""

from datetime import UTC, datetime

import pytest
import time_machine

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tickets import services
from tickets.models import Ticket, TicketEmail
from tourbrain_support.models import Organization
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_deliver_due
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MONDAY_10, tick=True):
        yield


@pytest.fixture
def rep(make_user):
    return make_user(Role.SUPPORT_REP, email="rep@tourbrain.test", name="Robin Rep")


@pytest.fixture
def customer():
    organization = OrganizationFactory(plan=Organization.Plan.ENTERPRISE)
    return MembershipFactory(organization=organization, user__email="ana@band.example.com", user__name="Ana").user


def _create(customer, *, channel="portal") -> Ticket:
    return services.ticket_create(
        requester=customer,
        organization=customer.organizations.first(),
        type="question",
        priority="medium",
        subject="Tour export misses dates",
        description="The export has no dates.",
        channel=channel,
    )


def _customer_mail(smtp_server, address):
    return [mail for mail in smtp_server.messages if address in mail.rcpt_tos]


def test_conversation_threads_in_a_mail_client(smtp_server, settings, customer, rep):
    settings.SUPPORT_EMAIL = "support@tourbrain.ai"
    settings.SUPPORT_REPLY_TO_TEMPLATE = "support+{reference}@tourbrain.ai"
    ticket = _create(customer)
    services.ticket_reply(ticket=ticket, author=rep, body="Which tour is it?\nThe <b>Berlin</b> one?")
    services.ticket_add_note(ticket=ticket, author=rep, body="INTERNAL: customer is on the old plan")
    services.ticket_set_status(ticket=ticket, status="pending", actor=rep)
    outbox_deliver_due()

    mails = _customer_mail(smtp_server, customer.email)
    assert len(mails) == 3, [mail.message["Subject"] for mail in mails]
    ack, reply, pending = (mail.message for mail in mails)

    # The acknowledgement: reference, business-terms promise, how to reply; automatic.
    assert ack["Subject"] == f"[{ticket.reference}] Tour export misses dates"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Reply-To"] == f"support+{ticket.reference}@tourbrain.ai"
    ack_text = mails[0].text()
    assert ticket.reference in ack_text
    assert "within" in ack_text
    assert "business" in ack_text
    assert "reply to this email" in ack_text
    assert ticket.reference in mails[0].html()
    assert ack["In-Reply-To"] is None

    # The staff reply: a person wrote it (no Auto-Submitted), threaded under the acknowledgement.
    assert reply["Subject"] == f"Re: [{ticket.reference}] Tour export misses dates"
    assert reply["Auto-Submitted"] is None
    assert reply["In-Reply-To"] == ack["Message-ID"]
    assert reply["References"] == ack["Message-ID"]
    assert "Which tour is it?" in mails[1].text()
    assert "&lt;b&gt;Berlin&lt;/b&gt;" in mails[1].html()  # staff text is escaped in the HTML part

    # The status change: threaded under both, automatic.
    assert pending["In-Reply-To"] == reply["Message-ID"]
    assert pending["References"].split() == [ack["Message-ID"], reply["Message-ID"]]
    assert pending["Auto-Submitted"] == "auto-replied"
    assert "waiting for your answer" in mails[2].text()

    # Every Message-ID is distinct, ours, and stored on the ticket (the reply's on its message).
    ids = [mail["Message-ID"] for mail in (ack, reply, pending)]
    assert len(set(ids)) == 3
    assert all(value.endswith("@tourbrain.ai>") for value in ids)
    stored = list(TicketEmail.objects.filter(ticket=ticket).values_list("message_id", "ticket_message__body"))
    assert [f"<{value}>" for value, _ in stored] == ids
    assert stored[1][1].startswith("Which tour")
    # The internal note never left.
    assert not any("INTERNAL" in mail.raw.decode("utf-8", "replace") for mail in smtp_server.messages)


def test_solved_and_closed_are_told_once_each(smtp_server, customer, rep):
    ticket = _create(customer)
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)  # unchanged: nothing new
    services.ticket_set_status(ticket=ticket, status="closed", actor=rep)
    outbox_deliver_due()
    texts = [mail.text() for mail in _customer_mail(smtp_server, customer.email)]
    assert len(texts) == 3
    assert "solved" in texts[1]
    assert "closed" in texts[2]
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.CUSTOMER_STATUS).count() == 2


def test_open_and_on_hold_are_not_mailed(customer, rep):
    ticket = _create(customer)
    services.ticket_set_status(ticket=ticket, status="on_hold", actor=rep)
    services.ticket_set_status(ticket=ticket, status="open", actor=rep)
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.CUSTOMER_STATUS).count() == 0


@pytest.mark.parametrize(
    ("email", "active"),
    [
        ("a1b2c3@customers.invalid", True),  # a widget visitor without an address
        ("erased-7@erased.invalid", False),  # an erased person
        ("someone@band.example.com", False),  # deactivated
    ],
)
def test_no_mail_to_undeliverable_or_inactive_people(email, active, rep):
    person = UserFactory(email=email, is_active=active)
    ticket = services.ticket_create(
        requester=person,
        organization=None,
        type="question",
        priority="low",
        subject="Hello",
        description="Hi",
        channel="widget",
    )
    services.ticket_reply(ticket=ticket, author=rep, body="Hello back")
    assert not OutboxMessage.objects.filter(kind__startswith="customer.").exists()
    assert not TicketEmail.objects.exists()


def test_customer_replies_are_not_echoed(customer):
    ticket = _create(customer)
    services.ticket_reply(ticket=ticket, author=customer, body="More detail")
    assert list(OutboxMessage.objects.filter(kind__startswith="customer.").values_list("kind", flat=True)) == [
        OutboxMessage.Kind.CUSTOMER_ACK
    ]


def test_auto_close_tells_the_customer(customer, rep):
    ticket = _create(customer)
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    with time_machine.travel(datetime(2026, 4, 2, 10, 0, tzinfo=UTC)):
        assert services.tickets_close_solved() == 1
        assert services.tickets_close_solved() == 0
    statuses = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.CUSTOMER_STATUS).order_by("id")
    assert [row.idempotency_key.split(":")[2] for row in statuses] == ["solved", "closed"]
