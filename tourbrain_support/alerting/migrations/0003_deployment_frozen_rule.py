"""The seed's "Vercel deployment failure or rollback" alert: fires while a deployment freeze is on (the audit
app's deployment webhook turns one on when a production deployment fails or is rolled back)."""

from datetime import timedelta

from django.db import migrations

RULE = {
    "name": "DeploymentFailedOrRolledBack",
    "source": "audit.deployment_frozen",
    "comparator": ">=",
    "threshold": 1,
    "window": timedelta(minutes=1),
    "severity": "critical",
    "channels": ["slack:alerts"],
    "labels": {"component": "deployments", "service": "vercel", "team": "engineering"},
    "summary": "A production deployment failed or was rolled back: shipping is frozen.",
    "runbook": (
        "Read the freeze (GET /api/v1/deployments/freeze) and the deployment in the Vercel dashboard; fix or roll "
        "forward, then lift the freeze with a note (DELETE /api/v1/deployments/freeze)."
    ),
}


def install(apps, schema_editor):
    AlertRule = apps.get_model("alerting", "AlertRule")
    fields = dict(RULE)
    AlertRule.objects.get_or_create(name=fields.pop("name"), defaults=fields)


class Migration(migrations.Migration):
    dependencies = [("alerting", "0002_default_rules")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
