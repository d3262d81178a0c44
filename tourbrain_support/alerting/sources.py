"""Where rules get their values: probe samples (built in) and sources the apps register at start-up.

The core never imports an app; an app calls `register_source("tickets.critical_beta", fn, description=...)`
in its AppConfig.ready(), with `fn(window: timedelta, now: datetime) -> float | None` (None: no data), or a
`SourceValue(value, annotations)` naming what lies behind the number (a ticket and its link).
A rule whose source is neither a probe field nor registered shows "no source" and never fires.

Probe sources read `probe:<probe name>:<field>` from the samples over the rule's window:
`down` (share of samples that were down, 0..1), `up` (share that were healthy or degraded), `degraded`
(share that were degraded or down), `latency_ms` (mean) and `value` (mean of the probe's value).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Avg, Case, Count, FloatField, Q, Value, When

from tourbrain_support.alerting.models import ProbeSample

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceValue:
    """A value with what lies behind it: annotations shown in the alert's notifications, e.g.
    {"ticket": "TB-123", "url": "https://.../queue/TB-123/"} (a `url` is also the page's link)."""

    value: float | None
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)


SourceFunction = Callable[[timedelta, datetime], "float | SourceValue | None"]
PROBE_PREFIX = "probe:"
PROBE_FIELDS = ("down", "up", "degraded", "latency_ms", "value")


@dataclass(frozen=True)
class Source:
    name: str
    function: SourceFunction
    description: str = ""


_registry: dict[str, Source] = {}


def register_source(name: str, fn: SourceFunction, *, description: str = "") -> None:
    """Make `name` usable as a rule source (registering the same name again replaces it)."""
    if name.startswith(PROBE_PREFIX):
        raise ValueError(f"{PROBE_PREFIX!r} names are the probes' own")
    _registry[name] = Source(name=name, function=fn, description=description)


def unregister_source(name: str) -> None:
    _registry.pop(name, None)


def registered_sources() -> dict[str, Source]:
    return dict(sorted(_registry.items()))


def parse_probe_source(name: str) -> tuple[str, str] | None:
    """`probe:database:down` -> ("database", "down"); None for a name that is not a probe source."""
    if not name.startswith(PROBE_PREFIX):
        return None
    probe, _, field = name[len(PROBE_PREFIX) :].rpartition(":")
    if not probe or field not in PROBE_FIELDS:
        return None
    return probe, field


def source_known(name: str, probe_names: Iterable[str]) -> bool:
    """Whether a rule on `name` can be evaluated: a registered source or a field of a configured probe."""
    parsed = parse_probe_source(name)
    if parsed is None:
        return name in _registry
    return parsed[0] in set(probe_names)


def probe_values(probe_names: set[str], window: timedelta, now: datetime) -> dict[tuple[str, str], float]:
    """Every probe field over one window, in one grouped query: {(probe, field): value}; no samples, no entry."""
    if not probe_names:
        return {}
    share = {
        "down": Q(status=ProbeSample.Status.DOWN),
        "up": ~Q(status=ProbeSample.Status.DOWN),
        "degraded": ~Q(status=ProbeSample.Status.HEALTHY),
    }
    rows = (
        ProbeSample.objects.filter(probe__in=probe_names, sampled_at__gt=now - window, sampled_at__lte=now)
        .values("probe")
        .annotate(
            samples=Count("id"),
            latency_ms=Avg("latency_ms"),
            value=Avg("value"),
            **{
                field: Avg(Case(When(condition, then=Value(1.0)), default=Value(0.0), output_field=FloatField()))
                for field, condition in share.items()
            },
        )
    )
    values = {}
    for row in rows:
        for field in PROBE_FIELDS:
            if row[field] is not None:
                values[(row["probe"], field)] = float(row[field])
    return values


def registered_value(name: str, window: timedelta, now: datetime) -> SourceValue:
    """A registered source's value and annotations; a source that raises counts as no data (logged), never stops
    the tick."""
    source = _registry[name]
    try:
        value = source.function(window, now)
    except Exception:
        logger.exception("alert source failed", extra={"source": name})
        return SourceValue(None)
    if isinstance(value, SourceValue):
        annotations = {str(key): str(text) for key, text in value.annotations.items()}
        return SourceValue(None if value.value is None else float(value.value), annotations)
    return SourceValue(None if value is None else float(value))
