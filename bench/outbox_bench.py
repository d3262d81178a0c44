"""Notification outbox throughput against a local SMTP server and a local HTTP (Slack) server.

`python -m bench outbox` on the configured database (PostgreSQL for `make bench`). Measures:
- enqueue: rows per second written in batches (`outbox_enqueue_many`, the sweep's path);
- delivery by the periodic task (`outbox_deliver_due`: one SMTP connection per batch);
- delivery one task per message (`outbox_deliver`: one SMTP connection each), the path after commit;
- Slack posts per second through the webhook client;
- the redelivery scan with nothing due over a large backlog of sent rows (the partial index at work).
Rows it writes carry a run-specific key prefix and are deleted at the end.
"""

import time
import uuid

from django.conf import settings
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from tests.servers import HTTPServer, SMTPServer
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import (
    OutboxItem,
    outbox_claim_due,
    outbox_deliver,
    outbox_deliver_due,
    outbox_deliver_many,
    outbox_enqueue_many,
)

EMAILS = 2000
SINGLE = 300
SLACK = 500
BACKLOG = 200_000


def _items(prefix: str, count: int, channel: str = "email") -> list[OutboxItem]:
    return [
        OutboxItem(
            kind="sla.warning",
            channel=channel,
            recipient="default" if channel == "slack" else f"rep{n % 50}@bench.test",
            subject=f"[TB-{n:06d}] SLA warning: first response due soon",
            body="The first response target is close.\n\nLink: http://127.0.0.1:8000/queue/TB-000001/\n" * 3,
            idempotency_key=f"{prefix}:{channel}:{n}",
        )
        for n in range(count)
    ]


def _rate(label: str, count: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    print(f"  {label:<58} {count:>7,} in {elapsed:6.2f} s = {count / elapsed:>8,.0f} /s", flush=True)


def main() -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    smtp, http = SMTPServer().start(), HTTPServer().start()
    overrides = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": smtp.host,
        "EMAIL_PORT": smtp.port,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
        "SLACK_WEBHOOK_URL": http.url("/hook"),
    }
    print(f"  database: {connection.vendor}; outbox rows before: {OutboxMessage.objects.count():,}")
    try:
        with override_settings(**overrides):
            started = time.perf_counter()
            for offset in range(0, EMAILS, 500):
                # Outside a transaction the on-commit publish runs at once: this includes the task publishes.
                outbox_enqueue_many(_items(f"{prefix}:a{offset}", 500))
            _rate("enqueue in batches of 500, incl. publishing delivery tasks", EMAILS, started)

            started = time.perf_counter()
            with override_settings(OUTBOX_RECORD_GROUP=25):
                counts = outbox_deliver_due(batch_size=100, max_batches=1000)
            _rate("email, periodic delivery (1 connection per 100, 25 marked per statement)", counts["sent"], started)
            assert counts["sent"] == EMAILS, counts
            assert len(smtp.messages) == EMAILS, len(smtp.messages)

            # Reference, same run: each message marked sent right after its send (the default, OUTBOX_RECORD_GROUP=1).
            outbox_enqueue_many(_items(f"{prefix}:ref", EMAILS // 4))
            started = time.perf_counter()
            with override_settings(OUTBOX_RECORD_GROUP=1):
                counts = outbox_deliver_due(batch_size=100, max_batches=1000)
            _rate("  reference: the same, one commit per message", counts["sent"], started)

            created = outbox_enqueue_many(_items(f"{prefix}:single", SINGLE))
            started = time.perf_counter()
            for message in created:
                outbox_deliver(message.pk)
            _rate("email, one task per message (connection each)", SINGLE, started)

            created = outbox_enqueue_many(_items(f"{prefix}:chunk", EMAILS))
            ids = [message.pk for message in created]
            started = time.perf_counter()
            for start in range(0, len(ids), settings.OUTBOX_TASK_CHUNK):
                outbox_deliver_many(ids[start : start + settings.OUTBOX_TASK_CHUNK])
            _rate(f"email, burst in tasks of {settings.OUTBOX_TASK_CHUNK} (connection each)", EMAILS, started)

            outbox_enqueue_many(_items(f"{prefix}:slack", SLACK, channel="slack"))
            started = time.perf_counter()
            counts = outbox_deliver_due(batch_size=100, max_batches=1000)
            _rate("slack webhook posts", counts["sent"], started)
            assert len(http.requests) == SLACK

        _backlog_scan(prefix)
    finally:
        deleted, _ = OutboxMessage.objects.filter(idempotency_key__startswith=prefix).delete()
        print(f"  cleaned up {deleted:,} bench rows")
        smtp.stop()
        http.stop()


def _backlog_scan(prefix: str) -> None:
    """The periodic scan with nothing due over BACKLOG sent rows: must stay index-only and flat."""
    now = timezone.now()
    started = time.perf_counter()
    batch = 10_000
    for offset in range(0, BACKLOG, batch):
        OutboxMessage.objects.bulk_create(
            [
                OutboxMessage(
                    kind="sla.warning",
                    channel="email",
                    recipient="rep@bench.test",
                    subject="s",
                    body="b",
                    idempotency_key=f"{prefix}:sent:{offset + n}",
                    status=OutboxMessage.Status.SENT,
                    attempts=1,
                    sent_at=now,
                    next_attempt_at=now,
                )
                for n in range(batch)
            ]
        )
    _rate("backlog of sent rows written", BACKLOG, started)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {OutboxMessage._meta.db_table}")
    runs = 50
    started = time.perf_counter()
    for _ in range(runs):
        assert outbox_claim_due(limit=100) == []
    per_scan_ms = (time.perf_counter() - started) / runs * 1000
    print(f"  redelivery scan, nothing due, {BACKLOG:,} sent rows: {per_scan_ms:.2f} ms per scan", flush=True)
    print(f"  (lease {settings.OUTBOX_LEASE_SECONDS} s, max attempts {settings.OUTBOX_MAX_ATTEMPTS})")
