"""Alert notifications: one message per channel per evaluation tick, written to the notification outbox.

A rule's channels are `email:<address>`, `slack:<channel name>` (a named webhook of SLACK_WEBHOOKS),
`role:<role>` (an email to each active staff member holding the role, e.g. `role:admin`, `role:auditor`; the
support mailbox when nobody does) and `oncall`; critical rules always reach `oncall` too. The idempotency
key of a message names its channel (and, for a role, the person) and each alert in it as
`<kind>.<rule id>.<instance>` (`.<repeat number>` for repeats); a key longer than the outbox allows keeps a
readable head and a digest of the whole, so it still names the same set exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model

from tourbrain_support.alerting.models import AlertEvent, AlertRule, format_number
from tourbrain_support.notifications.builders import slack_enabled
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import OutboxItem, outbox_enqueue_many
from tourbrain_support.oncall.paging import page_oncall, page_resolve

ONCALL = "oncall"
ROLE_PREFIX = "role:"
KEY_LIMIT = 200
SUBJECT_PREFIX = "[TourBrain alert]"
MESSAGE_KIND = "alert.notification"
_HEADINGS = {
    AlertEvent.Kind.FIRING: "FIRING",
    AlertEvent.Kind.REPEAT: "STILL FIRING",
    AlertEvent.Kind.NODATA: "NO DATA",
    AlertEvent.Kind.RESOLVED: "RESOLVED",
}


def rule_targets(rule: AlertRule) -> list[str]:
    """Where a rule's notifications go, in order, without repeats."""
    targets = [str(target).strip() for target in rule.channels or [] if str(target).strip()]
    if rule.severity == AlertRule.Severity.CRITICAL:
        targets.append(ONCALL)
    return list(dict.fromkeys(targets))


def notices_enqueue(notices: Iterable, *, now: datetime) -> int:
    """Group the tick's notices per channel and write one outbox row per channel; returns the rows written."""
    by_target: dict[str, list] = defaultdict(list)
    for notice in notices:
        for target in rule_targets(notice.rule):
            by_target[target].append(notice)
    items: list[OutboxItem] = []
    for target, group in by_target.items():
        if target == ONCALL:
            items += _page_oncall(group, now=now)
        elif target.startswith(ROLE_PREFIX):
            items += role_items(target, group)
        else:
            item = target_item(target, group)
            if item is not None:
                items.append(item)
    return len(outbox_enqueue_many(items))


def _page_oncall(notices: list, *, now: datetime) -> list[OutboxItem]:
    """Reach whoever is on call about these alerts (every critical alert comes through here).

    Each firing or no-data episode pages the rotation once (`tourbrain_support.oncall`: SMS, email and Slack
    `alerts` to the primary, escalating to the secondary and the contacts until someone acknowledges), keyed
    by the rule and its episode, so a rerun pages nobody twice; a resolve closes the page. Repeats while
    firing go to Slack `alerts` (the page is already open), and ALERT_ONCALL_EMAILS get every notice by email.
    """
    for notice in notices:
        key = f"alert:{notice.rule.pk}:{notice.instance}"
        if notice.kind == AlertEvent.Kind.RESOLVED:
            page_resolve(key)
        elif notice.kind in (AlertEvent.Kind.FIRING, AlertEvent.Kind.NODATA):
            page_oncall(
                key=key,
                severity=notice.rule.severity,
                title=f"[{_HEADINGS[notice.kind]}] {notice.rule.name}",
                body=message_body([notice], slack=False),
                url=notice.annotations.get("url") or f"{settings.SITE_URL.rstrip('/')}/alerts/",
                labels=notice.rule.all_labels(),
            )
    items = [target_item(f"email:{address}", notices, via=ONCALL) for address in settings.ALERT_ONCALL_EMAILS]
    repeats = [notice for notice in notices if notice.kind == AlertEvent.Kind.REPEAT]
    if repeats:
        items.append(target_item("slack:alerts", repeats, via=ONCALL))
    return [item for item in items if item is not None]


