"""`manage.py verify_backup [path]`: checksum, restore into a scratch database, compare row counts."""

from django.core.management.base import BaseCommand, CommandError

from audit.backups import backup_verify_run
from audit.models import BackupRun


class Command(BaseCommand):
    help = "Verify a backup (default: the newest in BACKUP_DIR) by restoring it into a scratch database."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=None)
        parser.add_argument("--database", default="default")
        parser.add_argument("--drill", action="store_true", help="Record it as a restore drill against the RTO.")

    def handle(self, *args, **options):
        kind = BackupRun.Kind.DRILL if options["drill"] else BackupRun.Kind.VERIFY
        run = backup_verify_run(options["path"], alias=options["database"], kind=kind)
        if run.status != BackupRun.Status.SUCCEEDED:
            raise CommandError(f"verification failed: {run.error}")
        line = f"verified {run.path}: {run.tables} tables, {run.rows} rows match the manifest"
        if run.recovery_seconds is not None:
            line += f"; recovery {run.recovery_seconds:.2f} s (RTO met: {run.rto_met})"
        self.stdout.write(line + f" ({run.duration_seconds:.2f} s)")
