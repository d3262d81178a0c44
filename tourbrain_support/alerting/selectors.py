"""Alerting reads for the staff pages: rules with their state, silences, recent history, latest probe samples."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Max, QuerySet

from tourbrain_support.alerting import sources
from tourbrain_support.alerting.evaluation import rule_silenced
from tourbrain_support.alerting.models import AlertEvent, AlertRule, ProbeSample, Silence
from tourbrain_support.alerting.probes import configured_probe_names

RECENT_EVENTS = 50


def silence_list_active(*, now: datetime) -> list[Silence]:
    return list(Silence.objects.filter(ends_at__gt=now).select_related("created_by").order_by("ends_at"))


def silence_list_ended(*, now: datetime, limit: int = 20) -> list[Silence]:
    return list(Silence.objects.filter(ends_at__lte=now).select_related("created_by").order_by("-ends_at")[:limit])


def rule_list_with_status(*, now: datetime) -> list[dict]:
    """Each rule with its state, whether its source exists and whether a silence mutes it now."""
    probe_names = configured_probe_names()
    silences = [silence for silence in silence_list_active(now=now) if silence.starts_at <= now]
    rows = []
    for rule in AlertRule.objects.select_related("state").order_by("name"):
        state = getattr(rule, "state", None)
        has_source = sources.source_known(rule.source, probe_names)
        rows.append(
            {
                "rule": rule,
                "state": state,
                "status": "no source" if not has_source else (state.get_state_display() if state else "Not evaluated"),
                "status_code": "nosource" if not has_source else (state.state if state else "inactive"),
                "silenced": rule_silenced(rule, silences),
            }
        )
    order = {"firing": 0, "nodata": 1, "pending": 2}
    rows.sort(key=lambda row: (order.get(row["status_code"], 3), row["rule"].name))
    return rows


def event_list_recent(*, limit: int = RECENT_EVENTS) -> QuerySet[AlertEvent]:
    return AlertEvent.objects.select_related("rule").order_by("-at", "-id")[:limit]


def probe_latest_samples(*, now: datetime) -> list[ProbeSample]:
    """The newest sample of each probe seen in the last hour (one query for the times, one for the rows)."""
    recent = ProbeSample.objects.filter(sampled_at__gt=now - timedelta(hours=1), sampled_at__lte=now)
    latest = recent.values("probe").annotate(at=Max("sampled_at"))
    pairs = {(row["probe"], row["at"]) for row in latest}
    if not pairs:
        return []
    samples = ProbeSample.objects.filter(sampled_at__in={at for _probe, at in pairs}, probe__in={p for p, _at in pairs})
    newest = {}
    for sample in samples:
        if (sample.probe, sample.sampled_at) in pairs:
            newest[sample.probe] = sample
    return [newest[name] for name in sorted(newest)]
