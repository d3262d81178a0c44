"""The seed's alert rules ("Alert Configuration & Incident Response"), installed once; edit them in the admin.

Rules on KPI sources (kpis.*) show "no source" until the KPI app registers those sources. The audit rules
are installed disabled: the audit app still sends those alerts itself (audit.alerts) until they move here.
"""

from datetime import timedelta

from django.db import migrations

M = timedelta(minutes=1)
DEFAULT_RULES = [
    {
        "name": "DatabaseHealthFailing",
        "source": "probe:database:down",
        "comparator": ">=",
        "threshold": 1,
        "window": M,
        "for_duration": 2 * M,
        "nodata_after": 5 * M,
        "severity": "critical",
        "channels": ["slack:alerts"],
        "labels": {"component": "database", "team": "platform"},
        "summary": "The database health check has failed for more than 2 minutes.",
        "runbook": "Check the database host and connections (/readyz, the probes on /alerts/); fail over if it does not come back.",
    },
    {
        "name": "DatabasePoolUtilizationHigh",
        "source": "probe:database.utilization:value",
        "comparator": ">",
        "threshold": 0.8,
        "recovery_threshold": 0.7,
        "window": 5 * M,
        "for_duration": 5 * M,
        "severity": "warning",
        "channels": ["slack:alerts"],
        "labels": {"component": "database", "team": "platform"},
        "summary": "More than 80% of the database's connections are in use.",
        "runbook": "Look for long-running queries (pg_stat_activity) and connection leaks; raise max_connections or add a pooler.",
    },
    {
        "name": "ClerkUnavailable",
        "source": "probe:clerk:down",
        "comparator": ">=",
        "threshold": 1,
        "window": M,
        "for_duration": M,
        "severity": "critical",
        "channels": ["slack:alerts"],
        "labels": {"component": "auth", "service": "clerk", "team": "platform"},
        "summary": "Clerk (authentication) has been unavailable for more than a minute.",
        "runbook": "Show the maintenance message; check https://status.clerk.com and Clerk support.",
    },
    {
        "name": "OpenAIRateLimitExceeded",
        "source": "kpis.openai_rate_limited",
        "comparator": ">",
        "threshold": 0,
        "window": 5 * M,
        "severity": "warning",
        "channels": ["slack:alerts"],
        "labels": {"component": "ai", "service": "openai", "team": "platform"},
        "summary": "OpenAI answered with rate-limit errors.",
        "runbook": "Graceful degradation takes over; check usage against the limit at https://platform.openai.com/usage.",
    },
    {
        "name": "HighErrorRate",
        "source": "kpis.error_rate",
        "comparator": ">",
        "threshold": 0.05,
        "recovery_threshold": 0.03,
        "window": 5 * M,
        "severity": "warning",
        "channels": ["slack:alerts"],
        "labels": {"component": "app", "team": "engineering"},
        "summary": "More than 5% of requests failed over 5 minutes.",
        "runbook": "Investigate and resolve within 30 minutes: Sentry, the latest deployment, the probes.",
    },
    {
        "name": "SlowResponses",
        "source": "kpis.response_time_avg_ms",
        "comparator": ">",
        "threshold": 3000,
        "recovery_threshold": 2500,
        "window": 5 * M,
        "severity": "warning",
        "channels": ["slack:alerts"],
        "labels": {"component": "app", "team": "engineering"},
        "summary": "Average response time above 3 seconds.",
        "runbook": "Performance analysis: slowest views on /metrics, database statement times (probe database.statement_ms).",
    },
    {
        "name": "SignupFailuresHigh",
        "source": "kpis.signup_failure_rate",
        "comparator": ">",
        "threshold": 0.5,
        "window": 60 * M,
        "severity": "warning",
        "channels": ["slack:alerts"],
        "labels": {"component": "onboarding", "team": "product"},
        "summary": "More than half of the signups failed.",
        "runbook": "Check authentication (Clerk) and the onboarding flow.",
    },
    {
        "name": "CriticalBugFromBetaUser",
        "source": "tickets.critical_beta_bugs",
        "comparator": ">",
        "threshold": 0,
        "window": 2 * M,
        "severity": "critical",
        "channels": ["slack:alerts"],
        "labels": {"component": "support", "team": "support"},
        "summary": "A beta user reported a critical bug: priority support within 1 hour.",
        "runbook": "Open the queue filtered on critical beta tickets: /queue/?priority=critical&tier=beta",
    },
    {
        "name": "AuditVerificationFailed",
        "source": "audit.verify_failed",
        "comparator": ">",
        "threshold": 0,
        "window": 24 * 60 * M,
        "severity": "critical",
        "enabled": False,
        "labels": {"component": "audit", "team": "security"},
        "summary": "The audit trail failed verification.",
        "runbook": "Run `manage.py audit_verify` and see the README's Audit trail section.",
    },
    {
        "name": "BackupFailed",
        "source": "audit.backups_failed",
        "comparator": ">",
        "threshold": 0,
        "window": 24 * 60 * M,
        "severity": "critical",
        "enabled": False,
        "labels": {"component": "backups", "team": "platform"},
        "summary": "A backup, its verification or the restore drill failed.",
        "runbook": "See /audit/backups/ for the failed run and its error.",
    },
    {
        "name": "LoginLockouts",
        "source": "audit.lockouts",
        "comparator": ">",
        "threshold": 0,
        "window": M,
        "severity": "warning",
        "enabled": False,
        "repeat_interval": 60 * M,
        "labels": {"component": "security", "team": "security"},
        "summary": "Accounts or IPs are locked out after failed logins.",
        "runbook": "Review /audit/security/ for credential stuffing; lift lockouts of legitimate users there.",
    },
    {
        "name": "DataSubjectRequestOverdue",
        "source": "audit.gdpr_requests_overdue",
        "comparator": ">",
        "threshold": 0,
        "window": M,
        "severity": "warning",
        "enabled": False,
        "repeat_interval": 24 * 60 * M,
        "labels": {"component": "gdpr", "team": "security"},
        "summary": "A data-subject request is past its 30-day deadline.",
        "runbook": "Handle it on /audit/gdpr/.",
    },
]


def install(apps, schema_editor):
    AlertRule = apps.get_model("alerting", "AlertRule")
    for fields in DEFAULT_RULES:
        fields = dict(fields)
        AlertRule.objects.get_or_create(name=fields.pop("name"), defaults=fields)


class Migration(migrations.Migration):
    dependencies = [("alerting", "0001_initial")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
