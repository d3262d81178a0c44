"""`manage.py poll_imap [--url URL]`: one pass of the IMAP poller (what the `imap_poll` beat job does)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tickets.imap_poller import BUSY, imap_poll


class Command(BaseCommand):
    help = "Ingest unseen mail from the IMAP mailbox (IMAP_URL) and move or flag it."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=None, help="Mailbox to read instead of IMAP_URL.")
        parser.add_argument("--limit", type=int, default=None, help="Messages to read at most (IMAP_BATCH).")

    def handle(self, *args, url, limit, **options):
        if not (url or settings.IMAP_URL):
            raise CommandError("No mailbox: set IMAP_URL or pass --url imaps://user:password@host/INBOX.")
        try:
            counts = imap_poll(url=url, limit=limit)
        except ValueError as error:
            raise CommandError(str(error)) from error
        if counts == {BUSY: 1}:
            self.stdout.write("Another pass is reading this mailbox (the beat job's?); nothing done.")
            return
        summary = ", ".join(f"{outcome}: {counts[outcome]}" for outcome in sorted(counts)) or "no new messages"
        self.stdout.write(summary)
