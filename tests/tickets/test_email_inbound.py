"""Inbound email on real messages from several mail clients (tests/data/mail/): new tickets, threaded replies
with only the new text, refusals without an answer, the quarantine, and the `ingest_email` command."""

import io
import mailbox
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tickets import services
from tickets.email_inbound import email_ingest, html_to_text, quarantine_retry
from tickets.models import Attachment, BouncingAddress, QuarantinedEmail, Ticket, TicketEmail, TicketMessage
from tourbrain_support.models import Organization, User
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail"
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock(settings):
    settings.SUPPORT_EMAIL = settings.DEFAULT_FROM_EMAIL = "support@tourbrain.ai"
    settings.SUPPORT_REPLY_TO_TEMPLATE = "support+{reference}@tourbrain.ai"
    with time_machine.travel(MONDAY_10, tick=True):
        yield


@pytest.fixture
def rep(make_user):
    return make_user(Role.SUPPORT_REP, email="rep@tourbrain.test", name="Robin Rep")


@pytest.fixture
def ana():
    organization = OrganizationFactory(plan=Organization.Plan.ENTERPRISE)
    return MembershipFactory(organization=organization, user__email="ana@band.example.com", user__name="Ana").user


@pytest.fixture
def conversation(ana, rep):
    """Ana's ticket with our acknowledgement and a staff reply (the Message-ID customers answer)."""
    ticket = services.ticket_create(
        requester=ana,
        organization=ana.organizations.first(),
        type="question",
        priority="medium",
        subject="Tour export misses dates",
        description="The export has no dates.",
        channel="portal",
    )
    services.ticket_reply(ticket=ticket, author=rep, body="Which tour is it?")
    reply_id = TicketEmail.objects.filter(ticket=ticket).latest("id").message_id
    return ticket, reply_id


def raw(name: str, ticket: Ticket | None = None, message_id: str = "") -> bytes:
    data = (MAIL / name).read_bytes()
    if ticket is not None:
        data = data.replace(b"{{REFERENCE}}", ticket.reference.encode())
        data = data.replace(b"{{REPLY_TO}}", f"support+{ticket.reference}@tourbrain.ai".encode())
    return data.replace(b"{{MESSAGE_ID}}", message_id.encode())


def test_new_mail_from_an_unknown_sender_becomes_a_ticket_and_is_acknowledged_in_thread():
    result = email_ingest(raw("new_plain.eml"))
    assert result.outcome == "ticket"
    ticket = result.ticket
    assert ticket.channel == Ticket.Channel.EMAIL
    assert ticket.subject == "Cannot import our 2027 tour dates"
    assert 'stops at row 12 with "unknown venue"' in ticket.description
    assert ticket.tier == "general"
    person = User.objects.get(email="new.customer@bandmail.example.com")
    assert (person.name, ticket.user_id, person.has_usable_password()) == ("Maya Stone", person.pk, False)
    inbound = TicketEmail.objects.get(ticket=ticket, direction="inbound")
    assert inbound.message_id == "CAF1new0001@mail.gmail.com"
    assert bytes(inbound.raw) == raw("new_plain.eml")
    ack = OutboxMessage.objects.get(kind=OutboxMessage.Kind.CUSTOMER_ACK)
    assert ack.payload["email_headers"]["In-Reply-To"] == "<CAF1new0001@mail.gmail.com>"

    # The same message again (a retried MTA delivery): nothing new.
    assert email_ingest(raw("new_plain.eml")).outcome == "duplicate"
    assert Ticket.objects.count() == 1
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.CUSTOMER_ACK).count() == 1


@pytest.mark.parametrize(
    ("name", "new_text", "quoted"),
    [
        ("gmail_reply_en.eml", "It is the Berlin show on 14 May.", "Which tour is it?"),
        ("outlook_reply_de.eml", "Es ist die Show in München, nicht Berlin.", "Ursprüngliche Nachricht"),
        ("apple_mail_reply_fr.eml", "C\u2019est la date de Lyon qui manque.", "a écrit"),
        ("thunderbird_reply_es.eml", "Ya funciona, ¡gracias!", "escribió"),
    ],
)
def test_replies_from_mail_clients_thread_and_keep_only_the_new_text(conversation, name, new_text, quoted):
    ticket, reply_id = conversation
    result = email_ingest(raw(name, ticket, reply_id))
    assert result.outcome == "reply", result.reason
    assert result.ticket.pk == ticket.pk
    message = TicketMessage.objects.filter(ticket=ticket, is_from_staff=False).latest("id")
    assert message.body.startswith(new_text)
    assert quoted not in message.body
    assert "Which tour is it?" not in message.body
    # The full original stays with staff.
    original = TicketEmail.objects.get(ticket_message=message)
    assert bytes(original.raw) == raw(name, ticket, reply_id)
    assert Ticket.objects.count() == 1


