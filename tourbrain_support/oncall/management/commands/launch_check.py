"""`manage.py launch_check`: the launch checklist for CI/CD; exits 1 when an automatic item fails.

It sends the test deliveries (an email, a Slack post to #alerts and #status, a Sentry event) and stores
their results for the /launch/ page; `--no-send` skips them."""

from django.core.management.base import BaseCommand, CommandError

from tourbrain_support.oncall.launch import launch_results


class Command(BaseCommand):
    help = "Run the automatic launch-readiness checks and list the manual items (exit 1 if a check fails)."

    def add_arguments(self, parser):
        parser.add_argument("--require-manual", action="store_true", help="Also fail when a manual item is not ticked.")
        parser.add_argument(
            "--no-send", action="store_true", help="Skip the checks that send something (test email, Slack, Sentry)."
        )

    def handle(self, *args, **options):
        failing = []
        send = not options["no_send"]
        for result in launch_results(send=send):
            kind = "auto  " if result.item.automatic else "manual"
            if result.item.delivery and not send:
                self.stdout.write(f"[SKIP] {kind} {result.item.label}: skipped (--no-send)")
                continue
            mark = "OK  " if result.ok else "FAIL" if result.item.automatic else "TODO"
            self.stdout.write(f"[{mark}] {kind} {result.item.label}: {result.detail}")
            if not result.ok and (result.item.automatic or options["require_manual"]):
                failing.append(result.item.key)
        if failing:
            raise CommandError(f"launch check failed: {', '.join(failing)}")
        self.stdout.write(self.style.SUCCESS("launch check passed"))
