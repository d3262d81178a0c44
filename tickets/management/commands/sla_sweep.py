"""`manage.py sla_sweep`: run one SLA sweep now (the same work the beat task does every minute)."""

from django.core.management.base import BaseCommand

from tickets.sweep import sla_sweep


class Command(BaseCommand):
    help = "Mark SLA warnings and breaches and escalate breaches (idempotent)."

    def handle(self, *args, **options):
        result = sla_sweep()
        self.stdout.write(f"SLA sweep: {len(result.breached)} breached and escalated, {len(result.warned)} warned.")