def test_the_plus_address_threads_and_attachments_are_kept_within_limits(conversation):
    ticket, _reply_id = conversation
    result = email_ingest(raw("multipart_attachment.eml", ticket))
    assert result.outcome == "reply"
    message = TicketMessage.objects.filter(ticket=ticket, is_from_staff=False).latest("id")
    assert message.body == "Here is the screenshot of the error."
    assert list(Attachment.objects.filter(message=message).values_list("filename", flat=True)) == ["error.png"]
    note = TicketMessage.objects.get(ticket=ticket, is_internal=True)
    assert "winmail.dat" in note.body
    assert "setup.exe" in note.body


def test_a_stranger_answering_someone_elses_ticket_gets_a_new_ticket(conversation):
    ticket, reply_id = conversation
    data = raw("gmail_reply_en.eml", ticket, reply_id).replace(b"ana@band.example.com", b"eve@other.example.com")
    result = email_ingest(data)
    assert result.outcome == "ticket"
    assert result.ticket.pk != ticket.pk
    assert result.ticket.user.email == "eve@other.example.com"
    assert not TicketMessage.objects.filter(ticket=ticket, author__email="eve@other.example.com").exists()


def test_a_colleague_in_the_organization_may_reply(conversation):
    ticket, reply_id = conversation
    MembershipFactory(organization=ticket.organization, user__email="bo@band.example.com")
    data = raw("gmail_reply_en.eml", ticket, reply_id).replace(b"ana@band.example.com", b"bo@band.example.com")
    assert email_ingest(data).outcome == "reply"


def test_a_reply_to_a_closed_ticket_opens_a_new_one(conversation, rep):
    ticket, reply_id = conversation
    services.ticket_set_status(ticket=ticket, status="closed", actor=rep)
    result = email_ingest(raw("thunderbird_reply_es.eml", ticket, reply_id))
    assert result.outcome == "ticket"
    assert result.ticket.pk != ticket.pk
    assert ticket.reference in TicketMessage.objects.get(ticket=result.ticket, is_internal=True).body


def test_html_only_mail_becomes_safe_text():
    result = email_ingest(raw("html_only.eml"))
    description = result.ticket.description
    assert description.startswith("Our capacity shows 500 & should be 800.")
    assert "Please fix\nthanks" in description
    for leftover in ("<", "alert", "color: red", "tracker"):
        assert leftover not in description


def test_html_to_text_drops_markup_and_keeps_lines():
    assert html_to_text("<p>a &lt;b&gt;</p><p>c<br>d</p><script>x()</script>") == "a <b>\nc\nd"


@pytest.mark.parametrize(
    ("name", "sender", "subject", "text"),
    [
        ("iso_8859_1.eml", "José Muñoz", "Factura de la señal", "La factura de la señal está mal"),
        ("shift_jis.eml", "Tanaka", "ツアーの日程", "大阪公演の日程が表示されません。"),
    ],
)
def test_charsets_and_encoded_headers_are_decoded(name, sender, subject, text):
    ticket = email_ingest(raw(name)).ticket
    assert ticket.subject == subject
    assert ticket.description.startswith(text)
    assert ticket.user.name == sender


def test_malformed_headers_still_make_a_ticket():
    result = email_ingest(raw("malformed_headers.eml"))
    assert result.outcome == "ticket", result.reason
    assert result.ticket.user.email == "odd@weird.example.com"
    assert result.ticket.subject == "broken=ZZ subject"
    assert "The body survives" in result.ticket.description
    assert TicketEmail.objects.get(direction="inbound").message_id == "malformed-0010-without-brackets"


def test_unparseable_sender_goes_to_the_quarantine_with_its_bytes():
    data = raw("new_plain.eml").replace(b'"Maya Stone" <new.customer@bandmail.example.com>', b"nobody at all")
    result = email_ingest(data)
    assert result.outcome == "quarantined"
    held = QuarantinedEmail.objects.get()
    assert bytes(held.raw) == data
    assert "sender" in held.reason
    assert not Ticket.objects.exists()


def test_out_of_office_is_refused_without_an_answer(conversation):
    ticket, _ = conversation
    before = OutboxMessage.objects.count()
    result = email_ingest(raw("out_of_office.eml", ticket))
    assert result.outcome == "refused"
    assert "Auto-Submitted" in result.reason
    assert OutboxMessage.objects.count() == before
    assert Ticket.objects.count() == 1


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"Precedence: bulk", "bulk"),
        (b"Precedence: list", "list"),
        (b"X-Autoreply: yes", "X-Autoreply"),
        (b"X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress"),
        (b"X-TourBrain-Notification: customer.ack", "our own"),
    ],
)
def test_automatic_and_own_mail_is_refused(header, reason):
    data = raw("new_plain.eml").replace(b"MIME-Version: 1.0", header + b"\nMIME-Version: 1.0")
    result = email_ingest(data)
    assert result.outcome == "refused"
    assert reason in result.reason
    assert not Ticket.objects.exists()


def test_a_bounce_marks_the_address_and_stops_further_mail(rep):
    result = email_ingest(raw("dsn_bounce.eml"))
    assert result.outcome == "refused"
    assert "bounce" in result.reason
    bouncing = BouncingAddress.objects.get()
    assert bouncing.address == "gone@band.example.com"
    assert "5.1.1" in bouncing.reason
    gone = UserFactory(email="gone@band.example.com")
    services.ticket_create(
        requester=gone, organization=None, type="question", priority="low", subject="Hi", description="x", channel="api"
    )
    assert not OutboxMessage.objects.filter(recipient="gone@band.example.com").exists()


