"""Sentry error reporting, switched on by SENTRY_DSN; every event sent is logged as a cross-border transfer.

An event leaves for Sentry's servers (`CROSS_BORDER_PROCESSORS["sentry"]`, the US by default), so
`before_send`, after every filter has had its say, records it with `audit.gdpr.transfer_record`: the
categories of data it carries, and `sentry:<event id>` as the pseudonymous reference. (`sample_rate`
stays at 1.0: an event that leaves before_send is sent.)

Writing that row must never cost the error report, and the row must not be lost either. The event is
often raised inside the transaction that failed (on PostgreSQL an aborted transaction refuses every
statement; on SQLite a second connection would wait for the failed request's write lock while the
request waits for us), and the database may be down. So `before_send` touches no database: it appends
the transfer as one JSON line to a local spool file (`SENTRY_TRANSFER_SPOOL`, under DATA_DIR), fsync'd,
which survives a rollback, a dead database and a process that dies. The spool is drained into the
transfer log at once when the thread is outside any transaction, when a request or Celery task ends
(`request_finished`, `task_postrun`), and every minute by `tourbrain_support.tasks.sentry_transfer_log_drain`
(which also picks up what a crashed process left). A drain skips references already in the log, so a
transfer is recorded exactly once however often or concurrently it runs. A drain that fails (the
database is down) is a WARNING and leaves the spool for the next one.

A second database connection in autocommit was the other option; it was not taken because it fails
exactly when the database is down, and on SQLite it would deadlock against the failing request.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

from tourbrain_support import request_context

# WARNING, never ERROR: an ERROR here would itself become a Sentry event and come back through before_send.
logger = logging.getLogger(__name__)

PROCESSOR = "sentry"
# The spool (plus a batch being drained) stops growing here, some 40,000 transfers: enough for days of a
# database outage at any sane error rate, and a disk that cannot fill up with them.
SPOOL_MAX_BYTES = 10 * 1024 * 1024
_REFERENCE_CHUNK = 500  # below every backend's limit on query parameters


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
    """Spool the transfer of this event to Sentry; drained into the log at once when outside a transaction."""
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
        "at": timezone.now().isoformat(),
    }
    _spool_append(transfer)
    if not connection.in_atomic_block:
        transfer_log_flush()


def transfer_log_flush(**_signal_kwargs) -> int:
    """Drain the spool now (a request or task has ended); returns how many rows it wrote. Never raises."""
    try:
        return transfer_log_drain()
    except Exception:
        logger.warning(
            "sentry: transfers to Sentry not recorded yet, kept in %s for the next drain", _spool_path(), exc_info=True
        )
        return 0


def transfer_log_drain() -> int:
    """Record every spooled transfer that is not in the log yet; returns how many rows it wrote.

    Safe to run twice or from several processes at once; raises when the database cannot be written
    (the spool is then left as it was).
    """
    from django.db import connection

    spool = _spool_path()
    batch = _batch_path(spool)
    if not spool.exists() and not batch.exists():
        return 0  # the common case, at the end of every request: two stats, no lock
    with _file_lock(spool.with_name(spool.name + ".drain.lock"), blocking=False) as held:
        if not held:
            return 0  # another thread or process is draining this spool; it takes what we would
        _spool_claim(spool, batch)
        if not batch.exists():
            return 0
        written = _transfers_record_missing(_batch_read(batch))
        # Inside a caller's transaction (a test's) the rows are not committed yet: keep the batch, the next
        # drain finds its references in the log and skips them.
        if not connection.in_atomic_block:
            batch.unlink()
        return written


def transfer_log_discard() -> None:
    """Forget every spooled transfer (tests that end with the reporting client)."""
    spool = _spool_path()
    for path in (spool, _batch_path(spool)):
        path.unlink(missing_ok=True)


def _spool_path() -> Path:
    from django.conf import settings

    return Path(settings.SENTRY_TRANSFER_SPOOL)


def _batch_path(spool: Path) -> Path:
    # Transfers taken off the spool by a drain that has not finished (or failed, or died).
    return spool.with_name(spool.name + ".draining")


@contextlib.contextmanager
def _file_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    # flock on a file of its own: excludes other processes and, with a descriptor per call, other threads.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _spool_append(transfer: dict) -> None:
    spool = _spool_path()
    line = json.dumps(transfer, separators=(",", ":"), sort_keys=True).encode() + b"\n"
    with _file_lock(spool.with_name(spool.name + ".lock")):
        batch = _batch_path(spool)
        queued = (spool.stat().st_size if spool.exists() else 0) + (batch.stat().st_size if batch.exists() else 0)
        if queued + len(line) > SPOOL_MAX_BYTES:
            reference = transfer["reference"]
            logger.warning(
                "sentry: transfer spool %s is full (%d bytes), transfer %s dropped", spool, queued, reference
            )
            return
        fd = os.open(spool, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a process died mid-line: start ours on a line of its own
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if not size:
            _fsync_dir(spool.parent)  # a new file: make its name durable too


def _spool_claim(spool: Path, batch: Path) -> None:
    # Move what is spooled into the batch, under the appenders' lock so no line is half in either.
    with _file_lock(spool.with_name(spool.name + ".lock")):
        if not spool.exists():
            return
        if not batch.exists():
            os.replace(spool, batch)
        else:  # a batch left by a failed drain: add to it, one batch at most (the bound counts both)
            data = spool.read_bytes()
            with open(batch, "ab") as out:
                out.write(b"\n" + data)
                out.flush()
                os.fsync(out.fileno())
            spool.unlink()
        _fsync_dir(spool.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _batch_read(batch: Path) -> list[dict]:
    transfers, seen, unreadable = [], set(), 0
    for raw in batch.read_bytes().splitlines():
        if not raw.strip():
            continue
        try:
            transfer = json.loads(raw)
            reference = transfer["reference"]
        except (ValueError, TypeError, KeyError):
            unreadable += 1  # torn by a process that died while writing it
            continue
        if reference not in seen:
            seen.add(reference)
            transfers.append(transfer)
    if unreadable:
        logger.warning("sentry: %d unreadable line(s) in the transfer spool %s skipped", unreadable, batch)
    return transfers


def _transfers_record_missing(transfers: list[dict]) -> int:
    from django.db import transaction

    from tourbrain_support.api import ApplicationError
    from tourbrain_support.recorders import record_transfer, transfers_recorded

    references = [transfer["reference"] for transfer in transfers]
    written = 0
    # A savepoint when called inside a transaction (a test's), a plain transaction otherwise.
    with transaction.atomic():
        recorded = set()
        for start in range(0, len(references), _REFERENCE_CHUNK):
            recorded.update(transfers_recorded(references[start : start + _REFERENCE_CHUNK]))
        for transfer in transfers:
            if transfer["reference"] in recorded:
                continue
            try:
                record_transfer(**{**transfer, "at": datetime.fromisoformat(transfer["at"])})
            except (ApplicationError, TypeError, ValueError):
                # One bad line (a processor misconfigured when it was written) must not block the rest.
                logger.warning("sentry: spooled transfer %s is invalid, skipped", transfer["reference"], exc_info=True)
                continue
            written += 1
    return written


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
