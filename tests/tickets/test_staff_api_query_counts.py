"""Every staff API endpoint and every ticket-page action runs a bounded number of queries as rows grow.

The same bound holds with 5 and with 60 tickets, notes and history rows (and 60 more messages each).
"""

import pytest

from tests.tickets.factories import TicketFactory
from tickets import services
from tickets.models import Ticket
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

API = "/api/v1/tickets/"
JSON = {"content_type": "application/json"}


@pytest.fixture(params=[5, 60], ids=["5-rows", "60-rows"])
def busy_ticket(request, client_as, make_user):
    """A lead's client, a rep, and a ticket with `rows` notes and history rows among `rows` other tickets."""
    rows = request.param
    lead = client_as(Role.SUPPORT_LEAD)
    rep = make_user(Role.SUPPORT_REP)
    TicketFactory.create_batch(rows)
    ticket = TicketFactory()
    for index in range(rows):
        services.ticket_add_note(ticket=ticket, author=lead.user, body=f"note {index}")
        ticket = services.ticket_assign(ticket=ticket, assignee=rep if index % 2 else lead.user, actor=lead.user)
    ticket.refresh_from_db()
    return lead, rep, ticket


def test_api_reads(busy_ticket, django_assert_max_num_queries):
    lead, _, ticket = busy_ticket
    rows = ticket.messages.count()

    with django_assert_max_num_queries(6):
        listing = lead.get(API, {"sla_state": "ok", "assignee": "unassigned", "status": "any"})
    with django_assert_max_num_queries(9):
        detail = lead.get(f"{API}{ticket.reference}/")

    # then the rows were all serialized: every unassigned ticket (up to a page), and every note
    assert listing.status_code == 200
    unassigned = Ticket.objects.filter(assignee__isnull=True, sla_state="ok").order_by("next_due_at", "id")
    assert [row["reference"] for row in listing.json()["results"]] == [t.reference for t in unassigned[:50]]
    assert len(listing.json()["results"]) == min(rows, 50)
    assert detail.status_code == 200
    notes = [message["body"] for message in detail.json()["messages"] if message["is_internal"]]
    assert notes == [f"note {index}" for index in range(rows)]


def test_api_writes(busy_ticket, django_assert_max_num_queries):
    lead, _, ticket = busy_ticket
    url = f"{API}{ticket.reference}/"

    with django_assert_max_num_queries(20):
        assert lead.post(url + "note/", {"body": "n", "version": ticket.version}, **JSON).status_code == 201
    with django_assert_max_num_queries(24):
        response = lead.post(url + "reply/", {"body": "r", "version": ticket.version}, **JSON)
    version = response.json()["version"]
    with django_assert_max_num_queries(28):
        response = lead.post(url + "assign/", {"assignee": None, "version": version}, **JSON)
    version = response.json()["version"]
    with django_assert_max_num_queries(24):
        response = lead.post(url + "priority/", {"priority": "critical", "version": version}, **JSON)
    version = response.json()["version"]
    with django_assert_max_num_queries(24):
        response = lead.post(url + "status/", {"status": "pending", "version": version}, **JSON)
    assert response.status_code == 200


def test_page_actions(busy_ticket, django_assert_max_num_queries):
    lead, rep, ticket = busy_ticket
    url = f"/queue/{ticket.reference}/"

    with django_assert_max_num_queries(16):
        assert lead.post(url + "reply/", {"body": "n", "kind": "note", "version": ticket.version}).status_code == 302
    with django_assert_max_num_queries(18):
        assert lead.post(url + "status/", {"status": "open", "version": ticket.version}).status_code == 302
    ticket.refresh_from_db()
    with django_assert_max_num_queries(18):
        assert lead.post(url + "priority/", {"priority": "low", "version": ticket.version}).status_code == 302
    ticket.refresh_from_db()
    with django_assert_max_num_queries(24):  # an assignment to someone else also writes the notification
        assert lead.post(url + "assign/", {"assignee": rep.pk, "version": ticket.version}).status_code == 302
    other = TicketFactory()
    with django_assert_max_num_queries(16):
        assert lead.post("/queue/claim/", {"ticket_id": other.pk}).status_code == 302
    # the 409 renders the ticket page again, with its help-center panel (a search: up to 3 on PostgreSQL)
    with django_assert_max_num_queries(18):
        stale = lead.post(url + "reply/", {"body": "kept", "kind": "reply", "version": 0})
    assert stale.status_code == 409
