"""kpi_rollup [--from YYYY-MM-DD --to YYYY-MM-DD]: recompute the daily KPI rollups of a range of UTC days
(a backfill, in chunks with a progress line); without dates, the nightly run (yesterday plus late days)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from kpis.rollups import RollupAlreadyRunning, rollup_nightly, rollup_range


class Command(BaseCommand):
    help = "Recompute the daily KPI rollups."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", type=date.fromisoformat, help="First day (UTC), inclusive.")
        parser.add_argument("--to", dest="end", type=date.fromisoformat, help="Last day (UTC), inclusive.")

    def handle(self, *args, start=None, end=None, **options):
        try:
            if start is None and end is None:
                rollup_nightly(progress=self.stdout.write)
                return
            if start is None or end is None or start > end:
                raise CommandError("Give both --from and --to, with --from <= --to.")
            rollup_range(start=start, end=end, progress=self.stdout.write)
        except RollupAlreadyRunning as exc:
            raise CommandError(str(exc)) from exc
