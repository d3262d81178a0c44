"""Widget API: filing (JSON, multipart, idempotent), own/organization lists with unread counts, public
detail, replies, ratings, me/ and suggestions/, 404 for anyone else's ticket on every endpoint, CORS,
throttles, size limits, audit and constant query counts."""

from datetime import timedelta

import pytest
import time_machine
from django.core.cache.backends.locmem import LocMemCache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent, SecurityCounter
from knowledge_base import services as kb_services
from knowledge_base.models import Article, SuggestionOpen
from tests.knowledge_base.factories import ArticleFactory
from tests.widget_tokens import bearer, claims, hs256
from tickets import intake, services
from tickets.models import (
    Attachment,
    Ticket,
    TicketIdempotencyKey,
    TicketIntake,
    TicketMessage,
    TicketSatisfaction,
)
from tickets.tasks import widget_intake_file
from tourbrain_support.models import ExternalIdentity
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db
TICKETS = "/api/v1/widget/tickets/"
NEW_TICKET = {"type": "bug", "priority": "high", "description": "Export to PDF fails\nwith a blank page."}


def token(sub: str = "user_ana", **extra) -> dict:
    return bearer(hs256(claims(sub=sub, email=f"{sub}@customer.test", name=sub.title(), **extra)))


def user_of(sub: str):
    return ExternalIdentity.objects.select_related("user").get(subject=sub).user


def create(client, auth: dict, data: dict | None = None, **headers):
    return client.post(TICKETS, data or NEW_TICKET, content_type="application/json", **auth, **headers)


@pytest.fixture
def rep(make_user):
    return make_user(Role.SUPPORT_REP)


@pytest.fixture
def ana(client, widget_settings):
    auth = token("user_ana", org_id="org_band", org_name="The Band")
    response = create(client, auth)
    assert response.status_code == 201, response.content
    return auth, Ticket.objects.get(reference=response.json()["reference"])


# --- filing --------------------------------------------------------------------------------------


def test_file_a_ticket_returns_reference_and_the_promise_in_business_terms(client, widget_settings):
    response = create(client, token(), {**NEW_TICKET, "url": "https://app.tourbrain.test/tours/1"})
    assert response.status_code == 201, response.content
    body = response.json()
    ticket = Ticket.objects.get(reference=body["reference"])
    assert body["status"] == "new"
    assert body["subject"] == "Export to PDF fails"  # derived from the description's first line
    assert body["first_response_promise"].startswith("within ")
    assert "business" in body["first_response_promise"]
    assert body["first_response_due_at"] is not None
    assert ticket.channel == Ticket.Channel.WIDGET
    assert ticket.user == user_of("user_ana")
    event = AuditEvent.objects.get(resource_type="ticket", resource_id=str(ticket.pk), action="create")
    assert event.actor_id == ticket.user_id  # the real customer, not an anonymous API
    assert set(body) == {
        "reference",
        "status",
        "subject",
        "created_at",
        "first_response_due_at",
        "first_response_promise",
    }


def test_user_ids_or_emails_in_the_body_are_ignored(client, widget_settings, make_user):
    victim = make_user(email="victim@customer.test")
    response = create(client, token("user_eve"), {**NEW_TICKET, "user": victim.pk, "email": victim.email})
    assert response.status_code == 201
    assert Ticket.objects.get().user == user_of("user_eve")


def test_multipart_with_attachments(client, widget_settings):
    upload = SimpleUploadedFile("screen.png", b"\x89PNG\r\n\x1a\n" + b"0" * 100, content_type="image/png")
    response = client.post(TICKETS, {**NEW_TICKET, "subject": "Blank PDF", "attachments": [upload]}, **token())
    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get()
    assert ticket.subject == "Blank PDF"
    assert Attachment.objects.get().message.ticket == ticket


def test_bad_input_writes_nothing(client, widget_settings):
    bad_file = SimpleUploadedFile("run.exe", b"MZ", content_type="application/octet-stream")
    response = client.post(TICKETS, {**NEW_TICKET, "attachments": [bad_file]}, **token())
    assert (response.status_code, response.json()["error"]["code"]) == (400, "attachment_type")
    response = create(client, token(), {**NEW_TICKET, "priority": "urgent"})
    assert response.status_code == 400
    assert "Allowed" in response.json()["error"]["fields"]["priority"][0]
    response = create(client, token(), {"type": "bug", "priority": "low", "description": "   "})
    assert response.status_code == 400
    response = create(client, token(), {**NEW_TICKET, "url": "javascript:alert(1)"})
    assert response.status_code == 400
    assert not Ticket.objects.exists()
    assert not TicketMessage.objects.exists()


