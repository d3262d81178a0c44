"""Audit app tasks: thin wrappers that call services; each is safe to run twice."""

from celery import shared_task

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
    """Remind handlers of data-subject requests nearing or past their 30-day deadline (once per level)."""
    from audit.gdpr import dsr_reminders_send

    return dsr_reminders_send()
