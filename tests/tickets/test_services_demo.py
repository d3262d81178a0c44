"""Demo data: a realistic queue with every status, warnings and breaches; running it twice adds nothing."""

import pytest

from tickets import demo as tickets_demo
from tickets.models import Ticket, TicketMessage
from tourbrain_support import demo as core_demo

pytestmark = pytest.mark.django_db


def test_demo_queue_is_realistic_and_idempotent():
    core_demo.seed()
    tickets_demo.seed()
    count = Ticket.objects.count()
    assert count == len(tickets_demo.PLAN)
    assert set(Ticket.objects.values_list("status", flat=True)) == set(Ticket.Status.values)
    assert set(Ticket.objects.values_list("tier", flat=True)) == {"enterprise", "beta", "general"}
    assert set(Ticket.objects.values_list("type", flat=True)) == set(Ticket.Type.values)
    assert set(Ticket.objects.values_list("priority", flat=True)) == set(Ticket.Priority.values)
    assert Ticket.objects.filter(sla_state="warning").exists()
    assert Ticket.objects.filter(sla_state="breached", escalated_at__isnull=False).exists()
    assert TicketMessage.objects.filter(is_internal=True).exists()
    assert TicketMessage.objects.filter(is_internal=False, is_from_staff=False).exists()
    assert Ticket.objects.filter(duplicate_of__isnull=False).exists()
    tickets_demo.seed()
    assert Ticket.objects.count() == count
