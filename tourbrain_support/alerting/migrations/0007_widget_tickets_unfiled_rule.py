"""Widget tickets accepted but not filed for five minutes (the worker is down, or filing fails): the team hears
of it before customers notice their ticket has no answer (the tickets app's source
`tickets.widget_tickets_unfiled`)."""

from datetime import timedelta

from django.db import migrations

RULE = {
    "name": "WidgetTicketsNotFiled",
    "source": "tickets.widget_tickets_unfiled",
    "comparator": ">=",
    "threshold": 1,
    "window": timedelta(minutes=5),
    "repeat_interval": timedelta(hours=1),
    "severity": "warning",
    "channels": ["role:admin", "slack:alerts"],
    "labels": {"component": "widget", "team": "engineering"},
    "summary": "Widget tickets accepted more than 5 minutes ago are not filed yet (counts of pending and failed below).",
    "runbook": (
        "Check the worker (/readyz, `run_portal` logs) and the error of the failed ones in the admin (Tickets > "
        "Ticket intakes, state Failed); once the cause is fixed, select them and run 'Retry filing'."
    ),
}


def install(apps, schema_editor):
    AlertRule = apps.get_model("alerting", "AlertRule")
    fields = dict(RULE)
    AlertRule.objects.get_or_create(name=fields.pop("name"), defaults=fields)


def remove(apps, schema_editor):
    apps.get_model("alerting", "AlertRule").objects.filter(name=RULE["name"]).delete()


class Migration(migrations.Migration):
    dependencies = [("alerting", "0006_enable_audit_rules")]

    operations = [migrations.RunPython(install, remove)]
