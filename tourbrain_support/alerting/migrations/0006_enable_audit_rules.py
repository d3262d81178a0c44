"""The audit alerts are alert rules now (the audit app only logs and reports them to Sentry): enable the
seed's audit rules, addressed to every active admin and auditor, repeating daily (lockouts: hourly)."""

from datetime import timedelta

from django.db import migrations

RULES = {
    "AuditVerificationFailed": timedelta(hours=24),
    "BackupFailed": timedelta(hours=24),
    "LoginLockouts": timedelta(hours=1),
    "DataSubjectRequestOverdue": timedelta(hours=24),
}
CHANNELS = ["role:admin", "role:auditor", "slack:alerts"]


def enable(apps, schema_editor):
    AlertRule = apps.get_model("alerting", "AlertRule")
    for rule in AlertRule.objects.filter(name__in=RULES):
        rule.enabled = True
        rule.repeat_interval = RULES[rule.name]
        rule.channels = list(dict.fromkeys([*(rule.channels or []), *CHANNELS]))
        rule.save(update_fields=["enabled", "repeat_interval", "channels"])


def disable(apps, schema_editor):
    AlertRule = apps.get_model("alerting", "AlertRule")
    AlertRule.objects.filter(name__in=RULES).update(enabled=False)


class Migration(migrations.Migration):
    dependencies = [("alerting", "0005_rule_channels_help_names_roles")]

    operations = [migrations.RunPython(enable, disable)]
