"""The email admin: the quarantine (retry, discard; audited), the tickets' emails with their originals."""

from pathlib import Path

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests.tickets.factories import TicketFactory
from tickets.models import QuarantinedEmail, Ticket, TicketEmail
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail"
QUARANTINE = reverse("admin:tickets_quarantinedemail_changelist")


def _held(n: int, raw: bytes | None = None) -> QuarantinedEmail:
    return QuarantinedEmail.objects.create(
        raw=raw or f"From: x{n}@example.com\nSubject: held {n}\n\nbody".encode(),
        sender=f"x{n}@example.com",
        subject=f"held {n}",
        reason="Message too large",
    )


def test_quarantine_list_has_constant_queries(client_as, django_assert_max_num_queries):
    for n in range(30):
        _held(n)
    client = client_as(Role.ADMIN)
    with django_assert_max_num_queries(12):
        response = client.get(QUARANTINE)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 30
    assert b"held 29" in response.content


def test_the_held_message_shows_its_reason_and_text(client_as):
    held = _held(1, raw=(MAIL / "iso_8859_1.eml").read_bytes())
    response = client_as(Role.ADMIN).get(reverse("admin:tickets_quarantinedemail_change", args=[held.pk]))
    assert response.status_code == 200
    assert "Message too large" in response.content.decode()
    assert "La factura de la señal está mal" in response.content.decode()


def test_retry_ingests_and_discard_gives_up_both_audited(client_as, settings):
    settings.SUPPORT_EMAIL = settings.DEFAULT_FROM_EMAIL = "support@tourbrain.ai"
    good = _held(1, raw=(MAIL / "new_plain.eml").read_bytes())
    junk = _held(2)
    client = client_as(Role.ADMIN)
    response = client.post(QUARANTINE, {"action": "retry", "_selected_action": [good.pk]}, follow=True)
    assert "Retried: ticket: 1." in response.content.decode()
    good.refresh_from_db()
    assert good.status == QuarantinedEmail.Status.RETRIED
    assert Ticket.objects.filter(channel="email", subject="Cannot import our 2027 tour dates").exists()

    client.post(QUARANTINE, {"action": "discard", "_selected_action": [junk.pk]})
    junk.refresh_from_db()
    assert junk.status == QuarantinedEmail.Status.DISCARDED
    operations = [event.changes["operation"] for event in AuditEvent.objects.filter(resource_type="quarantined_email")]
    assert sorted(operations) == ["discard", "retry"]


def test_a_support_rep_cannot_open_the_quarantine(client_as):
    _held(1)
    assert client_as(Role.SUPPORT_REP).get(QUARANTINE).status_code == 403


def test_ticket_emails_list_with_constant_queries(client_as, django_assert_max_num_queries):
    for n in range(20):
        TicketEmail.objects.create(
            ticket=TicketFactory(), direction="inbound", message_id=f"m{n}@example.com", sender="a@x.com", raw=b"x"
        )
    client = client_as(Role.ADMIN)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("admin:tickets_ticketemail_changelist"))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 20