def test_oversized_body_is_413_before_parsing(client, widget_settings):
    widget_settings.WIDGET_MAX_BODY_BYTES = 2000
    response = create(client, token(), {**NEW_TICKET, "description": "x" * 5000})
    assert (response.status_code, response.json()["error"]["code"]) == (413, "request_too_large")
    assert not Ticket.objects.exists()


def test_idempotency_key_returns_the_first_ticket(client, widget_settings):
    first = create(client, token(), HTTP_IDEMPOTENCY_KEY="submit-7f3a")
    again = create(client, token(), HTTP_IDEMPOTENCY_KEY="submit-7f3a")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Ticket.objects.count() == 1
    # the same key from another customer is theirs alone
    other = create(client, token("user_bo"), HTTP_IDEMPOTENCY_KEY="submit-7f3a")
    assert other.status_code == 201
    assert other.json()["reference"] != first.json()["reference"]
    # the key reused for a different request is refused, not answered with the wrong ticket
    reused = create(client, token(), {**NEW_TICKET, "priority": "low"}, HTTP_IDEMPOTENCY_KEY="submit-7f3a")
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert Ticket.objects.count() == 2


def test_failed_request_does_not_burn_its_idempotency_key(client, widget_settings):
    failed = create(client, token(), {**NEW_TICKET, "priority": "urgent"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert failed.status_code == 400
    assert create(client, token(), HTTP_IDEMPOTENCY_KEY="k1").status_code == 201
    bad_key = create(client, token(), HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert (bad_key.status_code, bad_key.json()["error"]["code"]) == (400, "invalid_idempotency_key")
    assert TicketIdempotencyKey.objects.count() == 1


# --- lists and detail ----------------------------------------------------------------------------


def test_list_shows_own_tickets_with_unread_staff_replies_and_can_rate(client, ana, rep):
    auth, ticket = ana
    create(client, token("user_bo", org_id="org_band"))  # a colleague's ticket: not in Ana's own list
    services.ticket_reply(ticket=ticket, author=rep, body="Looking into it.")
    services.ticket_add_note(ticket=ticket, author=rep, body="internal only")
    services.ticket_reply(ticket=ticket, author=rep, body="Fixed, please retry.")
    response = client.get(TICKETS, **auth)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["reference"] for row in rows] == [ticket.reference]
    assert rows[0]["unread_count"] == 2  # the internal note is not counted
    assert rows[0]["can_rate"] is False
    # opening the ticket marks the replies seen
    detail = client.get(f"{TICKETS}{ticket.reference}/", **auth).json()
    assert [message["body"] for message in detail["messages"]] == ["Looking into it.", "Fixed, please retry."]
    assert client.get(TICKETS, **auth).json()["results"][0]["unread_count"] == 0
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    assert client.get(TICKETS, **auth).json()["results"][0]["can_rate"] is True


def test_detail_has_public_fields_and_messages_only(client, ana, rep):
    auth, ticket = ana
    services.ticket_reply(ticket=ticket, author=rep, body="Public answer")
    services.ticket_add_note(ticket=ticket, author=rep, body="SECRET internal note")
    body = client.get(f"{TICKETS}{ticket.reference.lower()}/", **auth).json()
    text = str(body)
    assert "SECRET" not in text
    assert rep.email not in text
    for staff_only in ("team", "assignee", "tier", "sla_state", "version", "priority_queue", "next_due_at"):
        assert staff_only not in body
    assert body["messages"][0]["author"] == {"name": rep.get_short_name(), "is_staff": True}
    assert body["description"] == ticket.description


def test_organization_scope_for_org_admins_only(client, widget_settings):
    admin = token("user_admin", org_id="org_band", org_role="org:admin")
    member = token("user_member", org_id="org_band", org_role="org:member")
    outsider = token("user_out", org_id="org_other", org_role="org:admin")
    for auth in (admin, member, outsider):
        assert create(client, auth).status_code == 201
    rows = client.get(f"{TICKETS}?scope=organization", **admin).json()["results"]
    assert len(rows) == 2
    assert {row["requester"] for row in rows} == {"User_Admin", "User_Member"}
    member_ticket = Ticket.objects.get(user=user_of("user_member"))
    assert client.get(f"{TICKETS}{member_ticket.reference}/", **admin).status_code == 200
    response = client.get(f"{TICKETS}?scope=organization", **member)
    assert response.status_code == 404
    assert client.get(f"{TICKETS}?scope=everyone", **admin).status_code == 400
    # an admin looking does not mark the requester's replies as seen
    assert Ticket.objects.get(pk=member_ticket.pk).requester_last_seen_at is None


def test_organization_scope_stays_inside_the_organization_with_constant_queries(
    client, widget_settings, django_assert_num_queries
):
    # given an org admin, a colleague and another organization's admin, each with a ticket
    admin = token("user_admin", org_id="org_band", org_role="org:admin")
    colleague = token("user_member", org_id="org_band", org_role="org:member")
    outsider = token("user_out", org_id="org_other", org_role="org:admin")
    for auth in (admin, colleague, outsider):
        assert create(client, auth).status_code == 201
    outsiders_ticket = Ticket.objects.get(user=user_of("user_out"))

    # then the organization scope lists the organization's tickets only, in a constant number of queries
    with django_assert_num_queries(3):  # token identity, the organizations administered, the page
        rows = client.get(f"{TICKETS}?scope=organization", **admin).json()["results"]
    assert {row["requester"] for row in rows} == {"User_Admin", "User_Member"}
    for _ in range(5):
        create(client, colleague)
    with django_assert_num_queries(3):
        rows = client.get(f"{TICKETS}?scope=organization", **admin).json()["results"]
    assert len(rows) == 7
    assert outsiders_ticket.reference not in {row["reference"] for row in rows}
    # and another organization's ticket is 404 to the admin, read or replied to
    assert client.get(f"{TICKETS}{outsiders_ticket.reference}/", **admin).status_code == 404
    assert reply(client, admin, outsiders_ticket).status_code == 404
    # and the admin may reply on a colleague's ticket (as themselves)
    colleagues_ticket = Ticket.objects.filter(user=user_of("user_member")).first()
    assert reply(client, admin, colleagues_ticket, HTTP_IDEMPOTENCY_KEY="admin-reply").status_code == 201
    message = TicketMessage.objects.filter(ticket=colleagues_ticket).get()
    assert message.author == user_of("user_admin")


def test_pagination(client, widget_settings):
    auth = token()
    for _ in range(3):
        create(client, auth)
    first = client.get(f"{TICKETS}?page_size=2", **auth).json()
    assert len(first["results"]) == 2
    assert first["next"] is not None
    second = client.get(first["next"], **auth).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    assert client.get(f"{TICKETS}?page_size=1000", **auth).status_code == 400


def test_list_and_detail_query_counts_do_not_grow(client, ana, rep, django_assert_num_queries):
    auth, ticket = ana
    # token identity (1) + the page with unread counts and ratings joined (1)
    list_queries, detail_queries = 2, 5  # detail: identity, ticket, messages, attachments, mark seen
    for _ in range(2):
        create(client, auth)
        services.ticket_reply(ticket=ticket, author=rep, body="more")
    with django_assert_num_queries(list_queries):
        assert len(client.get(TICKETS, **auth).json()["results"]) == 3
    with django_assert_num_queries(detail_queries):
        assert len(client.get(f"{TICKETS}{ticket.reference}/", **auth).json()["messages"]) == 2
    for _ in range(12):
        create(client, auth)
        services.ticket_reply(
            ticket=ticket,
            author=rep,
            body="even more",
            attachments=[SimpleUploadedFile("n.txt", b"n", content_type="text/plain")],
        )
        services.ticket_add_note(ticket=ticket, author=rep, body="note")
    with django_assert_num_queries(list_queries):
        assert len(client.get(TICKETS, **auth).json()["results"]) == 15
    with django_assert_num_queries(detail_queries):
        body = client.get(f"{TICKETS}{ticket.reference}/", **auth).json()
    assert len(body["messages"]) == 14
    assert sum(len(message["attachments"]) for message in body["messages"]) == 12


def test_filing_a_ticket_runs_a_bounded_number_of_statements(client, widget_settings):
    # A known customer files: identity (1), key claim (1), active SLA version (1), routing rules (1), beta
    # check (1), round-robin team (1), ticket insert, reference, history row, audit event (4), the knowledge
    # base's suggestion opens decided as not deflecting (1), key answer (1), the acknowledgement email (outbox);
    # the rest are the transaction's savepoints (the test runs inside a transaction). The SLA version's row
    # and its targets are not read again while unchanged, so the count stays put as tickets are filed.
    auth = token("user_ana", org_id="org_band", org_name="The Band")
    assert create(client, auth).status_code == 201
    counts = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            response = create(client, auth, HTTP_IDEMPOTENCY_KEY=f"key-{len(counts)}")
        assert response.status_code == 201, response.content
        counts.append(len(queries))
    statements = [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in (query["sql"] or "")]
    assert len(statements) <= 12, statements
    assert counts[0] == counts[1] == counts[2] <= 18, counts
    assert Ticket.objects.filter(user=user_of("user_ana")).count() == 4
    assert TicketIdempotencyKey.objects.filter(response_status=201, ticket__isnull=False).count() == 3


# --- replies and ratings -------------------------------------------------------------------------


def test_reply_with_attachment_reopens_a_solved_ticket_within_the_window(client, ana, rep):
    auth, ticket = ana
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    upload = SimpleUploadedFile("log.txt", b"trace", content_type="text/plain")
    response = client.post(
        f"{TICKETS}{ticket.reference}/messages/", {"body": "Still broken", "attachments": [upload]}, **auth
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "open"
    assert response.json()["messages"][-1]["attachments"][0]["name"] == "log.txt"
    event = AuditEvent.objects.filter(resource_type="ticket", resource_id=str(ticket.pk)).order_by("-id").first()
    assert event.actor_id == ticket.user_id
    assert event.changes["operation"] == "reply"


def test_reply_after_the_reopen_window_is_refused(client, ana, rep, settings):
    _, ticket = ana
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    with time_machine.travel(timezone.now() + timedelta(days=settings.TICKET_REOPEN_WINDOW_DAYS + 1)):
        response = client.post(
            f"{TICKETS}{ticket.reference}/messages/",
            {"body": "again"},
            content_type="application/json",
            **token("user_ana", org_id="org_band", org_name="The Band"),
        )
    assert (response.status_code, response.json()["error"]["code"]) == (409, "reopen_window_passed")
    assert Ticket.objects.get(pk=ticket.pk).status == "solved"


def reply(client, auth: dict, ticket, data: dict | None = None, **headers):
    data = data or {"body": "Still broken after the update"}
    return client.post(
        f"{TICKETS}{ticket.reference}/messages/", data, content_type="application/json", **auth, **headers
    )


def _customer_messages(ticket) -> list[str]:
    return list(TicketMessage.objects.filter(ticket=ticket, is_from_staff=False).values_list("body", flat=True))


def test_reply_idempotency_key_returns_the_first_reply_never_a_second_message(client, ana, rep):
    auth, ticket = ana
    # given a reply sent with a key, then a staff answer after it
    first = reply(client, auth, ticket, HTTP_IDEMPOTENCY_KEY="reply-1b2c")
    assert first.status_code == 201, first.content
    services.ticket_reply(ticket=ticket, author=rep, body="Looking into it")
    outbox_rows, audit_rows = OutboxMessage.objects.count(), AuditEvent.objects.count()

    # when the client retries it (its answer was lost)
    again = reply(client, auth, ticket, HTTP_IDEMPOTENCY_KEY="reply-1b2c")

    # then it gets the first answer, and nothing was written twice: no message, notification or audit event
    assert again.status_code == 201
    assert again.json() == first.json()
    assert [message["body"] for message in again.json()["messages"]] == ["Still broken after the update"]
    assert _customer_messages(ticket) == ["Still broken after the update"]
    assert (OutboxMessage.objects.count(), AuditEvent.objects.count()) == (outbox_rows, audit_rows)

    # and a new key (or none) is a new reply
    assert reply(client, auth, ticket, HTTP_IDEMPOTENCY_KEY="reply-9f8e").status_code == 201
    assert reply(client, auth, ticket).status_code == 201
    assert len(_customer_messages(ticket)) == 3


def test_reply_with_attachments_retried_keeps_one_message_and_one_file(client, ana):
    auth, ticket = ana

    def send():
        upload = SimpleUploadedFile("trace.txt", b"trace", content_type="text/plain")
        data = {"body": "Log attached", "attachments": [upload]}
        return client.post(f"{TICKETS}{ticket.reference}/messages/", data, **auth, HTTP_IDEMPOTENCY_KEY="with-file")

    first, again = send(), send()
    assert first.status_code == again.status_code == 201, again.content
    assert again.json() == first.json()
    assert _customer_messages(ticket) == ["Log attached"]
    assert Attachment.objects.filter(message__ticket=ticket).count() == 1


def test_reply_idempotency_key_reused_for_another_request_is_refused(client, ana, widget_settings):
    auth, ticket = ana
    other = Ticket.objects.get(reference=create(client, auth).json()["reference"])
    assert reply(client, auth, ticket, HTTP_IDEMPOTENCY_KEY="k-reply").status_code == 201
    # the same key with another text, on another ticket, or for filing a ticket: refused, nothing written
    for response in (
        reply(client, auth, ticket, {"body": "Something else"}, HTTP_IDEMPOTENCY_KEY="k-reply"),
        reply(client, auth, other, HTTP_IDEMPOTENCY_KEY="k-reply"),
        create(client, auth, HTTP_IDEMPOTENCY_KEY="k-reply"),
    ):
        assert (response.status_code, response.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert _customer_messages(ticket) == ["Still broken after the update"]
    assert _customer_messages(other) == []
    assert Ticket.objects.filter(user=user_of("user_ana")).count() == 2
    # a key used for filing is refused for a reply too
    assert create(client, auth, HTTP_IDEMPOTENCY_KEY="k-file").status_code == 201
    refused = reply(client, auth, ticket, HTTP_IDEMPOTENCY_KEY="k-file")
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "idempotency_key_reused")
    # and another customer's key of the same name is theirs alone
    assert reply(client, token("user_bo"), ticket, HTTP_IDEMPOTENCY_KEY="k-reply").status_code == 404


def test_refused_reply_does_not_burn_its_idempotency_key(client, ana, rep, settings):
    auth, ticket = ana
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    # given a reply refused for the ticket's state and one with a bad body, each with a key
    with time_machine.travel(timezone.now() + timedelta(days=settings.TICKET_REOPEN_WINDOW_DAYS + 1)):
        late_auth = token("user_ana", org_id="org_band", org_name="The Band")  # minted then: not expired
        late = reply(client, late_auth, ticket, HTTP_IDEMPOTENCY_KEY="late")
    assert (late.status_code, late.json()["error"]["code"]) == (409, "reopen_window_passed")
    assert reply(client, auth, ticket, {"body": ""}, HTTP_IDEMPOTENCY_KEY="empty").status_code == 400
    bad_key = reply(client, auth, ticket, HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert (bad_key.status_code, bad_key.json()["error"]["code"]) == (400, "invalid_idempotency_key")
    assert not TicketIdempotencyKey.objects.filter(key__in=["late", "empty"]).exists()
    assert _customer_messages(ticket) == []
    # then the same key works once the reply can be taken (inside the window: it reopens the ticket)
    accepted = reply(client, auth, ticket, HTTP_IDEMPOTENCY_KEY="late")
    assert (accepted.status_code, accepted.json()["status"]) == (201, "open")
    assert reply(client, auth, ticket, HTTP_IDEMPOTENCY_KEY="late").json() == accepted.json()
    assert len(_customer_messages(ticket)) == 1


def test_rating_once_per_solve_changeable_for_seven_days(client, ana, rep):
    auth, ticket = ana
    url = f"{TICKETS}{ticket.reference}/satisfaction/"
    early = client.post(url, {"score": 5}, content_type="application/json", **auth)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "not_solved")
    services.ticket_set_status(ticket=ticket, status="solved", actor=rep)
    assert client.post(url, {"score": 0}, content_type="application/json", **auth).status_code == 400
    assert client.post(url, {"score": 6}, content_type="application/json", **auth).status_code == 400
    rated = client.post(url, {"score": 2, "comment": "slow"}, content_type="application/json", **auth)
    assert rated.status_code == 200
    changed = client.post(url, {"score": 4, "comment": "ok now"}, content_type="application/json", **auth)
    assert changed.json()["score"] == 4
    rating = TicketSatisfaction.objects.get()
    assert (rating.score, rating.comment, rating.rated_by_id) == (4, "ok now", ticket.user_id)
    assert AuditEvent.objects.filter(resource_id=str(ticket.pk), changes__operation="rate").count() == 2
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        fresh = token("user_ana", org_id="org_band", org_name="The Band")
        late = client.post(url, {"score": 1}, content_type="application/json", **fresh)
        assert (late.status_code, late.json()["error"]["code"]) == (409, "rating_locked")
        assert client.get(TICKETS, **fresh).json()["results"][0]["can_rate"] is False
    assert TicketSatisfaction.objects.get().score == 4


# --- nobody else's ticket ------------------------------------------------------------------------


def test_another_customers_ticket_is_404_on_every_endpoint(client, ana, rep):
    _, ticket = ana
    services.ticket_reply(
        ticket=ticket,
        author=rep,
        body="with file",
        attachments=[SimpleUploadedFile("a.txt", b"data", content_type="text/plain")],
    )
    attachment = Attachment.objects.get()
    stranger = token("user_mallory", org_id="org_evil", org_role="org:admin")
    colleague = token("user_bo", org_id="org_band", org_role="org:member")
    for auth in (stranger, colleague):
        for reference in (ticket.reference, ticket.reference.lower(), str(ticket.pk), "TB-999999", "../1", "abc"):
            base = f"{TICKETS}{reference}/"
            responses = [
                client.get(base, **auth),
                client.post(f"{base}messages/", {"body": "hi"}, content_type="application/json", **auth),
                client.post(f"{base}satisfaction/", {"score": 1}, content_type="application/json", **auth),
                client.get(f"{base}attachments/{attachment.pk}/", **auth),
            ]
            assert [response.status_code for response in responses] == [404] * 4, reference
            assert {response.json()["error"]["code"] for response in responses} == {"not_found"}
    assert TicketMessage.objects.count() == 1
    assert not TicketSatisfaction.objects.exists()


def test_attachment_download_for_the_customer_only_public(client, ana, rep):
    auth, ticket = ana
    services.ticket_reply(
        ticket=ticket,
        author=rep,
        body="here",
        attachments=[SimpleUploadedFile("fix.txt", b"steps", content_type="text/plain")],
    )
    services.ticket_add_note(
        ticket=ticket,
        author=rep,
        body="x",
        attachments=[SimpleUploadedFile("int.txt", b"secret", content_type="text/plain")],
    )
    public, internal = Attachment.objects.order_by("id")
    response = client.get(f"{TICKETS}{ticket.reference}/attachments/{public.pk}/", **auth)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"steps"
    assert "attachment" in response["Content-Disposition"]
    assert client.get(f"{TICKETS}{ticket.reference}/attachments/{internal.pk}/", **auth).status_code == 404


# --- me, suggestions -----------------------------------------------------------------------------


def test_me_has_tier_promise_organization_and_an_empty_beta_block(client, widget_settings):
    body = client.get("/api/v1/widget/me/", **token(org_id="org_x", org_name="Big Co", plan="enterprise")).json()
    assert body["tier"] == "enterprise"
    assert body["organization"]["name"] == "Big Co"
    assert [row["priority"] for row in body["sla_promise"]] == ["low", "medium", "high", "critical"]
    assert all(row["first_response"].startswith("within ") for row in body["sla_promise"])
    assert body["beta"] is None


def test_suggestions_are_public_knowledge_base_matches_with_absolute_links(client, widget_settings):
    # given a public and an internal article about the same thing
    ArticleFactory(slug="setlist-sync", title="Setlist synchronisation", summary="Keep setlists in sync.")
    ArticleFactory(slug="setlist-runbook", title="Setlist synchronisation runbook", audience=Article.Audience.INTERNAL)

    # when a customer types about it in the widget
    body = client.get("/api/v1/widget/suggestions/?q=setlist synchronisation", **token()).json()

    # then only the public article is suggested, with a link that works from TourBrain's own origin
    assert [item["slug"] for item in body["results"]] == ["setlist-sync"]
    item = body["results"][0]
    assert item["title"] == "Setlist synchronisation"
    # (`who`: the signed user, so an open in a new tab still belongs to this person for deflection)
    assert item["url"].startswith("http://testserver/docs/setlist-sync/?src=suggestion&from=widget&who=")


def test_widget_suggestion_opened_in_a_new_tab_counts_for_the_widget_user(client, widget_settings):
    # given a widget user who got a suggestion and opened it in a tab where they are not signed in
    ArticleFactory(slug="setlist-sync", title="Setlist synchronisation", summary="Keep setlists in sync.")
    url = client.get("/api/v1/widget/suggestions/?q=setlist", **token()).json()["results"][0]["url"]
    reader = Client()
    assert reader.get(url.removeprefix("http://testserver")).status_code == 200
    opened = SuggestionOpen.objects.get()
    ana = user_of("user_ana")
    assert (opened.person_key, opened.user, opened.source) == (f"u:{ana.pk}", ana, "widget")

    # when they file a ticket from the widget within the half hour
    assert create(client, token()).status_code == 201

    # then the open did not deflect anything, and no later count makes it a deflection
    opened.refresh_from_db()
    assert opened.outcome == SuggestionOpen.Outcome.TICKET_FILED
    assert kb_services.kb_deflections_count(now=timezone.now() + timedelta(hours=1)) == 0


def test_forged_or_expired_suggestion_person_is_an_anonymous_reader(client, widget_settings):
    ArticleFactory(slug="setlist-sync", title="Setlist synchronisation", summary="Keep setlists in sync.")
    url = client.get("/api/v1/widget/suggestions/?q=setlist", **token()).json()["results"][0]["url"]
    path = url.removeprefix("http://testserver")
    forged = path.split("&who=")[0] + "&who=1:1tAAAA:forged"
    reader = Client()
    reader.get("/docs/")  # the reader cookie
    reader.get("/docs/setlist-sync/")
    reader.get(forged)
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        reader.get(path + "&draft=later")
    assert all(key.startswith("r:") for key in SuggestionOpen.objects.values_list("person_key", flat=True))
    assert SuggestionOpen.objects.count() == 2


def test_suggestions_validate_q(client, widget_settings):
    url = "/api/v1/widget/suggestions/"
    assert client.get(f"{url}?q=zzqx unmatched", **token()).json() == {"results": []}
    assert client.get(f"{url}?q=a", **token()).status_code == 400
    assert client.get(url, **token()).status_code == 400
    assert client.get(f"{url}?q={'x' * 201}", **token()).status_code == 400


# --- CORS, throttles, schema ---------------------------------------------------------------------


def test_cors_for_tourbrain_origins_on_the_widget_api_only(client, widget_settings):
    widget_settings.WIDGET_ALLOWED_ORIGINS = widget_settings.CORS_ALLOWED_ORIGINS = ["https://app.tourbrain.test"]
    preflight = client.options(
        TICKETS,
        HTTP_ORIGIN="https://app.tourbrain.test",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == "https://app.tourbrain.test"
    assert "idempotency-key" in preflight["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight
    evil = client.options(TICKETS, HTTP_ORIGIN="https://evil.test", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in evil
    staff_api = client.options(
        "/api/v1/tickets/", HTTP_ORIGIN="https://app.tourbrain.test", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "Access-Control-Allow-Origin" not in staff_api


def test_per_user_throttle_429_with_retry_after_counted_by_security_metrics(client, widget_settings):
    widget_settings.WIDGET_THROTTLE_USER = "3/hour"  # an hour's window: no reset between these requests
    statuses = [client.get(TICKETS, **token()).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get(TICKETS, **token())
    assert response.json()["error"]["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 3600  # the seconds left in this customer's window
    assert client.get(TICKETS, **token("user_other")).status_code == 200  # per user
    from audit.security import security_metrics

    metrics = security_metrics(timezone.now() - timedelta(hours=1), timezone.now() + timedelta(minutes=1))
    assert metrics["throttled_requests"] == 2
    assert SecurityCounter.objects.filter(kind="throttled").exists()


def test_per_ip_throttle_applies_before_the_token_is_checked(client, widget_settings):
    widget_settings.WIDGET_THROTTLE_IP = "2/hour"
    statuses = [client.get(TICKETS, HTTP_AUTHORIZATION="Bearer junk").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert client.get(TICKETS, **token()).status_code == 429
    assert client.get(TICKETS, REMOTE_ADDR="203.0.113.9", **token()).status_code == 200


def test_a_window_that_ends_resets_the_count(client, widget_settings, time_machine):
    widget_settings.WIDGET_THROTTLE_USER = "2/min"
    time_machine.move_to(timezone.now(), tick=False)
    assert [client.get(TICKETS, **token()).status_code for _ in range(3)] == [200, 200, 429]
    waited = int(client.get(TICKETS, **token())["Retry-After"])
    assert 0 < waited <= 60
    time_machine.shift(waited - 1)
    assert client.get(TICKETS, **token()).status_code == 429  # a second early
    time_machine.shift(1)  # a retry after exactly Retry-After seconds is let in
    assert client.get(TICKETS, **token()).status_code == 200


def _use_cache(settings, default: dict) -> None:
    settings.CACHES = {**settings.CACHES, "default": default}


class CacheThatLosesCounts(LocMemCache):
    """A cache that evicts each count as soon as it is written (as a full cache may)."""

    def add(self, *args, **kwargs):
        return False

    def incr(self, *args, **kwargs):
        raise ValueError("Key not found.")


def test_a_count_the_cache_lost_lets_the_request_through(client, widget_settings):
    widget_settings.WIDGET_THROTTLE_USER = widget_settings.WIDGET_THROTTLE_IP = "1/hour"
    _use_cache(widget_settings, {"BACKEND": f"{__name__}.CacheThatLosesCounts", "LOCATION": "lost-counts"})
    assert [client.get(TICKETS, **token()).status_code for _ in range(3)] == [200, 200, 200]


def test_an_unreachable_cache_lets_requests_through(client, widget_settings, caplog):
    widget_settings.WIDGET_THROTTLE_USER = widget_settings.WIDGET_THROTTLE_IP = "1/hour"
    _use_cache(
        widget_settings, {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    )
    statuses = [client.get(TICKETS, **token()).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert "the cache is unavailable; let through" in caplog.text


def test_widget_api_is_in_the_openapi_schema(client, widget_settings):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    for path in (
        "/api/v1/widget/tickets/",
        "/api/v1/widget/tickets/{reference}/",
        "/api/v1/widget/tickets/{reference}/messages/",
        "/api/v1/widget/tickets/{reference}/satisfaction/",
        "/api/v1/widget/me/",
        "/api/v1/widget/suggestions/",
    ):
        assert path in schema["paths"], path
    assert schema["components"]["securitySchemes"]["widgetJWT"]["scheme"] == "bearer"
    create_op = schema["paths"]["/api/v1/widget/tickets/"]["post"]
    assert {"widgetJWT": []} in create_op["security"]
    assert any(parameter["name"] == "Idempotency-Key" for parameter in create_op["parameters"])


def test_the_filing_task_claims_and_files_a_due_intake_on_every_database(make_user):
    # given an accepted widget ticket waiting to be filed (PostgreSQL accepts them in the request; any database
    # may hold one, e.g. restored from a backup) and one that waits for its next attempt
    customer = make_user(email="waiting@customer.test")
    fields = {"type": "bug", "priority": "high", "description": "Export to PDF fails"}
    due, later = (
        intake.intake_prepare(requester=customer, organization=None, channel=Ticket.Channel.WIDGET, **fields)
        for _ in range(2)
    )
    for number, accepted in ((900_001, due), (900_002, later)):
        accepted.ticket_id, accepted.reference = number, f"TB-{number}"
    later.attempts, later.next_attempt_at = 1, timezone.now() + timedelta(minutes=5)
    TicketIntake.objects.bulk_create([due, later])

    # when the beat's filing task runs, then the due one is filed under its promised reference, the other waits
    assert widget_intake_file() == 1
    ticket = Ticket.objects.get(reference="TB-900001")
    assert (ticket.pk, ticket.user, ticket.description) == (900_001, customer, "Export to PDF fails")
    assert list(TicketIntake.objects.values_list("reference", flat=True)) == ["TB-900002"]
    assert widget_intake_file() == 0
