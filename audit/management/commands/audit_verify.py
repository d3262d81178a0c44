"""`manage.py audit_verify`: check the whole audit trail; names the first bad row and exits non-zero."""

from django.core.management.base import BaseCommand, CommandError

from audit.verification import verify_trail


class Command(BaseCommand):
    help = "Verify the audit trail: protections, signatures, chain, external log, every row, unsealed lag."

    def add_arguments(self, parser):
        parser.add_argument("--max-unsealed", type=float, default=None, help="Seconds a row may wait unsealed.")
        parser.add_argument("--workers", type=int, default=1, help="Processes hashing rows (PostgreSQL).")

    def handle(self, *args, **options):
        report = verify_trail(max_unsealed_seconds=options["max_unsealed"], workers=options["workers"])
        for problem in report.problems:
            self.stderr.write(f"PROBLEM: {problem}")
        first = report.first_bad_row
        if first is not None:
            self.stderr.write(f"First bad row: {first.stream} #{first.row_id}")
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
