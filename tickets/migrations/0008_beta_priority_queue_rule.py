"""Every beta ticket joins the priority queue: widen the default rule (critical beta tickets only until now).

Only the untouched default row changes; a rule a lead has edited is left as it is.
"""

from django.db import migrations

OLD_DESCRIPTION = "Critical tickets from beta users go to the priority queue"
NEW_DESCRIPTION = "Every ticket from beta users goes to the priority queue"


def widen(apps, schema_editor):
    RoutingRule = apps.get_model("tickets", "RoutingRule")
    RoutingRule.objects.filter(
        order=10, type="", priority="critical", tier="beta", team="", priority_queue=True, description=OLD_DESCRIPTION
    ).update(priority="", description=NEW_DESCRIPTION)


def narrow(apps, schema_editor):
    RoutingRule = apps.get_model("tickets", "RoutingRule")
    RoutingRule.objects.filter(order=10, priority="", tier="beta", description=NEW_DESCRIPTION).update(
        priority="critical", description=OLD_DESCRIPTION
    )


class Migration(migrations.Migration):
    dependencies = [("tickets", "0007_beta_program_portal_links")]

    operations = [migrations.RunPython(widen, narrow)]
