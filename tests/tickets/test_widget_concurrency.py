"""Concurrent widget requests (PostgreSQL): one Idempotency-Key gives one ticket and one answer; a new
customer's first requests at once create one account and one organization."""

import threading

import pytest
from django.db import connection
from django.test import Client

from tests.widget_tokens import bearer, claims, hs256
from tickets.models import Ticket, TicketIdempotencyKey, TicketMessage
from tourbrain_support.models import ExternalIdentity, ExternalOrganization, Membership, Organization, User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks on the unique index: PostgreSQL"),
]


def test_concurrent_retries_create_one_ticket(widget_settings):
    auth = bearer(hs256(claims(sub="user_race", email="race@customer.test")))
    assert Client().get("/api/v1/widget/me/", **auth).status_code == 200  # the customer exists first
    barrier = threading.Barrier(4)
    answers = []

    def submit():
        client = Client()
        barrier.wait()
        response = client.post(
            "/api/v1/widget/tickets/",
            {"type": "question", "priority": "low", "description": "Same click, four requests"},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="double-click",
            **auth,
        )
        answers.append((response.status_code, response.json()))
        connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 4
    assert {status for status, _ in answers} == {201}
    assert len({body["reference"] for _, body in answers}) == 1
    assert all(body == answers[0][1] for _, body in answers)
    assert Ticket.objects.count() == 1
    assert TicketIdempotencyKey.objects.get().ticket == Ticket.objects.get()


def _at_once(count: int, request) -> list:
    barrier = threading.Barrier(count)
    answers = []

    def run():
        barrier.wait()
        answers.append(request(Client()))
        connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers


def test_first_requests_of_a_new_customer_at_once_create_one_account(widget_settings):
    auth = bearer(hs256(claims(sub="user_new", email="new@customer.test", org_id="org_new", org_name="New Band")))
    statuses = _at_once(4, lambda client: client.get("/api/v1/widget/me/", **auth).status_code)
    assert statuses == [200] * 4
    assert ExternalIdentity.objects.count() == User.objects.count() == 1
    assert ExternalOrganization.objects.count() == Organization.objects.count() == 1
    assert Membership.objects.count() == 1


def test_concurrent_retries_of_a_reply_add_one_message(widget_settings):
    # given a customer's ticket
    auth = bearer(hs256(claims(sub="user_reply", email="reply@customer.test")))
    created = Client().post(
        "/api/v1/widget/tickets/",
        {"type": "question", "priority": "low", "description": "A question"},
        content_type="application/json",
        **auth,
    )
    assert created.status_code == 201, created.content
    reference = created.json()["reference"]

    # when the same reply arrives four times at once with one key
    def send(client):
        response = client.post(
            f"/api/v1/widget/tickets/{reference}/messages/",
            {"body": "Same click, four replies"},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="reply-double-click",
            **auth,
        )
        return response.status_code, response.json()

    answers = _at_once(4, send)

    # then every request got the first answer and the ticket has one message
    assert len(answers) == 4
    assert {status for status, _ in answers} == {201}
    assert all(body == answers[0][1] for _, body in answers)
    assert TicketMessage.objects.filter(ticket__reference=reference).count() == 1
    assert TicketIdempotencyKey.objects.get(key="reply-double-click").ticket.reference == reference
