"""A worker killed (SIGKILL) in the middle of a delivery task: the rerun sends what was left, exactly once.

The task was sending a burst of five emails over one SMTP connection; the mail server kills the worker
when the third recipient arrives, before answering it, so the worker dies there whatever the machine's
load. The two sent stay sent; the three claimed are left alone while their lease holds, and once it is
over they are taken over and go out once each.

The lease and the send timeout are long, so a busy machine can neither hand the burst back early (a
worker gives back a batch whose lease would end within two send timeouts) nor time out a send and count
an attempt too many. Rather than wait out the lease, the test ends the lease in the database, as the
clock would; the lease arithmetic itself is tested with a clock in tests/tickets/test_outbox.py.
"""

import os
import signal
from collections import Counter

from tests.waiting import wait_until

LEASE_SECONDS = 600  # longer than a worker takes to start on the busiest machine
SEND_TIMEOUT_SECONDS = 10


def test_worker_killed_mid_delivery_the_rerun_sends_each_message_exactly_once(
    portal, redis_server, task_sender, smtp_server
):
    env = portal.env(
        CELERY_BROKER_URL=redis_server.url(0),
        EMAIL_URL=smtp_server.email_url,
        OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
        OUTBOX_SEND_TIMEOUT=str(SEND_TIMEOUT_SECONDS),
    )
    worker = portal.worker(env)
    writer = portal.writer(env)

    # given a mail server that kills the worker (its whole process group) when the third recipient arrives
    def kill_at_the_third(number: int) -> None:
        if number == 3:
            os.killpg(worker.process.pid, signal.SIGKILL)

    smtp_server.on_rcpt = kill_at_the_third

    # when five messages go to the worker as one task
    keys, _ = writer.burst(5)
    wait_until(
        lambda: not worker.alive(),
        budget=30,
        what="the worker reaching the third recipient",
        progress=lambda: (smtp_server.rcpts, worker.log_path.stat().st_size),
        details=lambda: worker.log_text()[-3000:],
    )
    smtp_server.on_rcpt = None
    assert smtp_server.rcpts == 3, worker.log_text()[-3000:]

    # then two went out and three are left claimed, none half-recorded
    sent_and_claimed = {**dict.fromkeys(keys[:2], "sent"), **dict.fromkeys(keys[2:], "sending")}
    assert [received.message["X-TourBrain-Outbox-Key"] for received in smtp_server.messages] == keys[:2]
    assert portal.database.outbox(keys) == sent_and_claimed

    # when another worker runs the periodic delivery (as beat does) while the lease holds
    rerun_worker = portal.worker(env, name="worker-2")
    early = task_sender.send_task("tourbrain_support.notifications.tasks.deliver_pending_outbox")
    rerun_worker.wait_for_log(f"[{early.id}] succeeded")

    # then it leaves the claimed messages alone
    assert portal.database.outbox(keys) == sent_and_claimed
    assert len(smtp_server.messages) == 2

    # when the lease is over (ended in the database, as the clock would) and the periodic delivery runs again
    ended = portal.database.query(
        "UPDATE tickets_outboxmessage SET next_attempt_at = now() WHERE idempotency_key = ANY(%s) "
        "AND status = 'sending' RETURNING id",
        (keys,),
    )
    assert len(ended) == 3
    late = task_sender.send_task("tourbrain_support.notifications.tasks.deliver_pending_outbox")
    rerun_worker.wait_for_log(f"[{late.id}] succeeded")

    # then each message was delivered exactly once: the first two once, the other three on their second attempt
    delivered = Counter(received.message["X-TourBrain-Outbox-Key"] for received in smtp_server.messages)
    assert {key: delivered[key] for key in keys} == dict.fromkeys(keys, 1)
    assert portal.database.outbox(keys) == dict.fromkeys(keys, "sent")
    assert portal.database.outbox(keys, "attempts") == {**dict.fromkeys(keys[:2], 1), **dict.fromkeys(keys[2:], 2)}
