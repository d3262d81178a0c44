"""Sentry error reporting, switched on by SENTRY_DSN; every event sent is logged as a cross-border transfer.

An event leaves for Sentry's servers (`CROSS_BORDER_PROCESSORS["sentry"]`, the US by default), so
`before_send`, after every filter has had its say, records it with `audit.gdpr.transfer_record`: the
categories of data it carries, and `sentry:<event id>` as the pseudonymous reference. (`sample_rate`
stays at 1.0: an event that leaves before_send is sent.)

Writing that row must never cost the error report. The event is often raised inside the transaction
that failed (on PostgreSQL an aborted transaction refuses every statement; on SQLite a second
connection would wait for the failed request's write lock while the request waits for us), so a row
is written at once only when the thread is outside any transaction; otherwise it is kept in a
per-thread list and written when the request or Celery task ends (`request_finished`, `task_postrun`),
after its transaction has been committed or rolled back, or at the next event raised outside a
transaction. That needs neither a second connection nor a thread. A failed write (the database is
down) is logged at WARNING and dropped; the event is sent either way.
"""

from __future__ import annotations

import logging
import threading

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

from tourbrain_support import request_context

# WARNING, never ERROR: an ERROR here would itself become a Sentry event and come back through before_send.
logger = logging.getLogger(__name__)

PROCESSOR = "sentry"
# Transfers waiting for their thread's transaction to end; bounded so a long-lived thread that never
# finishes a request (a shell) cannot grow it without end.
PENDING_LIMIT = 200
_pending = threading.local()


def _tag_request_id(event, hint):
    # The same id is on every log line of the request or task: it joins a Sentry event to its logs.
    request_id = request_context.get_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def _is_alert_log_copy(hint) -> bool:
    # `audit.alerts.audit_alert_raise` sends its own tagged message; the logging integration's copy of
    # its ERROR line would be a second event (and a second transfer) for the same alert.
    record = (hint or {}).get("log_record")
    return record is not None and getattr(record, "alert_kind", None) is not None


def _before_send(event, hint):
    if _is_alert_log_copy(hint):
        return None
    event = _tag_request_id(event, hint)
    try:
        transfer_log_event(event)
    except Exception:  # never lose the report over its log entry
        logger.warning("sentry: could not record the transfer of event %s", event.get("event_id"), exc_info=True)
    return event


def event_data_categories(event: dict) -> list[str]:
    """What personal data categories an event carries: always technical (stack, messages, breadcrumbs)."""
    categories = {"technical"}
    if event.get("request"):
        categories.add("request_metadata")
    user = event.get("user") or {}
    if user.get("id") or user.get("username"):
        categories.add("user_identifier")
    if user.get("email"):
        categories.add("contact")
    if user.get("ip_address"):
        categories.add("ip_address")
    return sorted(categories)


def transfer_log_event(event: dict) -> None:
    """Record (now, or when the thread's transaction has ended) that this event goes to Sentry."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    processor = settings.CROSS_BORDER_PROCESSORS.get(PROCESSOR) or {}
    if not processor.get("country"):
        return  # Sentry in our own region: not a cross-border transfer
    transfer = {
        "recipient": processor["recipient"],
        "country": processor["country"],
        "legal_basis": processor["legal_basis"],
        "data_categories": event_data_categories(event),
        "purpose": f"error report ({event.get('level') or 'error'})",
        "reference": f"sentry:{event.get('event_id') or ''}",
        "at": timezone.now(),
    }
    pending = _pending_list()
    if len(pending) >= PENDING_LIMIT:
        logger.warning("sentry: transfer log backlog full, dropping the oldest entry")
        del pending[0]
    pending.append(transfer)
    if not connection.in_atomic_block:
        transfer_log_flush()


def transfer_log_flush(**_signal_kwargs) -> int:
    """Write this thread's waiting transfers; returns how many were written. Never raises."""
    pending = _pending_list()
    if not pending:
        return 0
    from django.db import transaction

    from audit.gdpr import transfer_record

    batch, pending[:] = list(pending), []
    try:
        # A savepoint when called inside a transaction (a test's), a plain transaction otherwise.
        with transaction.atomic():
            for transfer in batch:
                transfer_record(**transfer)
    except Exception:
        logger.warning("sentry: %d transfer(s) to Sentry not recorded", len(batch), exc_info=True)
        return 0
    return len(batch)


def transfer_log_discard() -> None:
    """Forget this thread's waiting transfers (tests that end with the reporting client)."""
    _pending_list().clear()


def _pending_list() -> list[dict]:
    if not hasattr(_pending, "items"):
        _pending.items = []
    return _pending.items


def _register_flush_hooks() -> None:
    from celery.signals import task_postrun
    from django.core.signals import request_finished

    request_finished.connect(transfer_log_flush, dispatch_uid="tourbrain_support.sentry.transfer_log_flush")
    task_postrun.connect(transfer_log_flush, dispatch_uid="tourbrain_support.sentry.transfer_log_flush")


def init_sentry(
    *, dsn: str, environment: str, release: str, send_default_pii: bool, traces_sample_rate: float, transport=None
) -> bool:
    """Initialise Sentry when a DSN is configured; returns whether it did."""
    if not dsn:
        return False
    options = {
        "dsn": dsn,
        "environment": environment,
        "release": release or None,
        "send_default_pii": send_default_pii,
        "traces_sample_rate": traces_sample_rate,
        "integrations": [DjangoIntegration(), CeleryIntegration(), LoggingIntegration()],
        "before_send": _before_send,
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
    _register_flush_hooks()
    return True
