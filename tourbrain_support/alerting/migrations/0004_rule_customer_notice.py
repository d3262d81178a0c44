"""Rules may carry a notice customers see while they fire; ClerkUnavailable's says sign-in may be degraded."""

from django.db import migrations, models

CLERK_NOTICE = "Maintenance: signing in may be slow or fail for a while. We are on it; your tickets are safe."


def clerk_notice(apps, schema_editor):
    AlertRule = apps.get_model("alerting", "AlertRule")
    AlertRule.objects.filter(name="ClerkUnavailable", customer_notice="").update(customer_notice=CLERK_NOTICE)


class Migration(migrations.Migration):
    dependencies = [("alerting", "0003_deployment_frozen_rule")]

    operations = [
        migrations.AddField(
            model_name="alertrule",
            name="customer_notice",
            field=models.CharField(
                blank=True,
                help_text="While the rule fires, customers see this as a maintenance banner (widget and portal); "
                "empty: none.",
                max_length=300,
            ),
        ),
        migrations.RunPython(clerk_notice, migrations.RunPython.noop),
    ]
