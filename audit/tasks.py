"""Audit app tasks: thin wrappers that call services; each is safe to run twice."""

from celery import shared_task

# --- the immutable log: sealing and verification ---


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=110)
def audit_seal() -> dict:
    """Seal final, unsealed audit rows (every few seconds; a run that finds nothing is a no-op)."""
    from audit.sealing import seal_all

    return seal_all()


@shared_task(ignore_result=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def audit_verify_scheduled() -> bool:
    """Daily full verification; the run is itself audited and a failure raises an alert."""
    from audit.alerts import AlertKind, audit_alert_raise
    from audit.services import audit_record
    from audit.verification import verify_trail

    report = verify_trail()
    first = report.problems[0] if report.problems else None
    if not report.ok:
        # Before recording the run: a trail whose table refuses the write still gets its alert out.
        audit_alert_raise(
            kind=AlertKind.AUDIT_VERIFY_FAILED,
            message=f"Audit trail verification failed: {first}",
            details={"rows checked": report.rows_checked, "problems": [str(problem) for problem in report.problems]},
        )
    audit_record(
        actor=None,
        action="verify",
        resource_type="audit_trail",
        resource_id="",
        changes={
            "rows_checked": report.rows_checked,
            "checkpoints": report.checkpoints_checked,
            "problems": len(report.problems),
        },
        success=report.ok,
        error_message=str(first) if first else "",
    )
    return report.ok


# --- security, GDPR and backups ---


@shared_task(ignore_result=True, time_limit=4 * 3600, soft_time_limit=4 * 3600 - 60)
def backup_daily() -> int:
    """Back up, verify by restoring, prune; records a BackupRun and alerts on failure."""
    from audit.backups import backup_run

    return backup_run().pk


@shared_task(ignore_result=True, time_limit=4 * 3600, soft_time_limit=4 * 3600 - 60)
def backup_restore_drill() -> int | None:
    """Monthly restore drill: runs daily, acts only when no drill succeeded in the last 30 days."""
    from audit.backups import backup_verify_run, drill_due
    from audit.models import BackupRun

    if not drill_due():
        return None
    return backup_verify_run(kind=BackupRun.Kind.DRILL).pk


@shared_task(ignore_result=True)
def gdpr_reminders() -> dict:
    """Remind handlers of data-subject requests nearing their 30-day deadline (once); alert on overdue ones (daily)."""
    from audit.gdpr import dsr_reminders_send

    return dsr_reminders_send()
