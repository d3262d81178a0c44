"""`manage.py audit_public_key`: print the checkpoint signing public key (keep a copy outside the server)."""

from django.core.management.base import BaseCommand

from audit import signing


class Command(BaseCommand):
    help = "Print the Ed25519 public key (base64, raw 32 bytes) that verifies audit checkpoints."

    def handle(self, *args, **options):
        self.stdout.write(f"{signing.public_key_b64()}  key id {signing.current_key_id()}")
