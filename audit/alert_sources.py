"""The audit app's values for alert rules: failed verifications and backups, lockouts, overdue data-subject
requests and the sealer's lag (registered at start-up; the core never imports this app)."""

from datetime import datetime, timedelta

from audit.models import AuditEvent, BackupRun, DataSubjectRequest, DeploymentFreeze
from audit.security import lockouts_active
from tourbrain_support.alerting.sources import register_source


def _verify_failed(window: timedelta, now: datetime) -> float:
    return float(
        AuditEvent.objects.filter(
            action=AuditEvent.Action.VERIFY, success=False, occurred_at__gt=now - window, occurred_at__lte=now
        ).count()
    )


def _backups_failed(window: timedelta, now: datetime) -> float:
    return float(
        BackupRun.objects.filter(
            status=BackupRun.Status.FAILED, started_at__gt=now - window, started_at__lte=now
        ).count()
    )


def _locked(window: timedelta, now: datetime) -> float:
    return float(lockouts_active(now).count())


def _gdpr_overdue(window: timedelta, now: datetime) -> float:
    return float(
        DataSubjectRequest.objects.filter(status__in=DataSubjectRequest.OPEN_STATUSES, due_at__lte=now).count()
    )


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
        "audit.verify_failed", _verify_failed, description="Failed audit-trail verifications in the window."
    )
    register_source(
        "audit.backups_failed", _backups_failed, description="Failed backups, verifications and drills in the window."
    )
    register_source("audit.lockouts", _locked, description="Accounts and IPs locked out now.")
    register_source(
        "audit.gdpr_requests_overdue", _gdpr_overdue, description="Open data-subject requests past their deadline."
    )
