"""Default business calendars, SLA policy v1, teams and routing rules."""

from django.db import migrations


def load_defaults(apps, schema_editor):
    from tickets import sla_defaults

    sla_defaults.load_defaults(apps.get_model)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0002_businesscalendarconfig_routingrule_slapolicy_and_more")]

    operations = [migrations.RunPython(load_defaults, migrations.RunPython.noop)]
