"""`manage.py ingest_email SOURCE...`: raw messages (a file, an mbox, a maildir, or "-" for stdin) into tickets.

As an MTA pipe: `| manage.py ingest_email -`. Each message goes through `tickets.email_inbound.email_ingest`
(`email_ingest_many`: `--batch` messages per transaction); a message that fails is quarantined, never lost,
and the command goes on with the next one.
"""

import sys
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tickets.email_inbound import email_ingest_many, read_messages


class Command(BaseCommand):
    help = "Ingest raw email messages (file, mbox, maildir or '-' for stdin) as tickets and replies."

    def add_arguments(self, parser):
        parser.add_argument("sources", nargs="+", help="Message file, mbox file, maildir directory, or - for stdin.")
        parser.add_argument(
            "--batch",
            type=int,
            default=settings.EMAIL_INGEST_BATCH,
            help="Messages filed per transaction (default EMAIL_INGEST_BATCH; 1: one transaction each).",
        )

    def handle(self, *args, sources, batch, **options):
        counts: Counter[str] = Counter()
        for source in sources:
            try:
                raws = read_messages(source, stdin=sys.stdin.buffer if source == "-" else None)
                for result in email_ingest_many(raws, batch_size=batch):
                    counts[result.outcome] += 1
                    if options["verbosity"] > 1:
                        where = f" {result.ticket.reference}" if result.ticket else ""
                        self.stdout.write(f"{result.outcome}{where} {result.reason}".rstrip())
            except OSError as error:
                raise CommandError(f"Cannot read {source}: {error}") from error
        summary = ", ".join(f"{outcome}: {counts[outcome]}" for outcome in sorted(counts)) or "no messages"
        self.stdout.write(summary)
