"""Concurrent submits with one Idempotency-Key (PostgreSQL): one ticket, every answer the same."""

import threading

import pytest
from django.db import connection
from django.test import Client

from tests.widget_tokens import bearer, claims, hs256
from tickets.models import Ticket, TicketIdempotencyKey

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
