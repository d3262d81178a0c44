"""`manage.py backup`: back up the database with a SHA-256 manifest (and verify it unless --no-verify)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.backups import backup_run
from audit.models import BackupRun


class Command(BaseCommand):
    help = "Back up the database into BACKUP_DIR (pg_dump custom format / SQLite backup API) with a manifest."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")
        parser.add_argument("--dir", default=None, help="Folder for the backup (default BACKUP_DIR).")
        parser.add_argument("--no-verify", action="store_true", help="Skip the restore check.")

    def handle(self, *args, **options):
        directory = Path(options["dir"]) if options["dir"] else None
        run = backup_run(alias=options["database"], verify=not options["no_verify"], directory=directory)
        if run.status != BackupRun.Status.SUCCEEDED:
            raise CommandError(f"backup failed: {run.error}")
        self.stdout.write(
            f"backup {run.path}: {run.size_bytes} bytes, {run.tables} tables, {run.rows} rows, "
            f"sha256 {run.sha256}, {run.duration_seconds:.2f} s, verified={run.verified}"
        )
