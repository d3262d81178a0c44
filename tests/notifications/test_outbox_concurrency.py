"""Two workers delivering the same outbox rows at the same time send each message once (PostgreSQL)."""

import threading
from collections import Counter

import pytest
from django.db import connection

from tests.servers import Reply
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_deliver, outbox_deliver_due, outbox_enqueue

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent writers need a server database (runs on PostgreSQL)"
    ),
]

MESSAGES = 30


@pytest.fixture
def slack(settings, http_server):
    settings.SLACK_WEBHOOK_URL = http_server.url("/hook")
    # A little latency so the two workers' sends overlap in time.
    http_server.default = Reply(200, body="ok", delay=0.005)
    return http_server


def _enqueue(count: int) -> list[int]:
    return [
        outbox_enqueue(
            kind="sla.breach",
            channel="slack",
            recipient="default",
            subject=f"TB-{n:06d}",
            body="breached",
            idempotency_key=f"sla.breach:{n}",
        ).pk
        for n in range(count)
    ]


def _run_concurrently(*targets) -> list[BaseException]:
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target):
        try:
            barrier.wait()
            target()
        except BaseException as error:  # surfaced by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_two_workers_delivering_the_same_rows_send_each_once(slack):
    # given due messages, and two workers each told to deliver every one of them
    ids = _enqueue(MESSAGES)

    def worker(order):
        return lambda: [outbox_deliver(message_id) for message_id in order]

    # when both run at the same time (one in order, one in reverse)
    errors = _run_concurrently(worker(ids), worker(list(reversed(ids))))

    # then each message was posted exactly once and each row claimed once
    assert errors == []
    texts = Counter(request.json()["text"] for request in slack.requests)
    assert len(texts) == MESSAGES
    assert set(texts.values()) == {1}
    assert set(OutboxMessage.objects.values_list("status", "attempts")) == {(OutboxMessage.Status.SENT, 1)}


def test_two_periodic_deliveries_at_once_split_the_rows(slack):
    # given due messages
    _enqueue(MESSAGES)

    # when two periodic deliveries run at the same time, in small batches
    errors = _run_concurrently(lambda: outbox_deliver_due(batch_size=5), lambda: outbox_deliver_due(batch_size=5))

    # then every message went out once
    assert errors == []
    texts = Counter(request.json()["text"] for request in slack.requests)
    assert len(texts) == MESSAGES
    assert set(texts.values()) == {1}
    assert OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT).count() == MESSAGES
