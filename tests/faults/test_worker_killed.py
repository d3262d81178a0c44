"""A worker killed (SIGKILL) in the middle of a delivery task: the rerun sends what was left, exactly once.

The task was sending a burst of five emails over one SMTP connection; the mail server holds its answer to
the third recipient, and the worker dies there. The two sent stay sent; the three claimed are taken over
once their lease is over and go out once each.
"""

import time
from collections import Counter

from celery import Celery


def test_worker_killed_mid_delivery_the_rerun_sends_each_message_exactly_once(portal, redis_server, smtp_server):
    env = portal.env(
        CELERY_BROKER_URL=redis_server.url(0),
        EMAIL_URL=smtp_server.email_url,
        OUTBOX_LEASE_SECONDS="3",
        OUTBOX_SEND_TIMEOUT="1",
    )
    worker = portal.worker(env)
    writer = portal.writer(env)
    sender = Celery("faults-sender", broker=redis_server.url(0))

    # given a mail server that holds its answer to the third recipient
    smtp_server.rcpt_delays = [0, 0, 10]

    # when five messages go to the worker as one task and the worker is killed while it sends the third
    keys, _ = writer.burst(5)
    deadline = time.monotonic() + 30
    while smtp_server.rcpts < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert smtp_server.rcpts == 3, worker.log_text()[-3000:]
    worker.kill()

    # then two went out and three are left claimed, none half-recorded
    assert [received.message["X-TourBrain-Outbox-Key"] for received in smtp_server.messages] == keys[:2]
    assert portal.database.outbox(keys) == {**dict.fromkeys(keys[:2], "sent"), **dict.fromkeys(keys[2:], "sending")}

    # when another worker runs the periodic delivery (as beat does) until their lease is over
    portal.worker(env, name="worker-2")
    deadline = time.monotonic() + 30
    while portal.database.outbox(keys) != dict.fromkeys(keys, "sent") and time.monotonic() < deadline:
        sender.send_task("tourbrain_support.notifications.tasks.deliver_pending_outbox")
        time.sleep(1)

    # then each message was delivered exactly once: the first two once, the other three on their second attempt
    delivered = Counter(received.message["X-TourBrain-Outbox-Key"] for received in smtp_server.messages)
    assert {key: delivered[key] for key in keys} == dict.fromkeys(keys, 1)
    assert portal.database.outbox(keys) == dict.fromkeys(keys, "sent")
    assert portal.database.outbox(keys, "attempts") == {**dict.fromkeys(keys[:2], 1), **dict.fromkeys(keys[2:], 2)}
