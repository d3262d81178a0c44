"""`manage.py audit_proof <id>`: a self-contained JSON proof that one sealed row is in the signed trail.

`--archive FILE` builds it from an archive file alone (a row purged from the database). `--verify FILE`
checks a proof offline (no database): leaf, audit path, root, checkpoint hash, signature and chain link,
with the public key of `--public-key` (base64 or a file with `manage.py audit_public_key` output) or,
without it, this installation's trusted keys.
"""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.proofs import (
    ProofError,
    configured_public_keys,
    proof_for_row,
    proof_from_archive,
    proof_verify,
    public_keys_from,
)
from audit.sealing import STREAMS


class Command(BaseCommand):
    help = "Print the inclusion proof bundle (JSON) of one sealed audit row, or verify one offline (--verify)."

    def add_arguments(self, parser):
        parser.add_argument("row_id", nargs="?", type=int, help="The row's id (an AuditEvent id for --stream events).")
        parser.add_argument("--stream", default="events", choices=sorted(STREAMS))
        parser.add_argument("--archive", help="Build the proof from this archive file instead of the database.")
        parser.add_argument("--output", help="Write the bundle to this file instead of standard output.")
        parser.add_argument("--verify", metavar="FILE", help="Verify a proof bundle offline ('-' reads stdin).")
        parser.add_argument(
            "--public-key",
            action="append",
            default=[],
            help="Trusted Ed25519 public key: base64, or a file holding it; repeatable.",
        )

    def handle(self, *args, **options):
        try:
            if options["verify"]:
                self._verify(options["verify"], options["public_key"])
            else:
                self._prove(options)
        except ProofError as exc:
            raise CommandError(f"proof FAILED: {exc}" if options["verify"] else f"no proof: {exc}") from exc

    def _prove(self, options):
        if options["row_id"] is None:
            raise CommandError("give a row id, or --verify FILE")
        if options["archive"]:
            path = Path(options["archive"])
            if not path.is_file():
                raise CommandError(f"{path}: no such archive file")
            bundle = proof_from_archive(path=path, row_id=options["row_id"])
            if bundle["stream"] != options["stream"]:
                raise CommandError(f"{path.name} is an archive of the {bundle['stream']} stream")
        else:
            bundle = proof_for_row(stream_name=options["stream"], row_id=options["row_id"])
        text = json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"proof of {bundle['stream']} #{bundle['row_id']} written to {options['output']}")
        else:
            self.stdout.write(text, ending="")

    def _verify(self, source: str, public_keys: list[str]):
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
            bundle = json.loads(text)
        except OSError as exc:
            raise CommandError(f"cannot read {source}: {exc.strerror}") from exc
        except ValueError as exc:
            raise CommandError(f"proof FAILED: {source} is not JSON ({exc})") from exc
        keys = public_keys_from(public_keys) if public_keys else configured_public_keys()
        for line in proof_verify(bundle, keys=keys):
            self.stdout.write(f"ok  {line}")
        self.stdout.write(f"proof OK: {bundle['stream']} #{bundle['row_id']} is in the signed audit trail")
