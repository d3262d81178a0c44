"""The audit app's values for alert rules: a failed verification, failed backups, lockouts, overdue
data-subject requests and the deployment freeze (registered at start-up; the core never imports this app).

Each value says what lies behind it in annotations (the failure, the runs, the masked lockout labels, the
request numbers: never an email or an IP address), which the rules' notifications show. The verification
and backup values stay up until a later run succeeds, so their rules resolve when the failure is fixed.
"""

from datetime import datetime, timedelta

from django.conf import settings

from audit.alerts import AlertKind
from audit.models import AuditEvent, BackupRun, DataSubjectRequest, DeploymentFreeze
from audit.security import lockouts_active
from tourbrain_support.alerting.selectors import failure_latest
from tourbrain_support.alerting.sources import SourceValue, register_source

LISTED = 20  # labels or requests named in an annotation; the rest are counted


def _page(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _listed(items: list[str]) -> str:
    more = len(items) - LISTED
    return ", ".join(items[:LISTED]) + (f" and {more} more" if more > 0 else "")


def _verify_failed(window: timedelta, now: datetime) -> SourceValue:
    """1 from a failed verification (recorded before its audit row, which a broken trail may refuse) until a
    later verification succeeds; 2 queries."""
    failure = failure_latest(AlertKind.AUDIT_VERIFY_FAILED, at=now)
    if failure is None:
        return SourceValue(0.0)
    passed = AuditEvent.objects.filter(
        action=AuditEvent.Action.VERIFY, success=True, occurred_at__gt=failure.sampled_at, occurred_at__lte=now
    ).exists()
    if passed:
        return SourceValue(0.0)
    return SourceValue(
        1.0,
        {
            "problem": failure.detail,
            "failed at": f"{failure.sampled_at:%Y-%m-%d %H:%M} UTC",
            "url": _page("/audit/"),
        },
    )


def _backups_failed(window: timedelta, now: datetime) -> SourceValue:
    """How many of backup, verification and restore drill failed (a drill over the RTO too) on their latest
    run; 1 query."""
    latest: dict[str, BackupRun] = {}
    runs = (
        BackupRun.objects.filter(started_at__lte=now, started_at__gt=now - timedelta(days=30))
        .exclude(status=BackupRun.Status.RUNNING)
        .order_by("-started_at", "-pk")
    )
    for run in runs.only("pk", "kind", "status", "error", "rto_met", "started_at"):
        latest.setdefault(run.kind, run)
    failed = {
        kind: run
        for kind, run in latest.items()
        if run.status == BackupRun.Status.FAILED or (kind == BackupRun.Kind.DRILL and run.rto_met is False)
    }
    annotations = {
        f"{kind} run #{run.pk}": (run.error or "over the recovery time objective")[:300]
        for kind, run in sorted(failed.items())
    }
    if failed:
        annotations["url"] = _page("/audit/backups/")
    return SourceValue(float(len(failed)), annotations)


def _locked(window: timedelta, now: datetime) -> SourceValue:
    """Accounts and IPs locked out now, named by account id or masked IP; 1 query."""
    labels = []
    for lockout in lockouts_active(now).only("scope", "label", "user_id", "locked_until"):
        labels.append(f"account #{lockout.user_id}" if lockout.user_id else (lockout.label or lockout.scope))
    if not labels:
        return SourceValue(0.0)
    return SourceValue(float(len(labels)), {"locked": _listed(labels), "url": _page("/audit/security/")})


def _gdpr_overdue(window: timedelta, now: datetime) -> SourceValue:
    """Open data-subject requests past their deadline, by number (never the person); 1 query."""
    overdue = list(
        DataSubjectRequest.objects.filter(status__in=DataSubjectRequest.OPEN_STATUSES, due_at__lte=now)
        .order_by("due_at", "pk")
        .values_list("pk", "kind", "due_at")
    )
    if not overdue:
        return SourceValue(0.0)
    requests = [f"#{pk} ({kind}, {(now - due_at).days} days overdue)" for pk, kind, due_at in overdue]
    return SourceValue(float(len(overdue)), {"requests": _listed(requests), "url": _page("/audit/gdpr/")})


def _deployment_frozen(window: timedelta, now: datetime) -> float:
    # 1 while a freeze is on (a production deploy failed or was rolled back, or CI froze shipping).
    return float(DeploymentFreeze.objects.filter(is_active=True).exists())


def alert_sources_register() -> None:
    register_source(
        "audit.deployment_frozen",
        _deployment_frozen,
        description="1 while shipping is frozen (a failed or rolled-back production deployment).",
    )
    register_source(
        "audit.verify_failed",
        _verify_failed,
        description="1 from a failed audit-trail verification until one succeeds.",
    )
    register_source(
        "audit.backups_failed",
        _backups_failed,
        description="Backup, verification and restore drill whose latest run failed (or missed the RTO).",
    )
    register_source("audit.lockouts", _locked, description="Accounts and IPs locked out now.")
    register_source(
        "audit.gdpr_requests_overdue", _gdpr_overdue, description="Open data-subject requests past their deadline."
    )