def test_senders_over_the_rate_limit_are_refused(settings):
    settings.EMAIL_INBOUND_RATE_LIMIT = 2
    outcomes = [
        email_ingest(raw("new_plain.eml").replace(b"CAF1new0001", f"flood{n}".encode())).outcome for n in range(3)
    ]
    assert outcomes == ["ticket", "ticket", "refused"]


def test_staff_addresses_and_oversize_mail_are_quarantined_and_can_be_retried(settings, rep):
    settings.EMAIL_INBOUND_MAX_BYTES = 100
    result = email_ingest(raw("new_plain.eml"))
    assert result.outcome == "quarantined"
    held = QuarantinedEmail.objects.get()
    assert held.sender == '"Maya Stone" <new.customer@bandmail.example.com>'
    assert "limit" in held.reason
    # Still too big: stays held, with the reason of this attempt.
    assert quarantine_retry(held).outcome == "quarantined"
    held.refresh_from_db()
    assert held.status == QuarantinedEmail.Status.HELD
    settings.EMAIL_INBOUND_MAX_BYTES = 10_000_000
    assert quarantine_retry(held).outcome == "ticket"
    held.refresh_from_db()
    assert held.status == QuarantinedEmail.Status.RETRIED
    assert QuarantinedEmail.objects.count() == 1

    staff_mail = raw("new_plain.eml").replace(b"new.customer@bandmail.example.com", rep.email.encode())
    staff_mail = staff_mail.replace(b"CAF1new0001", b"staff0001")
    assert email_ingest(staff_mail).outcome == "quarantined"


def test_ingest_email_command_reads_files_mboxes_maildirs_and_stdin(tmp_path, monkeypatch):
    box = mailbox.mbox(tmp_path / "inbox.mbox")
    for name in ("html_only.eml", "iso_8859_1.eml", "out_of_office.eml"):
        box.add(raw(name))
    box.flush()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add(raw("shift_jis.eml"))
    maildir.flush()
    out = io.StringIO()
    call_command(
        "ingest_email", str(tmp_path / "inbox.mbox"), str(tmp_path / "Maildir"), str(MAIL / "new_plain.eml"), stdout=out
    )
    assert out.getvalue().strip() == "refused: 1, ticket: 4"

    class Stdin:
        buffer = io.BytesIO(raw("thunderbird_reply_es.eml").replace(b"{{REFERENCE}}", b"TB-999999"))

    monkeypatch.setattr("sys.stdin", Stdin)
    out = io.StringIO()
    call_command("ingest_email", "-", stdout=out)
    assert out.getvalue().strip() == "ticket: 1"
    assert Ticket.objects.filter(channel="email").count() == 5


def test_round_trip_acknowledgement_reply_and_answer_are_one_thread(smtp_server, rep):
    """A customer writes, gets the acknowledgement and the rep's reply over real SMTP, answers the reply from
    their client (In-Reply-To the delivered Message-ID): the answer lands on the same ticket."""
    from tourbrain_support.notifications.outbox import outbox_deliver_due

    ticket = email_ingest(raw("new_plain.eml")).ticket
    services.ticket_reply(ticket=ticket, author=rep, body="Which venue is on row 12?")
    outbox_deliver_due()
    ack, reply = (mail.message for mail in smtp_server.messages if "new.customer@bandmail.example.com" in mail.rcpt_tos)
    assert ack["In-Reply-To"] == "<CAF1new0001@mail.gmail.com>"
    assert reply["References"].split() == ["<CAF1new0001@mail.gmail.com>", ack["Message-ID"]]
    answer = (
        "From: Maya Stone <new.customer@bandmail.example.com>\n"
        f"To: {reply['Reply-To']}\n"
        f"Subject: Re: {reply['Subject'].removeprefix('Re: ')}\n"
        "Message-ID: <CAF1answer@mail.gmail.com>\n"
        f"In-Reply-To: {reply['Message-ID']}\n"
        f"References: {reply['References']} {reply['Message-ID']}\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "The Olympia in Paris.\n\n"
        "On Mon, 2 Mar 2026 at 10:05, TourBrain Support <support@tourbrain.ai> wrote:\n"
        "> Which venue is on row 12?\n"
    ).encode()
    result = email_ingest(answer)
    assert result.outcome == "reply"
    assert result.ticket.pk == ticket.pk
    bodies = list(TicketMessage.objects.filter(ticket=ticket).values_list("body", flat=True))
    assert bodies == ["Which venue is on row 12?", "The Olympia in Paris."]


def test_erasing_the_person_drops_their_raw_emails(rep):
    from audit.gdpr import subject_erase

    ticket = email_ingest(raw("new_plain.eml")).ticket
    admin = UserFactory(is_staff=True, is_superuser=True)
    subject_erase(user=ticket.user, actor=admin)
    inbound = TicketEmail.objects.get(ticket=ticket, direction="inbound")
    assert bytes(inbound.raw) == b""
    assert "new.customer" not in inbound.sender
