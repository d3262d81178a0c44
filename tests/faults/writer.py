"""A portal process that writes on command, for fault tests: each write is a transaction that enqueues an
outbox message (and so publishes its delivery task after commit), as ticket changes do.

Run in the portal's environment (`manage.py shell -c "from tests.faults.writer import main; main()"`);
reads commands on stdin, answers one JSON line each:
``email <n>`` -> n emails (keys `fault-<n>`), ``{"keys": [...], "seconds": [...]}`` (each write's duration);
``slack`` -> one Slack message.
"""

import json
import sys
import time

from django.db import transaction

from tickets.models import OutboxMessage
from tickets.outbox import outbox_enqueue


def _write(number: int, channel: str) -> tuple[str, float]:
    key = f"fault-{channel}-{number}"
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


def main() -> None:
    written = 0
    for line in sys.stdin:
        command, *args = line.split()
        results = []
        if command == "email":
            for _ in range(int(args[0])):
                written += 1
                results.append(_write(written, OutboxMessage.Channel.EMAIL))
        elif command == "slack":
            written += 1
            results.append(_write(written, OutboxMessage.Channel.SLACK))
        print(json.dumps({"keys": [key for key, _ in results], "seconds": [s for _, s in results]}), flush=True)
