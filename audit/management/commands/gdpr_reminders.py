"""`manage.py gdpr_reminders`: send due-soon / overdue reminders for data-subject requests (idempotent)."""

from django.core.management.base import BaseCommand

from audit.gdpr import dsr_reminders_send


class Command(BaseCommand):
    help = "Remind handlers of data-subject requests nearing (GDPR_REMINDER_DAYS) or past their deadline."

    def handle(self, *args, **options):
        sent = dsr_reminders_send()
        self.stdout.write(f"reminders sent: {sent['due_soon']} due soon, {sent['overdue']} overdue")
