"""Staff API /api/v1/tickets/: list with filters, detail, reply, note, assign, status, priority; errors; schema."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.tickets.factories import TicketFactory
from tickets import services
from tickets.models import Ticket, TicketMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

WEDNESDAY_10AM = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
API = "/api/v1/tickets/"


def _post(client, ticket, action, data, **kwargs):
    return client.post(f"{API}{ticket.reference}/{action}/", data, content_type="application/json", **kwargs)


def test_customers_and_non_queue_roles_get_403(client, client_as):
    ticket = TicketFactory()

    assert client.get(API).status_code in (401, 403)
    for role in (None, Role.AUDITOR, Role.PRODUCT_MANAGER):
        api = client_as(role)
        assert api.get(API).status_code == 403
        assert api.get(f"{API}{ticket.reference}/").status_code == 403
        response = _post(api, ticket, "reply", {"body": "hi", "version": ticket.version})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_list_is_scoped_filtered_and_paged(client_as):
    bug = TicketFactory(type=Ticket.Type.BUG, priority="critical")
    TicketFactory(type=Ticket.Type.BILLING)
    TicketFactory.create_batch(3)

    rep = client_as(Role.SUPPORT_REP)
    everything = rep.get(API).json()
    assert len(everything["results"]) == 5
    assert everything["next"] is None

    engineer = client_as(Role.ENGINEER).get(API).json()
    assert [row["reference"] for row in engineer["results"]] == [bug.reference]

    critical = client_as(Role.SUPPORT_REP).get(API, {"priority": "critical", "team": "engineering"}).json()
    assert [row["reference"] for row in critical["results"]] == [bug.reference]
    assert critical["results"][0]["first_response_due_at"] is not None

    paged = client_as(Role.SUPPORT_REP).get(API, {"page_size": 2}).json()
    assert len(paged["results"]) == 2
    assert "page=2" in paged["next"]
    last = client_as(Role.SUPPORT_REP).get(API, {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1
    assert last["next"] is None
    assert "page=2" in last["previous"]


def test_unknown_enum_values_are_400_naming_the_allowed_values(client_as_rep):
    response = client_as_rep.get(API, {"status": "exploded", "sla_state": "fine"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "Allowed values: any, new, open, pending, on_hold, solved, closed" in error["fields"]["status"][0]
    assert "ok, warning, breached" in error["fields"]["sla_state"][0]


def test_detail_includes_conversation_internal_notes_and_timers(client_as_rep):
    ticket = TicketFactory()
    services.ticket_reply(ticket=ticket, author=ticket.user, body="Customer words")
    services.ticket_add_note(ticket=ticket, author=client_as_rep.user, body="Staff only")

    body = client_as_rep.get(f"{API}{ticket.reference}/").json()

    assert body["reference"] == ticket.reference
    assert [(m["body"], m["is_internal"]) for m in body["messages"]] == [
        ("Customer words", False),
        ("Staff only", True),
    ]
    assert [timer["key"] for timer in body["timers"]] == ["first-response", "next-response", "resolution"]
    assert body["timers"][0]["state"] == "running"


def test_engineer_gets_404_for_a_billing_ticket(client_as):
    billing = TicketFactory(type=Ticket.Type.BILLING)
    engineer = client_as(Role.ENGINEER)

    assert engineer.get(f"{API}{billing.reference}/").status_code == 404
    response = _post(engineer, billing, "status", {"status": "pending", "version": billing.version})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_reply_stops_the_first_response_clock(client_as_rep):
    with time_machine.travel(WEDNESDAY_10AM, tick=False):
        ticket = TicketFactory()
        response = _post(client_as_rep, ticket, "reply", {"body": "On it.", "version": ticket.version})

    assert response.status_code == 201
    body = response.json()
    assert body["first_responded_at"] == "2026-03-04T10:00:00Z"
    assert body["timers"][0]["state"] == "met"
    assert body["messages"][-1]["is_internal"] is False


def test_note_with_attachment_as_multipart(client_as_rep):
    ticket = TicketFactory()
    upload = SimpleUploadedFile("log.txt", b"trace", content_type="text/plain")

    response = client_as_rep.post(
        f"{API}{ticket.reference}/note/", {"body": "Seen in logs", "version": ticket.version, "attachments": [upload]}
    )

    assert response.status_code == 201
    message = response.json()["messages"][-1]
    assert message["is_internal"] is True
    assert message["attachments"] == [{"name": "log.txt", "size": 5}]


def test_forbidden_attachment_type_is_400_and_nothing_written(client_as_rep):
    ticket = TicketFactory()
    upload = SimpleUploadedFile("run.exe", b"MZ", content_type="application/x-msdownload")

    response = client_as_rep.post(
        f"{API}{ticket.reference}/reply/", {"body": "See file", "version": ticket.version, "attachments": [upload]}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "attachment_type"
    assert "attachments" in response.json()["error"]["fields"]
    assert not TicketMessage.objects.exists()


def test_assign_status_and_priority(client_as, make_user):
    lead = client_as(Role.SUPPORT_LEAD)
    rep = make_user(Role.SUPPORT_REP)
    ticket = TicketFactory()

    assigned = _post(lead, ticket, "assign", {"assignee": rep.pk, "version": ticket.version})
    assert assigned.status_code == 200
    assert assigned.json()["assignee"]["id"] == rep.pk
    version = assigned.json()["version"]
    prioritized = _post(lead, ticket, "priority", {"priority": "high", "version": version})
    assert prioritized.json()["priority"] == "high"
    status = _post(lead, ticket, "status", {"status": "pending", "version": prioritized.json()["version"]})
    assert status.json()["status"] == "pending"
    unassigned = _post(lead, ticket, "assign", {"assignee": None, "version": status.json()["version"]})
    assert unassigned.json()["assignee"] is None


def test_due_time_fields_are_read_only(client_as_rep):
    ticket = TicketFactory()
    due = ticket.first_response_due_at

    response = _post(
        client_as_rep,
        ticket,
        "status",
        {"status": "open", "version": ticket.version, "first_response_due_at": "2030-01-01T00:00:00Z"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"first_response_due_at": ["read-only"]}
    ticket.refresh_from_db()
    assert (ticket.status, ticket.first_response_due_at) == ("new", due)


def test_unknown_status_value_is_400(client_as_rep):
    ticket = TicketFactory()

    response = _post(client_as_rep, ticket, "status", {"status": "exploded", "version": ticket.version})

    assert response.status_code == 400
    assert (
        "Allowed values: new, open, pending, on_hold, solved, closed" in response.json()["error"]["fields"]["status"][0]
    )


def test_stale_version_is_409(client_as_rep):
    ticket = TicketFactory()
    services.ticket_claim(ticket=ticket, actor=client_as_rep.user)

    response = _post(client_as_rep, ticket, "reply", {"body": "Old view", "version": 0})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stale"
    assert not TicketMessage.objects.exists()


def test_reply_to_closed_ticket_is_409_ticket_closed(client_as_rep):
    ticket = TicketFactory(status=Ticket.Status.CLOSED)

    response = _post(client_as_rep, ticket, "reply", {"body": "Hello?", "version": ticket.version})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ticket_closed"


def test_missing_version_is_400(client_as_rep):
    ticket = TicketFactory()

    response = _post(client_as_rep, ticket, "reply", {"body": "No version"})

    assert response.status_code == 400
    assert "version" in response.json()["error"]["fields"]


def test_assigning_someone_outside_the_queue_is_400(client_as, make_user):
    lead = client_as(Role.SUPPORT_LEAD)
    customer = make_user(None)
    ticket = TicketFactory()

    response = _post(lead, ticket, "assign", {"assignee": customer.pk, "version": ticket.version})

    assert response.status_code == 400
    assert "assignee" in response.json()["error"]["fields"]


def test_schema_documents_the_ticket_endpoints(client_as_rep):
    schema = client_as_rep.get("/api/schema/", {"format": "json"}).json()

    paths = schema["paths"]
    for path in ("", "{reference}/", "{reference}/reply/", "{reference}/note/", "{reference}/assign/"):
        assert f"/api/v1/tickets/{path}" in paths
    assert "/api/v1/tickets/{reference}/status/" in paths
    assert "/api/v1/tickets/{reference}/priority/" in paths
    reply = paths["/api/v1/tickets/{reference}/reply/"]["post"]
    assert "requestBody" in reply
    assert "201" in reply["responses"]
    assert any(param["name"] == "sla_state" for param in paths["/api/v1/tickets/"]["get"]["parameters"])


@pytest.mark.parametrize("rows", [5, 60])
def test_api_query_counts_are_constant(client_as, make_user, django_assert_max_num_queries, rows):
    lead = client_as(Role.SUPPORT_LEAD)
    rep = make_user(Role.SUPPORT_REP)
    tickets = TicketFactory.create_batch(rows)
    ticket = tickets[0]
    for index in range(rows):
        services.ticket_add_note(ticket=ticket, author=lead.user, body=f"note {index}")
        ticket = services.ticket_assign(ticket=ticket, assignee=rep if index % 2 else lead.user, actor=lead.user)

    with django_assert_max_num_queries(6):
        assert lead.get(API).status_code == 200
    with django_assert_max_num_queries(12):
        assert lead.get(f"{API}{ticket.reference}/").status_code == 200
    with django_assert_max_num_queries(30):
        assert _post(lead, ticket, "reply", {"body": "Answer", "version": ticket.version}).status_code == 201


def test_tickets_without_requester_or_organization_serialize(client_as_rep):
    ticket = TicketFactory(requester=None)

    listed = client_as_rep.get(API).json()["results"][0]
    detail = client_as_rep.get(f"{API}{ticket.reference}/").json()

    assert (listed["user"], listed["organization"], listed["assignee"]) == (None, None, None)
    assert detail["organization"] is None
