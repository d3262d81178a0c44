"""`manage.py gdpr_reminders`: due-soon reminders and overdue alerts for data-subject requests (idempotent per day)."""

from django.core.management.base import BaseCommand

from audit.gdpr import dsr_reminders_send


class Command(BaseCommand):
    help = "Remind handlers of data-subject requests due soon (GDPR_REMINDER_DAYS); alert daily on overdue ones."

    def handle(self, *args, **options):
        sent = dsr_reminders_send()
        self.stdout.write(f"reminders sent: {sent['due_soon']} due soon; overdue alerts: {sent['overdue']}")
