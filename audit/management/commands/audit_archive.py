"""`manage.py audit_archive --before DATE`: write old sealed ranges to gzip JSON-lines files.

`--purge` then removes the archived rows from the database: a privileged operation that needs the table
owner's rights (it lifts the append-only guards inside its own transaction).
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from audit.archive import archive_purge, archive_write
from audit.sealing import STREAMS


class Command(BaseCommand):
    help = "Archive audit checkpoints sealed before DATE (YYYY-MM-DD) with their rows; optionally purge them."

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="YYYY-MM-DD (UTC)")
        parser.add_argument("--purge", action="store_true", help="PRIVILEGED: delete the archived rows afterwards.")

    def handle(self, *args, **options):
        try:
            before = dt.datetime.strptime(options["before"], "%Y-%m-%d").replace(tzinfo=dt.UTC)
        except ValueError as exc:
            raise CommandError("--before must be a date YYYY-MM-DD") from exc
        for stream in STREAMS:
            path = archive_write(stream_name=stream, before=before)
            if path is None:
                self.stdout.write(f"{stream}: nothing to archive")
                continue
            self.stdout.write(f"{stream}: archived to {path}")
            if options["purge"]:
                self.stdout.write(f"{stream}: purged {archive_purge(path=path)} rows")
