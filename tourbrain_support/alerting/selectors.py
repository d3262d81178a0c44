"""Alerting reads for the staff pages: rules with their state, silences, recent history, latest probe samples."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Max, QuerySet

from tourbrain_support.alerting import sources
from tourbrain_support.alerting.evaluation import rule_silenced
from tourbrain_support.alerting.models import AlertEvent, AlertRule, AlertState, ProbeSample, Silence
from tourbrain_support.alerting.probes import configured_probe_names

logger = logging.getLogger(__name__)

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


# Customer pages read the notices from the cache: the sign-in page stays free of queries when warm, and a
# database in trouble does not take the banner (or the page) down with it.
NOTICES_CACHE_KEY = "alerting:customer-notices"
NOTICES_CACHE_SECONDS = 60  # a process that missed the tick's refresh (a local cache) catches up within this


def customer_notices_query() -> list[dict]:
    """Maintenance banners for customers: the `customer_notice` of each enabled rule firing now; 1 query.

    Only `firing` counts (not pending, not no-data): the banner follows the rule's `for`, and clears at the
    tick that resolves it.
    """
    rows = (
        AlertState.objects.filter(state=AlertState.State.FIRING, rule__enabled=True)
        .exclude(rule__customer_notice="")
        .order_by("rule__name")
        .values_list("rule__name", "rule__customer_notice")
    )
    return [{"alert": name, "message": notice} for name, notice in rows]


def customer_notices_refresh() -> list[dict]:
    """Recompute the notices into the cache (each evaluation tick does, so a change shows at once)."""
    notices = customer_notices_query()
    cache.set(NOTICES_CACHE_KEY, notices, NOTICES_CACHE_SECONDS)
    return notices


def customer_notices() -> list[dict]:
    """The notices to show now: from the cache, else read (at most 1 query); [] when they cannot be read."""
    notices = cache.get(NOTICES_CACHE_KEY)
    if notices is not None:
        return notices
    try:
        return customer_notices_refresh()
    except DatabaseError:
        logger.warning("customer notices could not be read", exc_info=True)
        return []


def failure_latest(name: str, *, at: datetime) -> ProbeSample | None:
    """The latest failure recorded under `name` (`services.failure_record`) at or before `at`; 1 query."""
    return (
        ProbeSample.objects.filter(probe=name, status=ProbeSample.Status.DOWN, sampled_at__lte=at)
        .order_by("-sampled_at", "-pk")
        .first()
    )


def _preinstalled_rule_names() -> list[str]:
    """The rules the migrations install (the seed's alert configuration), by name."""
    import importlib

    defaults = importlib.import_module("tourbrain_support.alerting.migrations.0002_default_rules").DEFAULT_RULES
    frozen = importlib.import_module("tourbrain_support.alerting.migrations.0003_deployment_frozen_rule").RULE
    return [rule["name"] for rule in defaults] + [frozen["name"]]


def alert_rules_configured() -> tuple[bool, str]:
    """Every pre-installed alert rule is there and enabled, and each enabled rule tells someone (a channel)."""
    names = _preinstalled_rule_names()
    rules = list(AlertRule.objects.values_list("name", "enabled", "channels"))
    present = {name: enabled for name, enabled, _channels in rules}
    missing = [name for name in names if name not in present]
    disabled = [name for name in names if present.get(name) is False]
    silent = [name for name, enabled, channels in rules if enabled and not channels]
    problems = []
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if disabled:
        problems.append(f"disabled: {', '.join(disabled)}")
    if silent:
        problems.append(f"no channel: {', '.join(silent)}")
    if problems:
        return False, "; ".join(problems)
    enabled = sum(1 for _name, on, _channels in rules if on)
    return True, f"{enabled} rule(s) enabled, the {len(names)} pre-installed ones included"
