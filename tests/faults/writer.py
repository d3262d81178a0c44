"""A portal process that writes on command, for fault tests: each write is a transaction that enqueues an
outbox message (and so publishes its delivery task after commit), as ticket changes do.

Run in the portal's environment (`manage.py shell -c "from tests.faults.writer import main; main()"`);
reads commands on stdin, answers one JSON line each:
``email <n>`` -> n emails (keys `fault-<run>-email-<n>`), ``{"keys": [...], "seconds": [...]}`` (each write's duration);
``burst <n>`` -> n emails in one transaction (so one delivery task for all); ``slack`` -> one Slack message.
"""

import json
import sys
import time
import uuid

from django.db import transaction

from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import OutboxItem, outbox_enqueue, outbox_enqueue_many

# Keys are unique per writer process: tests share the session's database.
RUN = uuid.uuid4().hex[:8]


def _write(number: int, channel: str) -> tuple[str, float]:
    key = f"fault-{RUN}-{channel}-{number}"
    started = time.monotonic()
    with transaction.atomic():
        outbox_enqueue(
            kind="faults.test",
            channel=channel,
            recipient=f"person{number}@example.com" if channel == OutboxMessage.Channel.EMAIL else "default",
            subject=f"Fault test {number}",
            body=f"Message {number}",
            idempotency_key=key,
        )
    return key, time.monotonic() - started


def _burst(first: int, count: int) -> tuple[list[str], float]:
    started = time.monotonic()
    items = [
        OutboxItem(
            kind="faults.test",
            channel=OutboxMessage.Channel.EMAIL,
            recipient=f"person{number}@example.com",
            subject=f"Fault test {number}",
            body=f"Message {number}",
            idempotency_key=f"fault-{RUN}-burst-{number}",
        )
        for number in range(first, first + count)
    ]
    with transaction.atomic():
        outbox_enqueue_many(items)
    return [item.idempotency_key for item in items], time.monotonic() - started


def main() -> None:
    written = 0
    for line in sys.stdin:
        command, *args = line.split()
        results = []
        if command == "email":
            for _ in range(int(args[0])):
                written += 1
                results.append(_write(written, OutboxMessage.Channel.EMAIL))
        elif command == "burst":
            keys, seconds = _burst(written + 1, int(args[0]))
            written += len(keys)
            results = [(key, seconds) for key in keys]
        elif command == "slack":
            written += 1
            results.append(_write(written, OutboxMessage.Channel.SLACK))
        print(json.dumps({"keys": [key for key, _ in results], "seconds": [s for _, s in results]}), flush=True)
