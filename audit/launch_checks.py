"""The audit app's items of the launch checklist: a backup verified in the last 24 h, the trail verifying."""

from datetime import timedelta

from django.utils import timezone

from audit.models import BackupRun

BACKUP_MAX_AGE = timedelta(hours=24)


def check_backup_verified() -> tuple[bool, str]:
    since = timezone.now() - BACKUP_MAX_AGE
    run = (
        BackupRun.objects.filter(
            kind__in=[BackupRun.Kind.VERIFY, BackupRun.Kind.DRILL, BackupRun.Kind.BACKUP],
            status=BackupRun.Status.SUCCEEDED,
            verified=True,
            finished_at__gte=since,
        )
        .order_by("-finished_at")
        .first()
    )
    if run is None:
        return False, "no backup verified in the last 24 h (manage.py backup; manage.py verify_backup)"
    return True, f"{run.get_kind_display().lower()} of {run.path or 'a backup'} at {run.finished_at:%Y-%m-%d %H:%M} UTC"


def check_audit_trail() -> tuple[bool, str]:
    from audit.verification import verify_trail

    report = verify_trail()
    return report.ok, report.summary()


def register() -> None:
    from tourbrain_support.oncall.launch import launch_check_register

    launch_check_register("backup_verified", check_backup_verified)
    launch_check_register("audit_trail", check_audit_trail)
