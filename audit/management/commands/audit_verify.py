"""`manage.py audit_verify`: check the whole audit trail; names the first bad row and exits non-zero.

`--archive FILE_OR_DIR` checks archive files alone, offline (no database): header, chain, signatures
(keys from `--public-key`, else this installation's trusted keys) and every archived row.
"""

from django.core.management.base import BaseCommand, CommandError

from audit.proofs import ProofError, archive_paths, archives_check, configured_public_keys, public_keys_from
from audit.verification import verify_trail


class Command(BaseCommand):
    help = "Verify the audit trail: protections, signatures, chain, external log, every row, unsealed lag."

    def add_arguments(self, parser):
        parser.add_argument("--max-unsealed", type=float, default=None, help="Seconds a row may wait unsealed.")
        parser.add_argument("--workers", type=int, default=1, help="Processes hashing rows (PostgreSQL).")
        parser.add_argument(
            "--archive",
            action="append",
            default=[],
            metavar="FILE_OR_DIR",
            help="Check these archive files (or every archive in a directory) alone, without the database.",
        )
        parser.add_argument(
            "--public-key",
            action="append",
            default=[],
            help="With --archive: trusted Ed25519 public key, base64 or a file holding it; repeatable.",
        )

    def handle(self, *args, **options):
        if options["archive"]:
            report = self._archives(options["archive"], options["public_key"])
        else:
            report = verify_trail(max_unsealed_seconds=options["max_unsealed"], workers=options["workers"])
        for problem in report.problems:
            self.stderr.write(f"PROBLEM: {problem}")
        first = report.first_bad_row
        if first is not None:
            self.stderr.write(f"First bad row: {first.stream} #{first.row_id}")
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())

    def _archives(self, values: list[str], public_keys: list[str]):
        try:
            paths = archive_paths(values)
            keys = public_keys_from(public_keys) if public_keys else configured_public_keys()
        except ProofError as exc:
            raise CommandError(str(exc)) from exc
        if not paths:
            raise CommandError("no archive files found")
        report, notes = archives_check(paths, keys=keys)
        for note in notes:
            self.stdout.write(f"NOTE: {note}")
        self.stdout.write(f"{len(paths)} archive file(s) checked offline")
        return report
