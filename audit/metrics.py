"""Security and audit-trail gauges on /metrics, read from the database at scrape time: what alert rules watch.

`audit_metrics_snapshot(now=)` (a selector) reads `security_metrics` over the last hour and the last 24 hours,
the age of the oldest audit row not yet under a seal per stream, and open / overdue data-subject requests,
in a fixed number of queries whatever the data volume. `AuditMetricsCollector` turns it into Prometheus
gauges (`window="1h"|"24h"`); it is registered once from `AuditConfig.ready()`.

When the database cannot be read the scrape still answers: the database gauges are left out,
`tourbrain_audit_metrics_up` is 0 and `tourbrain_metrics_collect_errors_total{collector="audit"}` grows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import BigIntegerField, Count, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from audit.models import AuditCheckpoint, DataSubjectRequest
from audit.sealing import STREAMS
from audit.security import security_metrics
from tourbrain_support.metrics import COLLECT_ERRORS, scrape_collector_register

logger = logging.getLogger(__name__)

COLLECTOR_NAME = "audit"
# Rolling windows ending at the scrape; the label value is what alert rules select on.
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}

# Gauge name -> (help, key in security_metrics), one sample per window.
_WINDOWED = {
    "tourbrain_security_failed_logins": ("Failed login attempts in the window", "failed_login_attempts"),
    "tourbrain_security_suspicious_api_activity": (
        "Throttled (429) responses plus 401/403 responses in per-source bursts, in the window",
        "suspicious_api_activity",
    ),
    "tourbrain_security_permission_denied": ("Audited permission denials in the window", "permission_denied_events"),
    "tourbrain_security_data_exports": ("Audited data exports in the window", "data_export_volume"),
    "tourbrain_security_export_outliers": (
        "Users whose exports in the window are far above their usual level",
        "export_outliers",
    ),
    "tourbrain_security_admin_access": ("Admin-site requests by staff in the window", "admin_access"),
}
_LOCKED = ("tourbrain_security_locked", "Accounts and IPs locked out from logging in right now")
_UNSEALED = ("tourbrain_audit_unsealed_seconds", "Age of the oldest audit row not yet sealed (0: all sealed)")
_GDPR_OPEN = ("tourbrain_gdpr_requests_open", "Open data-subject requests")
_GDPR_OVERDUE = ("tourbrain_gdpr_requests_overdue", "Open data-subject requests past their 30-day deadline")
_UP = ("tourbrain_audit_metrics_up", "1 when the security and audit gauges were read from the database, else 0")


def _oldest_unsealed_at(stream_name: str) -> datetime | None:
    """When the first row after the stream's last checkpoint was written (None: every row is sealed). One query."""
    stream = STREAMS[stream_name]
    last_sealed = AuditCheckpoint.objects.filter(stream=stream_name).order_by("-sequence").values("last_id")[:1]
    after = Coalesce(Subquery(last_sealed, output_field=BigIntegerField()), Value(0))
    return stream.model.objects.filter(id__gt=after).order_by("id").values_list("occurred_at", flat=True).first()


def audit_metrics_snapshot(*, now: datetime | None = None) -> dict:
    """Everything the gauges show, read now. Raises whatever the database raises."""
    now = now or timezone.now()
    windows = {label: security_metrics(now - length, now) for label, length in WINDOWS.items()}
    unsealed = {}
    for name in STREAMS:
        oldest = _oldest_unsealed_at(name)
        unsealed[name] = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    requests = DataSubjectRequest.objects.filter(status__in=DataSubjectRequest.OPEN_STATUSES).aggregate(
        open=Count("id"), overdue=Count("id", filter=Q(due_at__lte=now))
    )
    latest = windows[next(iter(WINDOWS))]  # lockouts are "right now": the same in every window
    return {
        "windows": windows,
        "locked": {"account": latest["locked_accounts"], "ip": latest["locked_ips"]},
        "unsealed_seconds": unsealed,
        "gdpr_open": requests["open"],
        "gdpr_overdue": requests["overdue"],
    }


class AuditMetricsCollector(Collector):
    """Prometheus collector over `audit_metrics_snapshot`; computed on each scrape, nothing kept between."""

    def describe(self) -> list[GaugeMetricFamily]:
        # Names only: registering must not read the database (it runs at start-up).
        return [*self._families().values(), GaugeMetricFamily(*_UP)]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            snapshot = audit_metrics_snapshot()
        except Exception:  # the database is down or failing: the rest of /metrics must still answer
            logger.warning("security and audit metrics not collected", exc_info=True)
            COLLECT_ERRORS.labels(COLLECTOR_NAME).inc()
            yield GaugeMetricFamily(*_UP, value=0)
            return
        families = self._families()
        for name, (_, key) in _WINDOWED.items():
            for label, metrics in snapshot["windows"].items():
                families[name].add_metric([label], metrics[key])
        for scope, count in snapshot["locked"].items():
            families[_LOCKED[0]].add_metric([scope], count)
        for stream, seconds in snapshot["unsealed_seconds"].items():
            families[_UNSEALED[0]].add_metric([stream], seconds)
        families[_GDPR_OPEN[0]].add_metric([], snapshot["gdpr_open"])
        families[_GDPR_OVERDUE[0]].add_metric([], snapshot["gdpr_overdue"])
        yield from families.values()
        yield GaugeMetricFamily(*_UP, value=1)

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        families = {name: GaugeMetricFamily(name, text, labels=["window"]) for name, (text, _) in _WINDOWED.items()}
        families[_LOCKED[0]] = GaugeMetricFamily(*_LOCKED, labels=["scope"])
        families[_UNSEALED[0]] = GaugeMetricFamily(*_UNSEALED, labels=["stream"])
        families[_GDPR_OPEN[0]] = GaugeMetricFamily(*_GDPR_OPEN, labels=[])
        families[_GDPR_OVERDUE[0]] = GaugeMetricFamily(*_GDPR_OVERDUE, labels=[])
        return families


def audit_metrics_register() -> None:
    """Serve the gauges on /metrics (idempotent; called from AuditConfig.ready)."""
    scrape_collector_register(COLLECTOR_NAME, AuditMetricsCollector())
