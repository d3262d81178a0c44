"""`manage.py audit_seal`: seal every final, unsealed audit row now (the beat task does it every few seconds)."""

from django.core.management.base import BaseCommand

from audit.sealing import seal_all


class Command(BaseCommand):
    help = "Seal unsealed audit rows into signed checkpoints."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=None, help="Seconds to wait for older transactions.")

    def handle(self, *args, **options):
        sealed = seal_all(wait_seconds=options["wait"])
        self.stdout.write(", ".join(f"{stream}: {rows} rows sealed" for stream, rows in sealed.items()))
