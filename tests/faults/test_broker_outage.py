"""Redis goes away and comes back (empty) while the worker holds unacknowledged tasks and writes go on:
the worker survives and reconnects, writes never wait on the broker, and every message is delivered once.

Whether the worker used to die depended on which of its Redis sockets saw the outage first; with a task
waiting for its countdown it died in most outages, so the test goes through two (one of each kind of stop).
Waits are for what the worker logs and what the mail server receives, with budgets stretched by the load.
"""

import statistics
import threading
from collections import Counter

from tests.servers import Reply
from tests.waiting import wait_until

# Celery's own publish retries sleep about 0.6 s per write while the broker is down (whatever the load);
# a write that publishes once and gives up costs what a write with the broker up costs.
RETRY_SECONDS = 0.3
OUTAGES = 2  # one SIGKILL (host gone), one SIGTERM (service stop)
COUNTDOWN_SECONDS = 3600  # never due during the test: the task stays held, unacknowledged


def test_redis_outages_with_unacknowledged_tasks_worker_survives_and_everything_is_delivered_once(
    portal, redis_server, task_sender, smtp_server, http_server
):
    env = portal.env(
        CELERY_BROKER_URL=redis_server.url(0),
        EMAIL_URL=smtp_server.email_url,
        SLACK_WEBHOOK_URL=http_server.url("/hook"),
        # Every write tries to publish (no circuit-breaker pause): each one shows whether publishing waits.
        BROKER_PUBLISH_PAUSE_SECONDS="0",
    )
    worker = portal.worker(env)
    writer = portal.writer(env)

    def delivered(count: int, what: str) -> None:
        wait_until(
            lambda: len(smtp_server.messages) >= count,
            budget=30,
            what=f"{what} ({len(smtp_server.messages)} of {count} emails)",
            progress=lambda: (len(smtp_server.messages), worker.log_path.stat().st_size),
            details=lambda: worker.log_text()[-3000:],
        )

    # given messages written and delivered with Redis up
    keys, up_seconds = writer.emails(3)
    delivered(3, "the first emails delivered")
    # and a delivery running in the worker, unacknowledged (a slow webhook)
    http_server.script([Reply(delay=3)])
    webhook_called = threading.Event()
    http_server.on_request = lambda request: webhook_called.set()
    slack_keys, slack_seconds = writer.slack()
    up_seconds += slack_seconds
    wait_until(
        webhook_called.is_set,
        budget=30,
        what="the webhook delivery running in the worker",
        progress=lambda: worker.log_path.stat().st_size,
        details=lambda: worker.log_text()[-3000:],
    )

    outage_seconds: list[float] = []
    for outage in range(1, OUTAGES + 1):
        # and a task waiting for its countdown in the worker, unacknowledged
        held = task_sender.send_task(
            "tourbrain_support.tasks.ping", kwargs={"note": "later"}, countdown=COUNTDOWN_SECONDS
        )
        worker.wait_for_log(f"[{held.id}] received")

        # when Redis stops (losing every key) while writes go on, then comes back
        redis_server.stop(graceful=outage % 2 == 0)
        worker.wait_for_log("Connection to broker lost", count=outage)
        for _ in range(3):
            more_keys, more_seconds = writer.emails(3)
            keys, outage_seconds = keys + more_keys, outage_seconds + more_seconds
        redis_server.start()

        # then the worker is the same process, connected again
        worker.wait_for_log("Connected to", count=outage + 1)
        assert worker.alive()
        assert "Unrecoverable error" not in worker.log_text()

    # and no write waited on the broker: during the outages a write costs what one with the broker up costs
    # (medians: a busy machine delays some writes at random, a publish that retries delays every one)
    more_keys, more_seconds = writer.emails(3)
    keys, up_seconds = keys + more_keys, up_seconds + more_seconds
    assert statistics.median(outage_seconds) < statistics.median(up_seconds) + RETRY_SECONDS, (
        up_seconds,
        outage_seconds,
    )

    # when the periodic delivery runs (as beat sends it every 30 s)
    task_sender.send_task("tourbrain_support.notifications.tasks.deliver_pending_outbox")

    # then every email went out exactly once, and the webhook got its one message
    delivered(len(keys), "every email delivered after the outages")
    second = task_sender.send_task(
        "tourbrain_support.notifications.tasks.deliver_pending_outbox"
    )  # a second run finds nothing left to send
    worker.wait_for_log(f"[{second.id}] succeeded")
    delivered_keys = Counter(received.message["X-TourBrain-Outbox-Key"] for received in smtp_server.messages)
    assert delivered_keys == Counter(keys)
    assert [request.path for request in http_server.requests] == ["/hook"]
    assert portal.database.outbox(keys + slack_keys) == dict.fromkeys(keys + slack_keys, "sent")
