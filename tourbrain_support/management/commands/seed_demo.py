"""Load demo data: the core first, then each app's `demo.seed()` when it has one. Safe to run again."""

import importlib

from django.core.management.base import BaseCommand

from tourbrain_support import demo

APPS_WITH_DEMO_DATA = [
    "tourbrain_support.alerting",
    "tourbrain_support.oncall",
    "tickets",
    "audit",
    "kpis",
    "knowledge_base",
]


class Command(BaseCommand):
    help = "Create demo organizations, one user per role and each app's demo data (idempotent)."

    def handle(self, *args, **options):
        logins = demo.seed(stdout=self.stdout)
        for app in APPS_WITH_DEMO_DATA:
            try:
                module = importlib.import_module(f"{app}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app}.demo":
                    raise
                continue
            module.seed(stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready. Log in with any of these (password: {demo.DEMO_PASSWORD}):")
        )
        for role, email in logins:
            self.stdout.write(f"  {role:<28} {email}")
