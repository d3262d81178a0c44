"""Redis goes away and comes back (empty) while the worker holds unacknowledged tasks and writes go on:
the worker survives and reconnects, writes never wait on the broker, and every message is delivered once.

Whether the worker used to die depended on which of its Redis sockets saw the outage first; with a task
waiting for its countdown it died in most outages, so the test goes through several.
"""

import threading
from collections import Counter

from celery import Celery

from tests.servers import Reply

WRITE_SECONDS_LIMIT = 0.5  # a write's transaction plus its publish; ~0.65 s each when publishing retried
OUTAGES = 3


def test_redis_outages_with_unacknowledged_tasks_worker_survives_and_everything_is_delivered_once(
    portal, redis_server, smtp_server, http_server
):
    env = portal.env(
        CELERY_BROKER_URL=redis_server.url(0),
        EMAIL_URL=smtp_server.email_url,
        SLACK_WEBHOOK_URL=http_server.url("/hook"),
        BROKER_PUBLISH_PAUSE_SECONDS="1",
    )
    worker = portal.worker(env)
    writer = portal.writer(env)
    sender = Celery("faults-sender", broker=redis_server.url(0))
    sender.conf.broker_connection_retry_on_startup = True

    # given messages written and delivered with Redis up
    keys, seconds = writer.emails(3)
    smtp_server.wait_for(3, timeout=30)
    # and a delivery running in the worker, unacknowledged (a slow webhook)
    http_server.script([Reply(delay=3)])
    webhook_called = threading.Event()
    http_server.on_request = lambda request: webhook_called.set()
    slack_keys, slack_seconds = writer.slack()
    assert webhook_called.wait(30), worker.log_text()[-3000:]
    seconds += slack_seconds

    for outage in range(1, OUTAGES + 1):
        # and a task waiting for its countdown in the worker, unacknowledged
        sender.send_task("tourbrain_support.tasks.ping", kwargs={"note": "later"}, countdown=120)
        worker.wait_for_log("tourbrain_support.tasks.ping[", count=outage)  # "[": not the banner's task list

        # when Redis stops (losing every key) while writes go on, then comes back
        redis_server.stop(graceful=outage % 2 == 0)
        worker.wait_for_log("Connection to broker lost", count=outage)
        for _ in range(2):
            more_keys, more_seconds = writer.emails(3)
            keys, seconds = keys + more_keys, seconds + more_seconds
        redis_server.start()

        # then the worker is the same process, connected again
        worker.wait_for_log("Connected to", count=outage + 1, timeout=60)
        assert worker.alive()
        assert "Unrecoverable error" not in worker.log_text()

    # and no write waited on the broker, during the outages or after
    more_keys, more_seconds = writer.emails(3)
    keys, seconds = keys + more_keys, seconds + more_seconds
    assert max(seconds) < WRITE_SECONDS_LIMIT, seconds

    # when the periodic delivery runs (as beat sends it every 30 s)
    sender.send_task("tourbrain_support.notifications.tasks.deliver_pending_outbox")

    # then every email went out exactly once, and the webhook got its one message
    smtp_server.wait_for(len(keys), timeout=60)
    sender.send_task(
        "tourbrain_support.notifications.tasks.deliver_pending_outbox"
    )  # a second run finds nothing left to send
    worker.wait_for_log(
        "tourbrain_support.notifications.tasks.deliver_pending_outbox[", count=4
    )  # each run: received, succeeded
    delivered = Counter(received.message["X-TourBrain-Outbox-Key"] for received in smtp_server.messages)
    assert delivered == Counter(keys)
    assert [request.path for request in http_server.requests] == ["/hook"]
    assert portal.database.outbox(keys + slack_keys) == dict.fromkeys(keys + slack_keys, "sent")
