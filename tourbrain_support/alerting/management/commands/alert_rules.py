"""`manage.py alert_rules export [file]` / `manage.py alert_rules import <file>`: rules as Prometheus-style YAML."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tourbrain_support.alerting.rules_yaml import rules_export, rules_import
from tourbrain_support.api import ApplicationError


class Command(BaseCommand):
    help = "Export the alert rules as Prometheus-style YAML, or import (create/update by name) from such a file."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["export", "import"])
        parser.add_argument("path", nargs="?", help="File to write or read; '-' or none: stdout/stdin.")

    def handle(self, *args, action, path, **options):
        if action == "export":
            text = rules_export()
            if path and path != "-":
                Path(path).write_text(text, encoding="utf-8")
            else:
                self.stdout.write(text, ending="")
            return
        text = sys.stdin.read() if not path or path == "-" else Path(path).read_text(encoding="utf-8")
        try:
            created, updated = rules_import(text=text)
        except ApplicationError as exc:
            problems = "\n".join(exc.fields.get("rules", []))
            raise CommandError(f"{exc.message}\n{problems}".strip()) from exc
        self.stdout.write(self.style.SUCCESS(f"{created} rule(s) created, {updated} updated."))
