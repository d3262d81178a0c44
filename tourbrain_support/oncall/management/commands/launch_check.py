"""`manage.py launch_check`: the launch checklist for CI/CD; exits 1 when an automatic item fails."""

from django.core.management.base import BaseCommand, CommandError

from tourbrain_support.oncall.launch import launch_results


class Command(BaseCommand):
    help = "Run the automatic launch-readiness checks and list the manual items (exit 1 if a check fails)."

    def add_arguments(self, parser):
        parser.add_argument("--require-manual", action="store_true", help="Also fail when a manual item is not ticked.")

    def handle(self, *args, **options):
        failing = []
        for result in launch_results():
            kind = "auto  " if result.item.automatic else "manual"
            mark = "OK  " if result.ok else "FAIL" if result.item.automatic else "TODO"
            self.stdout.write(f"[{mark}] {kind} {result.item.label}: {result.detail}")
            if not result.ok and (result.item.automatic or options["require_manual"]):
                failing.append(result.item.key)
        if failing:
            raise CommandError(f"launch check failed: {', '.join(failing)}")
        self.stdout.write(self.style.SUCCESS("launch check passed"))
