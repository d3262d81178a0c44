"""Bulk intake (`email_ingest_many`, `ingest_email` on an mbox): many messages per transaction, with the same
outcomes as one message at a time: duplicates (even within a batch) create nothing, the rate limit counts the
batch's own messages, a reply threads onto a ticket the same batch opened, and a bad message is quarantined
without losing the others. The batch reads its lookups at once: its statements grow by a few per message."""

import io
import mailbox
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import OrganizationFactory
from tickets.email_inbound import email_ingest, email_ingest_many
from tickets.models import BouncingAddress, OrganizationEmailDomain, QuarantinedEmail, Ticket, TicketEmail
from tourbrain_support.models import Membership, User
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def support_address(settings):
    settings.SUPPORT_EMAIL = settings.DEFAULT_FROM_EMAIL = "support@tourbrain.ai"
    settings.SUPPORT_REPLY_TO_TEMPLATE = "support+{reference}@tourbrain.ai"


def mail(sender: str, message_id: str, subject: str = "Export misses load-in times", **headers) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@tourbrain.ai"
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(f"Hello,\n\nmessage {message_id}\n\nThanks\n")
    message.add_alternative(f"<p>Hello,</p><p>message <b>{message_id}</b></p>")
    return message.as_bytes(policy=default_policy)


def outcomes(results) -> list[str]:
    return [result.outcome for result in results]


def test_a_batch_files_what_one_by_one_would_and_a_duplicate_creates_nothing():
    raws = [mail(f"fan{number % 3}@fans.example.com", f"m{number}@fans.example.com") for number in range(6)]
    raws.append(raws[2])  # the same Message-ID again, within the batch

    results = list(email_ingest_many(raws, batch_size=50))

    assert outcomes(results) == ["ticket"] * 6 + ["duplicate"]
    assert Ticket.objects.filter(channel="email").count() == 6
    assert User.objects.filter(email__endswith="@fans.example.com").count() == 3
    inbound = TicketEmail.objects.filter(direction=TicketEmail.Direction.INBOUND)
    assert sorted(inbound.values_list("message_id", flat=True)) == sorted(f"m{n}@fans.example.com" for n in range(6))
    # Every ticket got its acknowledgement, threaded on the customer's message.
    acks = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.CUSTOMER_ACK)
    assert acks.count() == 6
    ticket = results[0].ticket
    ack = acks.get(payload__ticket=ticket.pk)
    assert ack.payload["email_headers"]["In-Reply-To"] == "<m0@fans.example.com>"

    # The same mbox again: nothing new.
    assert outcomes(email_ingest_many(raws, batch_size=50)) == ["duplicate"] * 7
    assert Ticket.objects.filter(channel="email").count() == 6


def test_the_rate_limit_counts_the_messages_of_the_same_batch(settings):
    settings.EMAIL_INBOUND_RATE_LIMIT = 3
    raws = [mail("loop@fans.example.com", f"loop{number}@fans.example.com") for number in range(5)]

    assert outcomes(email_ingest_many(raws, batch_size=10)) == ["ticket"] * 3 + ["refused"] * 2


def test_a_reply_threads_onto_the_ticket_its_own_batch_opened():
    first = mail("ana@fans.example.com", "first@fans.example.com")
    follow_up = mail(
        "ana@fans.example.com",
        "second@fans.example.com",
        subject="Re: Export misses load-in times",
        In_Reply_To="<first@fans.example.com>",
    )
    results = list(email_ingest_many([first, follow_up], batch_size=10))

    assert outcomes(results) == ["ticket", "reply"]
    assert results[1].ticket.pk == results[0].ticket.pk
    assert results[0].ticket.messages.filter(is_from_staff=False).count() == 1


def test_senders_of_an_organizations_domain_join_it_and_bounced_addresses_get_no_acknowledgement():
    organization = OrganizationFactory()
    OrganizationEmailDomain.objects.create(
        organization=organization, domain="band.example.com", verified_at="2026-01-01T00:00:00Z"
    )
    BouncingAddress.objects.create(address="gone@fans.example.com", reason="5.1.1")
    raws = [
        mail("crew@mail.band.example.com", "crew@x.example.com"),
        mail("Gone@fans.example.com", "gone@x.example.com"),
    ]

    results = list(email_ingest_many(raws, batch_size=10))

    assert outcomes(results) == ["ticket", "ticket"]
    assert results[0].ticket.organization_id == organization.pk
    assert Membership.objects.filter(user__email="crew@mail.band.example.com", organization=organization).exists()
    acknowledged = set(OutboxMessage.objects.values_list("recipient", flat=True))
    assert acknowledged == {"crew@mail.band.example.com"}


def test_a_bad_message_is_quarantined_and_the_rest_of_its_batch_is_kept(make_user):
    staff = make_user(Role.SUPPORT_REP, email="rep@tourbrain.test")
    raws = [mail(f"fan{number}@fans.example.com", f"ok{number}@fans.example.com") for number in range(4)]
    # A staff sender is refused after the intake began its writes: the batch is redone one message at a time.
    raws.insert(2, mail(staff.email, "staff@tourbrain.test"))
    raws.append(b"From: \nSubject: no sender at all\n\nbody\n")

    results = list(email_ingest_many(raws, batch_size=10))

    assert outcomes(results) == ["ticket", "ticket", "quarantined", "ticket", "ticket", "quarantined"]
    assert Ticket.objects.filter(channel="email").count() == 4
    held = QuarantinedEmail.objects.order_by("pk")
    assert [row.message_id for row in held] == ["<staff@tourbrain.test>", ""]
    assert "staff account" in held[0].reason
    assert bytes(held[0].raw) == raws[2]


def test_a_batch_reads_its_lookups_once(django_capture_on_commit_callbacks):
    def statements(count: int, batch: int, tag: str) -> int:
        raws = [mail(f"{tag}{number}@fans.example.com", f"{tag}{number}@fans.example.com") for number in range(count)]
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks() as callbacks:
            assert outcomes(email_ingest_many(raws, batch_size=batch)) == ["ticket"] * count
        statements.callbacks = len(callbacks)
        return len(queries)

    one_by_one = statements(10, 1, "single")
    batched_10 = statements(10, 10, "ten")
    assert statements.callbacks == 1  # the batch's acknowledgements are handed to delivery together
    batched_20 = statements(20, 20, "twenty")
    # New sender + new ticket: account, pseudonym, ticket, its reference, history, two audit events, outbox.
    per_message = (batched_20 - batched_10) / 10
    # (SQLite writes an audit event and its personal data in two statements and a savepoint, PostgreSQL in one.)
    assert per_message <= (8 if connection.vendor == "postgresql" else 13)
    assert batched_10 < one_by_one - 10 * 6


def test_the_command_ingests_an_mbox_in_batches(tmp_path):
    box = mailbox.mbox(tmp_path / "inbox.mbox")
    for number in range(7):
        box.add(mail(f"fan{number}@fans.example.com", f"cmd{number}@fans.example.com"))
    box.add(mail("fan1@fans.example.com", "cmd1@fans.example.com"))
    box.flush()
    out = io.StringIO()

    call_command("ingest_email", str(tmp_path / "inbox.mbox"), "--batch", "3", stdout=out)

    assert out.getvalue().strip() == "duplicate: 1, ticket: 7"
    assert email_ingest(mail("fan1@fans.example.com", "cmd1@fans.example.com")).outcome == "duplicate"
