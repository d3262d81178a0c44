"""Demo alerting (idempotent): HTTP probes of the portal itself and of a demo service, and rules on them.

The demo service is `manage.py demo_service` (port 8099). While it is not running, DemoServiceDown fires
a minute after `make run` starts (email in the console log, Slack when a webhook is set); start it and
the alert resolves at the next evaluation.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction

from tourbrain_support.alerting.models import AlertRule, HttpProbe

DEMO_SERVICE_PORT = 8099


@transaction.atomic
def seed(stdout=None) -> None:
    HttpProbe.objects.update_or_create(
        name="portal",
        defaults={"url": f"{settings.SITE_URL.rstrip('/')}/healthz", "timeout_seconds": 3.0, "degraded_after_ms": 1000},
    )
    HttpProbe.objects.update_or_create(
        name="demo-service",
        defaults={
            "url": f"http://127.0.0.1:{DEMO_SERVICE_PORT}/status.json",
            "timeout_seconds": 2.0,
            "json_field": "status.indicator",
            "json_expected": "none",
        },
    )
    rules = [
        {
            "name": "DemoServiceDown",
            "source": "probe:demo-service:down",
            "comparator": ">=",
            "threshold": 1,
            "window": timedelta(minutes=1),
            "for_duration": timedelta(minutes=1),
            "severity": "critical",
            "channels": ["email:oncall@tourbrain.test", "slack:alerts"],
            "labels": {"component": "demo", "team": "platform"},
            "summary": "The demo service does not answer (start it: manage.py demo_service).",
            "runbook": "Run `python manage.py demo_service`; the alert resolves at the next evaluation.",
            "repeat_interval": timedelta(minutes=30),
        },
        {
            "name": "PortalSlow",
            "source": "probe:portal:latency_ms",
            "comparator": ">",
            "threshold": 1000,
            "recovery_threshold": 500,
            "window": timedelta(minutes=5),
            "for_duration": timedelta(minutes=2),
            "nodata_after": timedelta(minutes=5),
            "severity": "warning",
            "channels": ["email:oncall@tourbrain.test"],
            "labels": {"component": "portal", "team": "platform"},
            "summary": "The portal's /healthz answers slowly.",
        },
    ]
    for fields in rules:
        AlertRule.objects.get_or_create(name=fields.pop("name"), defaults=fields)
    if stdout is not None:
        stdout.write("Alerting: probes portal and demo-service, rules DemoServiceDown and PortalSlow.")
