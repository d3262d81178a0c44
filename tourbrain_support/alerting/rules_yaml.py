"""Alert rules as YAML in the style of Prometheus alerting rules, so they can live in version control.

    groups:
    - name: tourbrain
      rules:
      - alert: DatabaseHealthFailing
        expr: probe:database:down[1m] >= 1
        for: 2m
        labels: {severity: critical, team: platform}
        annotations:
          summary: The database does not answer
          runbook: https://...
          channels: slack:alerts, oncall
          recovery_threshold: "0.5"
          nodata_after: 5m
          repeat_interval: 1h

`expr` is `<source>[<window>] <comparator> <threshold>` (the window defaults to 1m); `severity` is a label as
in Prometheus; the fields Prometheus has no place for are annotations. Import creates or updates rules by
name, all or nothing; rules not in the file are left alone.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import yaml
from django.db import transaction

from tourbrain_support.alerting.models import (
    COMPARATORS,
    AlertRule,
    channels_problem,
    format_duration,
    format_number,
)
from tourbrain_support.api import ApplicationError

GROUP_NAME = "tourbrain"
_EXPR = re.compile(
    r"^\s*(?P<source>[A-Za-z0-9_.:\-]+)\s*(?:\[(?P<window>[0-9a-z]+)\])?\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<threshold>[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$"
)
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_KNOWN_ANNOTATIONS = {
    "summary",
    "runbook",
    "customer_notice",
    "channels",
    "recovery_threshold",
    "nodata_after",
    "repeat_interval",
}


def parse_duration(text: Any) -> timedelta:
    match = _DURATION.match(str(text).strip())
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 5m, 1h30m)")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def rules_export(rules=None) -> str:
    """The rules (all by default) as one Prometheus-style rule group."""
    rules = AlertRule.objects.order_by("name") if rules is None else rules
    entries = []
    for rule in rules:
        entry: dict[str, Any] = {"alert": rule.name, "expr": rule.expression}
        if rule.for_duration:
            entry["for"] = format_duration(rule.for_duration)
        entry["labels"] = {**{str(k): str(v) for k, v in (rule.labels or {}).items()}, "severity": rule.severity}
        annotations = {}
        if rule.summary:
            annotations["summary"] = rule.summary
        if rule.runbook:
            annotations["runbook"] = rule.runbook
        if rule.customer_notice:
            annotations["customer_notice"] = rule.customer_notice
        if rule.channels:
            annotations["channels"] = ", ".join(rule.channels)
        if rule.recovery_threshold is not None:
            annotations["recovery_threshold"] = format_number(rule.recovery_threshold)
        if rule.nodata_after is not None:
            annotations["nodata_after"] = format_duration(rule.nodata_after)
        if rule.repeat_interval is not None:
            annotations["repeat_interval"] = format_duration(rule.repeat_interval)
        if not rule.enabled:
            annotations["enabled"] = "false"
        if annotations:
            entry["annotations"] = annotations
        entries.append(entry)
    return yaml.safe_dump({"groups": [{"name": GROUP_NAME, "rules": entries}]}, sort_keys=False, allow_unicode=True)


def _rule_fields(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError("each rule must be a mapping")
    name = str(entry.get("alert") or "").strip()
    if not name or len(name) > 100:
        raise ValueError("`alert` (the rule's name, at most 100 characters) is required")
    match = _EXPR.match(str(entry.get("expr") or ""))
    if not match:
        raise ValueError(
            f"{name}: `expr` must read `<source>[<window>] <comparator> <number>`, e.g. kpis.error_rate[5m] > 0.05"
        )
    labels = entry.get("labels") or {}
    annotations = entry.get("annotations") or {}
    if not isinstance(labels, dict) or not isinstance(annotations, dict):
        raise ValueError(f"{name}: `labels` and `annotations` must be mappings")
    labels = {str(key): str(value) for key, value in labels.items()}
    severity = labels.pop("severity", AlertRule.Severity.WARNING)
    if severity not in AlertRule.Severity.values:
        raise ValueError(f"{name}: severity must be one of {', '.join(AlertRule.Severity.values)}")
    fields: dict[str, Any] = {
        "source": match["source"],
        "window": parse_duration(match["window"] or "1m"),
        "comparator": match["op"],
        "threshold": float(match["threshold"]),
        "for_duration": parse_duration(entry["for"]) if entry.get("for") else timedelta(0),
        "severity": severity,
        "labels": labels,
        "summary": str(annotations.get("summary", ""))[:300],
        "runbook": str(annotations.get("runbook", "")),
        "customer_notice": str(annotations.get("customer_notice", ""))[:300],
        "channels": [part.strip() for part in str(annotations.get("channels", "")).split(",") if part.strip()],
        "recovery_threshold": None,
        "nodata_after": None,
        "repeat_interval": None,
        "enabled": str(annotations.get("enabled", "true")).lower() not in ("false", "0", "no"),
    }
    problem = channels_problem(fields["channels"])
    if problem:
        raise ValueError(f"{name}: {problem}")
    if annotations.get("recovery_threshold") not in (None, ""):
        fields["recovery_threshold"] = float(annotations["recovery_threshold"])
    for key in ("nodata_after", "repeat_interval"):
        if annotations.get(key) not in (None, ""):
            fields[key] = parse_duration(annotations[key])
    assert fields["comparator"] in COMPARATORS  # noqa: S101 - the pattern admits only these
    return {"name": name, **fields}


def rules_parse(text: str) -> list[dict[str, Any]]:
    """The rules of a YAML document as model fields; ApplicationError names every problem found."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ApplicationError(f"Not valid YAML: {exc}", code="invalid_yaml") from exc
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise ApplicationError("Expected a mapping with `groups:` (Prometheus rule file).", code="invalid_rules")
    parsed, errors, seen = [], [], set()
    for group in document["groups"]:
        entries = group.get("rules") if isinstance(group, dict) else None
        if not isinstance(entries, list):
            errors.append("each group needs a `rules:` list")
            continue
        for position, entry in enumerate(entries, start=1):
            try:
                fields = _rule_fields(entry)
            except (ValueError, TypeError) as exc:
                errors.append(f"rule {position}: {exc}")
                continue
            if fields["name"] in seen:
                errors.append(f"rule {position}: {fields['name']} appears twice")
            seen.add(fields["name"])
            parsed.append(fields)
    if errors:
        raise ApplicationError("The rules were not imported.", code="invalid_rules", fields={"rules": errors})
    return parsed


@transaction.atomic
def rules_import(*, text: str, actor: Any | None = None, request: Any | None = None) -> tuple[int, int]:
    """Create or update the file's rules by name, all or nothing, audited; returns (created, updated)."""
    from tourbrain_support.recorders import record_action

    created: list[str] = []
    updated: list[str] = []
    for fields in rules_parse(text):
        name = fields.pop("name")
        _rule, was_created = AlertRule.objects.update_or_create(name=name, defaults=fields)
        (created if was_created else updated).append(name)
    record_action(
        actor=actor,
        action="update",
        resource_type="alerting.alertrule",
        resource_id="yaml-import",
        changes={"created": created, "updated": updated},
        request=request,
    )
    return len(created), len(updated)