def role_items(target: str, notices: list) -> list[OutboxItem]:
    """One email per active staff member holding the role (one query), each keyed by the role and the person,
    so a person holding two of a rule's roles is told once per role target; nobody: the support mailbox."""
    role = target[len(ROLE_PREFIX) :]
    people = (
        get_user_model()
        .objects.filter(is_active=True, groups__name=role)
        .exclude(email="")
        .distinct()
        .order_by("pk")
        .values_list("pk", "email")
    )
    addresses = [(f"{target}>{pk}", email) for pk, email in people] or [(f"{target}>support", settings.SUPPORT_EMAIL)]
    items = []
    for key, address in addresses:
        item = target_item(f"email:{address}", notices)
        if item is not None:
            items.append(dataclasses.replace(item, idempotency_key=message_key(key, _ordered(notices))))
    return items


def _ordered(notices: list) -> list:
    return sorted(notices, key=lambda notice: (notice.kind == AlertEvent.Kind.RESOLVED, notice.rule.name))


def target_item(target: str, notices: list, *, via: str = "") -> OutboxItem | None:
    """The outbox row of one channel (None: Slack is off, or the target is not understood)."""
    scheme, _, name = target.partition(":")
    if scheme == "email" and name:
        channel = OutboxMessage.Channel.EMAIL
    elif scheme == "slack":
        name = name or "alerts"
        if not slack_enabled(name):
            return None
        channel = OutboxMessage.Channel.SLACK
    else:
        return None
    ordered = _ordered(notices)
    return OutboxItem(
        kind=MESSAGE_KIND,
        channel=channel,
        recipient=name,
        subject=subject_line(ordered),
        body=message_body(ordered, slack=channel == OutboxMessage.Channel.SLACK),
        idempotency_key=message_key(f"{via}>{target}" if via else target, ordered),
        payload={
            "alerts": [
                {"rule": notice.rule.pk, "name": notice.rule.name, "kind": notice.kind, "instance": notice.instance}
                for notice in ordered
            ],
            "via": via,
        },
    )


def message_key(target: str, notices: list) -> str:
    parts = sorted(
        f"{notice.kind}.{notice.rule.pk}.{notice.instance}" + (f".{notice.repeat}" if notice.repeat else "")
        for notice in notices
    )
    key = f"alert:{target}:{','.join(parts)}"
    if len(key) <= KEY_LIMIT:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"{key[: KEY_LIMIT - len(digest) - 1]}~{digest}"


def subject_line(notices: list) -> str:
    counts: dict[str, int] = defaultdict(int)
    for notice in notices:
        counts[_HEADINGS[notice.kind].lower()] += 1
    summary = ", ".join(f"{count} {heading}" for heading, count in counts.items())
    names = ", ".join(dict.fromkeys(notice.rule.name for notice in notices))
    return f"{SUBJECT_PREFIX} {summary}: {names}"


def message_body(notices: list, *, slack: bool = False) -> str:
    lines = []
    for notice in notices:
        rule = notice.rule
        value = "no value" if notice.value is None else format_number(round(notice.value, 4))
        heading = f"[{_HEADINGS[notice.kind]}] {rule.name} ({rule.severity})"
        lines.append(f"*{heading}*" if slack else heading)
        if rule.summary:
            lines.append(f"  {rule.summary}")
        lines.append(
            f"  {rule.expression}: {value}" + (f", since {notice.since:%Y-%m-%d %H:%M} UTC" if notice.since else "")
        )
        for name, text in notice.annotations.items():
            label = "Link" if name == "url" else name.replace("_", " ").capitalize()
            lines.append(f"  {label}: {text}")
        if rule.runbook and notice.kind != AlertEvent.Kind.RESOLVED:
            lines.append(f"  Runbook: {rule.runbook}")
        lines.append("")
    lines.append(f"Alerts: {settings.SITE_URL.rstrip('/')}/alerts/")
    return "\n".join(lines)
