"""Audit and compliance alerts: the log line and Sentry message of a failure; people are told by the alert rules.

`audit_alert_raise(kind=, message=, details=)` does, each step independent of the next:

1. an ERROR line on the `audit.alerts` logger (log-based alerting sees it whatever else is down);
2. a Sentry message tagged `alert_kind` (the logging integration's copy of line 1 is dropped in
   `tourbrain_support.sentry`, so Sentry gets one event per alert);
3. for a failure whose alert source cannot read it from the audit app's own rows (a failed verification:
   the run's audit row is the very write a broken trail may refuse), a recorded failure in the alerting
   app's table (`tourbrain_support.alerting.services.failure_record`), in its own transaction or savepoint.

Steps 1 and 2 do not depend on the database. Nothing here notifies anyone: the enabled alert rules on the
audit sources (`audit.alert_sources`: AuditVerificationFailed, BackupFailed, LoginLockouts,
DataSubjectRequestOverdue) fire on the next evaluation tick and email every active admin and auditor
(`role:admin`, `role:auditor` channels; critical ones page the on-call), with the failure's details as
the alert's annotations, repeats (24 h; 1 h for lockouts), a resolve when the failure is fixed and
silences, like every other rule. Lines 1 and 2 are not deduplicated: the log and Sentry (which groups
repeats) keep every occurrence.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.utils import timezone

from tourbrain_support.alerting.services import failure_record

alert_logger = logging.getLogger("audit.alerts")  # one ERROR line per alert, nothing else
# Trouble while alerting: a WARNING elsewhere, so the alert stream (and Sentry) is not doubled by it.
logger = logging.getLogger("audit.alerting")


class AlertKind:
    """The alerts raised today (free text in the log and on Sentry: a new kind needs nothing else)."""

    AUDIT_VERIFY_FAILED = "audit.verify_failed"
    BACKUP_FAILED = "backup.failed"
    BACKUP_VERIFY_FAILED = "backup.verify_failed"
    RESTORE_DRILL_FAILED = "backup.drill_failed"
    RESTORE_DRILL_OVER_RTO = "backup.drill_over_rto"
    LOGIN_LOCKOUT = "security.lockout"
    GDPR_REQUEST_OVERDUE = "gdpr.request_overdue"


# Kinds whose source reads the recorded failure (the others' sources read the audit app's own rows).
RECORDED_KINDS = {AlertKind.AUDIT_VERIFY_FAILED}


def audit_alert_raise(
    *, kind: str, message: str, details: dict[str, Any] | None = None, now: datetime | None = None
) -> bool:
    """Log, report to Sentry and, for a recorded kind, record the failure for its alert source; True when a
    failure was recorded. Never raises."""
    details = details or {}
    alert_logger.error(message, extra={"alert_kind": kind, "alert_details": details})
    _sentry_capture(kind=kind, message=message, details=details)
    if kind in RECORDED_KINDS:
        return failure_record(name=kind, detail=" ".join(message.split()), at=now or timezone.now())
    return False


def _sentry_capture(*, kind: str, message: str, details: dict[str, Any]) -> None:
    try:
        import sentry_sdk

        with sentry_sdk.new_scope() as scope:
            scope.set_tag("alert_kind", kind)
            scope.set_context("alert", dict(details))
            sentry_sdk.capture_message(message, level="error")
    except Exception:  # reporting the alert must not raise into the job that failed
        logger.warning("audit alert %s: could not send the Sentry message", kind, exc_info=True)
