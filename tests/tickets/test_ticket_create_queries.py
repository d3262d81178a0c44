"""Filing a ticket stays within a fixed number of statements on every channel: the widget (a known customer,
idempotent submit) and email (a new ticket from an unknown sender, then a reply threaded by its reference),
with no savepoint on PostgreSQL beyond the caller's own transaction block (nested in the test's transaction here)
and the one that lets a refused email reply become a new ticket."""

from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import make_msgid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.widget_tokens import bearer, claims, hs256
from tickets.email_inbound import email_ingest
from tickets.models import Ticket, TicketEmail
from tourbrain_support.notifications.models import OutboxMessage

pytestmark = pytest.mark.django_db
TICKETS = "/api/v1/widget/tickets/"
NEW_TICKET = {"type": "bug", "priority": "medium", "description": "The export misses the load-in times."}
# Statements per vendor: SQLite writes an audit event and its personal data in a savepoint of their own.
# A new email sender also costs the lookup of a verified organization domain for their address.
BUDGET = {
    "postgresql": {"widget": 12, "email_new": 20, "email_reply": 14},
    "sqlite": {"widget": 16, "email_new": 27, "email_reply": 16},
}


def budget(name: str) -> int:
    return BUDGET.get(connection.vendor, BUDGET["sqlite"])[name]


def savepoints(queries: CaptureQueriesContext) -> int:
    return sum((query["sql"] or "").startswith("SAVEPOINT") for query in queries.captured_queries)


def raw_email(subject: str, sender: str = "Fan <fan@band.example.com>") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@tourbrain.ai"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="band.example.com")
    message.set_content("The PDF export has no load-in times.\n\nOn Monday, Support wrote:\n> earlier text\n")
    return message.as_bytes(policy=default_policy)


def test_widget_ticket_by_a_known_customer_within_the_statement_budget(client, widget_settings):
    auth = bearer(hs256(claims(sub="user_fan", email="fan@customer.test", org_id="org_band", org_name="The Band")))
    assert client.get("/api/v1/widget/me/", **auth).status_code == 200  # the customer is known from here on

    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            TICKETS, NEW_TICKET, content_type="application/json", HTTP_IDEMPOTENCY_KEY="submit-1", **auth
        )

    assert response.status_code == 201, response.content
    assert Ticket.objects.filter(reference=response.json()["reference"]).exists()
    assert len(queries.captured_queries) <= budget("widget"), [query["sql"] for query in queries.captured_queries]
    if connection.vendor == "postgresql":
        assert savepoints(queries) == 1  # the view's transaction block (the claim of the key and the ticket)


def test_email_new_ticket_and_threaded_reply_within_the_statement_budget(settings):
    settings.SUPPORT_EMAIL = settings.DEFAULT_FROM_EMAIL = "support@tourbrain.ai"
    # Another sender's ticket first: what each process keeps once read (the active SLA version) is then read,
    # whichever tests ran before in this process.
    assert email_ingest(raw_email("Warm-up", sender="Crew <crew@venue.example.org>")).outcome == "ticket"

    with CaptureQueriesContext(connection) as created:
        result = email_ingest(raw_email("The export misses the load-in times"))
    assert result.outcome == "ticket"
    # The acknowledgement was written to the outbox and recorded for threading.
    assert OutboxMessage.objects.filter(idempotency_key=f"customer.ack:{result.ticket.pk}").count() == 1
    assert TicketEmail.objects.filter(ticket=result.ticket).count() == 2

    with CaptureQueriesContext(connection) as replied:
        reply = email_ingest(raw_email(f"Re: [{result.ticket.reference}] The export misses the load-in times"))
    assert reply.outcome == "reply"
    assert reply.ticket == result.ticket

    assert len(created.captured_queries) <= budget("email_new"), [query["sql"] for query in created.captured_queries]
    assert len(replied.captured_queries) <= budget("email_reply"), [query["sql"] for query in replied.captured_queries]
    if connection.vendor == "postgresql":
        assert savepoints(created) == 1  # the intake's transaction block
        assert savepoints(replied) == 2  # and ticket_reply's own: a refused reply becomes a new ticket
