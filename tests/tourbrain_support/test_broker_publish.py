"""Writes never wait on a broker that is down: one publish attempt, then a pause (circuit breaker)."""

import logging
import time

import pytest
from celery.signals import before_task_publish
from django.db import transaction

from tests.celery_utils import broker_down
from tourbrain_support import broker
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_enqueue
from tourbrain_support.notifications.tasks import deliver_outbox_message

pytestmark = pytest.mark.django_db


def _enqueue(number: int) -> OutboxMessage:
    return outbox_enqueue(
        kind="test.publish",
        channel=OutboxMessage.Channel.EMAIL,
        recipient="someone@example.com",
        subject=f"Message {number}",
        body="Body",
        idempotency_key=f"publish-test-{number}",
    )


def test_a_write_with_the_broker_down_does_not_wait_for_publish_retries(django_capture_on_commit_callbacks):
    # given the broker is down (a closed port) and one publish has already been tried (imports, pools)
    with broker_down(), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        _enqueue(0)
    broker.publish_resume()

    # when writes commit while it stays down
    timings = []
    with broker_down():
        for number in range(1, 6):
            started = time.monotonic()
            with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
                _enqueue(number)
            timings.append(time.monotonic() - started)

    # then none waits for Celery's publish retries (about 0.6 s each before the fix)
    assert max(timings) < 0.2, timings
    # and every row is there, pending for the periodic delivery
    assert OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).count() == 6


def test_after_a_failed_publish_the_next_writes_skip_the_broker_until_the_pause_ends(settings, caplog):
    settings.BROKER_PUBLISH_PAUSE_SECONDS = 0.3
    attempts = []

    def count(sender=None, **_kwargs):
        attempts.append(sender)

    before_task_publish.connect(count)
    try:
        with broker_down(), caplog.at_level(logging.WARNING, logger="tourbrain_support.broker"):
            # when three publishes follow one another with the broker down
            assert broker.publish(deliver_outbox_message, 1) is False
            assert broker.publish(deliver_outbox_message, 2) is False
            assert broker.publish(deliver_outbox_message, 3) is False
            # then only the first tried the broker, and the pause was logged once
            assert attempts == ["tourbrain_support.notifications.tasks.deliver_outbox_message"]
            assert len([r for r in caplog.records if "publishing paused" in r.getMessage()]) == 1

            # when the pause is over, the next publish tries again
            time.sleep(0.35)
            assert broker.publish(deliver_outbox_message, 4) is False
            assert len(attempts) == 2
    finally:
        before_task_publish.disconnect(count)
