"""`manage.py send_surveys`: the NPS survey to every customer who is due one (what the daily beat job does),
and with `--beta-feedback` the beta feedback form to every active beta user (once a week each)."""

from django.core.management.base import BaseCommand

from tickets import surveys


class Command(BaseCommand):
    help = "Send due NPS surveys (and, with --beta-feedback, the weekly beta feedback form)."

    def add_arguments(self, parser):
        parser.add_argument("--beta-feedback", action="store_true", help="Also email beta users the feedback form.")

    def handle(self, *args, beta_feedback: bool, **options):
        sent = surveys.nps_surveys_send()
        self.stdout.write(f"NPS surveys sent: {sent}")
        if beta_feedback:
            asked = surveys.beta_feedback_request(users=list(surveys.beta_users()))
            self.stdout.write(f"Beta feedback forms sent: {asked}")
