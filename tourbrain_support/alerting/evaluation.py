"""Rule evaluation, once a minute: each rule's value over its window against its threshold, with Prometheus's
pending/firing semantics, hysteresis, no-data alerts, silences, repeats and resolve.

States: inactive -> pending (condition true, waiting `for`) -> firing -> resolved (condition false; with a
recovery threshold, the value must pass that one). A pending rule whose condition turns false goes back to
inactive without a word. No value for longer than `nodata_after` is the state nodata, notified like a
firing alert, resolved when values come back. Each firing or no-data episode gets a new `instance` number.

One writer per change: a rule's state row changes only by `UPDATE ... WHERE version = <the version read>`;
an evaluator whose update matches nothing (another evaluator, or a run before a restart, got there first)
drops that rule's change and its notifications. The state changes, their history rows and the outbox rows
commit together, and the outbox rows carry idempotency keys naming the rules and episodes, so a second
evaluator, a rerun or a restart never notifies twice.

Notifications are grouped per tick: all alerts that fire, repeat or resolve in one evaluation go out as one
message per channel (`notify.py`). A silenced rule changes state as usual but sends nothing; when the
silence ends while it still fires, the firing is notified then. Critical rules also page the on-call
(`notify._page_oncall`).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tourbrain_support.alerting import sources
from tourbrain_support.alerting.models import COMPARATORS, AlertEvent, AlertRule, AlertState, Silence
from tourbrain_support.alerting.probes import configured_probe_names

logger = logging.getLogger(__name__)

State = AlertState.State
Kind = AlertEvent.Kind


@dataclass(frozen=True)
class Notice:
    """One alert in a grouped notification."""

    rule: AlertRule
    kind: str  # firing, repeat, nodata or resolved
    instance: int
    value: float | None
    repeat: int = 0
    since: datetime | None = None
    annotations: dict[str, str] = field(default_factory=dict)  # from the source: what lies behind the value


@dataclass
class Decision:
    fields: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, bool, bool]] = field(default_factory=list)  # (kind, notified, silenced)
    notices: list[Notice] = field(default_factory=list)


@dataclass
class TickResult:
    evaluated: int = 0
    no_source: list[str] = field(default_factory=list)
    changed: int = 0
    lost: int = 0  # changes another evaluator made first
    notices: list[Notice] = field(default_factory=list)
    messages: int = 0


# --- values ---------------------------------------------------------------------------------------------


def rule_values(
    rules: list[AlertRule], now: datetime, annotations: dict[int, dict[str, str]] | None = None
) -> tuple[dict[int, float | None], list[AlertRule]]:
    """Each evaluable rule's value ({rule id: value or None}) and the rules whose source is unknown; a source's
    annotations go into `annotations` ({rule id: {name: text}}) when given.

    Probe fields cost one grouped query per distinct window; a registered source is called once per window.
    """
    probe_names = configured_probe_names()
    registered = sources.registered_sources()
    unknown, probe_rules, registered_rules = [], defaultdict(list), defaultdict(list)
    for rule in rules:
        parsed = sources.parse_probe_source(rule.source)
        if parsed is not None and parsed[0] in probe_names:
            probe_rules[rule.window].append((rule, parsed))
        elif parsed is None and rule.source in registered:
            registered_rules[(rule.source, rule.window)].append(rule)
        else:
            unknown.append(rule)
    values: dict[int, float | None] = {}
    for window, pairs in probe_rules.items():
        found = sources.probe_values({probe for _rule, (probe, _field) in pairs}, window, now)
        for rule, key in pairs:
            values[rule.pk] = found.get(key)
    for (name, window), group in registered_rules.items():
        found = sources.registered_value(name, window, now)
        for rule in group:
            values[rule.pk] = found.value
            if annotations is not None and found.annotations:
                annotations[rule.pk] = found.annotations
    return values, unknown


# --- silences -------------------------------------------------------------------------------------------


def active_silences(now: datetime) -> list[Silence]:
    return list(Silence.objects.filter(starts_at__lte=now, ends_at__gt=now))


def silence_matches(silence: Silence, labels: dict[str, str]) -> bool:
    """Every matcher holds; a label the rule lacks is the empty string (as in Alertmanager)."""
    for name, op, expected in silence.matchers:
        actual = labels.get(name, "")
        if op == "=":
            ok = actual == expected
        elif op == "!=":
            ok = actual != expected
        elif op in ("=~", "!~"):
            ok = re.fullmatch(expected, actual) is not None
            ok = ok if op == "=~" else not ok
        else:
            ok = False
        if not ok:
            return False
    return True


def rule_silenced(rule: AlertRule, silences: list[Silence]) -> bool:
    labels = rule.all_labels()
    return any(silence_matches(silence, labels) for silence in silences)


# --- the state machine ------------------------------------------------------------------------------------


def decide(rule: AlertRule, state: AlertState, value: float | None, now: datetime, *, silenced: bool) -> Decision:
    """The change one evaluation makes to a rule's state (empty fields: none), its history and notices."""
    decision = Decision()
    current = state.state
    data_since = now if value is not None else state.last_data_at or state.changed_at
    stale = value is None and rule.nodata_after is not None and now - data_since >= rule.nodata_after

    def move(to: str, event: str, **extra):
        decision.fields.update(state=to, changed_at=now, **extra)
        decision.events.append((event, False, False))

    if current == State.NODATA and value is not None:
        move(State.RESOLVED, Kind.RESOLVED, pending_since=None)
        _resolve_notice(rule, state, value, now, silenced, decision)
    elif current == State.NODATA:
        _firing_notice(rule, state, value, now, silenced, decision, kind=Kind.NODATA)
    elif stale:
        instance = state.instance + 1
        move(State.NODATA, Kind.NODATA, instance=instance, active_since=now, pending_since=None, repeats=0)
        _firing_notice(rule, state, value, now, silenced, decision, kind=Kind.NODATA, instance=instance, fresh=True)
    elif value is None:
        pass  # a gap shorter than nodata_after changes nothing
    else:
        threshold = rule.threshold
        if current == State.FIRING and rule.recovery_threshold is not None:
            threshold = rule.recovery_threshold
        active = COMPARATORS[rule.comparator](value, threshold)
        if current in (State.INACTIVE, State.RESOLVED) and active:
            if rule.for_duration <= timedelta(0):
                _fire(rule, state, value, now, silenced, decision, move)
            else:
                move(State.PENDING, Kind.PENDING, pending_since=now)
        elif current == State.PENDING:
            if not active:
                move(State.INACTIVE, Kind.INACTIVE, pending_since=None)
            elif now - state.pending_since >= rule.for_duration:
                _fire(rule, state, value, now, silenced, decision, move)
        elif current == State.FIRING:
            if active:
                _firing_notice(rule, state, value, now, silenced, decision, kind=Kind.FIRING)
            else:
                move(State.RESOLVED, Kind.RESOLVED, pending_since=None)
                _resolve_notice(rule, state, value, now, silenced, decision)
    if decision.fields and value is not None:
        decision.fields["last_value"] = value
    if decision.fields:
        decision.fields["last_data_at"] = data_since if value is not None else state.last_data_at
        decision.fields["evaluated_at"] = now
    return decision


def _fire(rule, state, value, now, silenced, decision, move) -> None:
    instance = state.instance + 1
    move(State.FIRING, Kind.FIRING, instance=instance, active_since=now, pending_since=None, repeats=0)
    _firing_notice(rule, state, value, now, silenced, decision, kind=Kind.FIRING, instance=instance, fresh=True)


def _firing_notice(rule, state, value, now, silenced, decision, *, kind, instance=None, fresh=False) -> None:
    """Notify a firing (or no-data) episode: first time, once a silence has ended, or when the repeat is due."""
    instance = instance or state.instance
    since = now if fresh else state.active_since
    if silenced:
        if fresh:
            decision.events[-1] = (decision.events[-1][0], False, True)
        return
    if fresh or state.notified_instance != instance:
        notice = Notice(rule, kind, instance, value, since=since)
        event = kind
    elif rule.repeat_interval and state.last_notified_at and now - state.last_notified_at >= rule.repeat_interval:
        repeats = state.repeats + 1
        notice = Notice(rule, Kind.REPEAT, instance, value, repeat=repeats, since=since)
        decision.fields["repeats"] = repeats
        event = Kind.REPEAT
    else:
        return
    decision.fields.update(notified_instance=instance, last_notified_at=now)
    decision.notices.append(notice)
    if fresh:
        decision.events[-1] = (event, True, False)
    else:
        decision.events.append((event, True, False))


def _resolve_notice(rule, state, value, now, silenced, decision) -> None:
    """Only an episode someone was told about is resolved aloud."""
    if state.notified_instance != state.instance or state.instance == 0:
        return
    if silenced:
        decision.events[-1] = (Kind.RESOLVED, False, True)
        return
    decision.notices.append(Notice(rule, Kind.RESOLVED, state.instance, value, since=state.active_since))
    decision.events[-1] = (Kind.RESOLVED, True, False)


# --- a tick -----------------------------------------------------------------------------------------------


def evaluable_rules() -> list[AlertRule]:
    """Enabled rules with their state rows (created here for new rules)."""
    rules = list(AlertRule.objects.filter(enabled=True).select_related("state"))
    missing = [rule for rule in rules if not hasattr(rule, "state")]
    if missing:
        AlertState.objects.bulk_create([AlertState(rule=rule) for rule in missing], ignore_conflicts=True)
        states = AlertState.objects.in_bulk([rule.pk for rule in missing])
        for rule in missing:
            rule.state = states[rule.pk]
    return rules


def alerts_evaluate(*, now: datetime | None = None, rules: list[AlertRule] | None = None) -> TickResult:
    """Evaluate every enabled rule once (`rules`: ones read earlier, as a concurrent evaluator would hold)."""
    now = now or timezone.now()
    rules = evaluable_rules() if rules is None else rules
    annotations: dict[int, dict[str, str]] = {}
    values, unknown = rule_values(rules, now, annotations)
    silences = active_silences(now)
    result = TickResult(no_source=[rule.name for rule in unknown])
    unchanged: dict[float | None, list[int]] = defaultdict(list)  # value -> rules with no transition
    decided: list[tuple[AlertRule, Decision]] = []
    for rule in rules:
        if rule.pk not in values:
            continue
        result.evaluated += 1
        decision = decide(rule, rule.state, values[rule.pk], now, silenced=rule_silenced(rule, silences))
        if decision.fields:
            decided.append((rule, decision))
        else:
            unchanged[values[rule.pk]].append(rule.pk)
    with transaction.atomic():
        written = _write_transitions([(rule.state, decision.fields) for rule, decision in decided])
        events: list[AlertEvent] = []
        for rule, decision in decided:
            if rule.pk not in written:
                result.lost += 1
                continue
            result.changed += 1
            instance = decision.fields.get("instance", rule.state.instance)
            value = values[rule.pk]
            events += [
                AlertEvent(rule=rule, kind=kind, instance=instance, value=value, at=now, notified=sent, silenced=muted)
                for kind, sent, muted in decision.events
            ]
            notes = annotations.get(rule.pk)
            result.notices += [replace(notice, annotations=notes) if notes else notice for notice in decision.notices]
        _record_values(unchanged, now)
        AlertEvent.objects.bulk_create(events)
        if result.notices:
            from tourbrain_support.alerting.notify import notices_enqueue

            result.messages = notices_enqueue(result.notices, now=now)
    if result.changed:
        _refresh_customer_notices()
    return result


def _refresh_customer_notices() -> None:
    """A state changed: customers' maintenance banners follow at once. The cached copy goes now and is rebuilt
    after commit, from the committed states (a reader in between reads them itself)."""
    from django.core.cache import cache

    from tourbrain_support.alerting.selectors import NOTICES_CACHE_KEY, customer_notices_refresh

    cache.delete(NOTICES_CACHE_KEY)
    transaction.on_commit(customer_notices_refresh)


# Every column a transition may change: a changed row is written whole, from the state read plus the change.
STATE_COLUMNS = (
    "state",
    "instance",
    "pending_since",
    "active_since",
    "changed_at",
    "last_data_at",
    "notified_instance",
    "last_notified_at",
    "repeats",
    "last_value",
    "evaluated_at",
)
WRITE_CHUNK = 500


def _write_transitions(changes: list[tuple[AlertState, dict[str, Any]]]) -> set[int]:
    """Write each change only where the row still has the version read; returns the rule ids written.

    One `UPDATE ... FROM (VALUES ...) WHERE version = <read> RETURNING` per chunk (PostgreSQL and SQLite
    alike), so a tick where hundreds of rules change costs a few statements, not one per rule.
    """
    written: set[int] = set()
    if not changes:
        return written
    meta = AlertState._meta
    fields = [meta.get_field(name) for name in STATE_COLUMNS]
    key_fields = [meta.get_field("rule"), meta.get_field("version")]
    typed = connection.vendor == "postgresql"  # VALUES parameters need their column types there

    def column(position: int, field) -> str:
        reference = f"v.column{position}"
        return f"CAST({reference} AS {field.db_type(connection)})" if typed else reference

    table = connection.ops.quote_name(meta.db_table)
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = {column(index + 3, field)}" for index, field in enumerate(fields))
    for offset in range(0, len(changes), WRITE_CHUNK):
        chunk = changes[offset : offset + WRITE_CHUNK]
        params: list[Any] = []
        for state, change in chunk:
            params += [state.pk, state.version]
            params += [
                field.get_db_prep_value(change.get(field.name, getattr(state, field.attname)), connection)
                for field in fields
            ]
        row = "(" + ", ".join(["%s"] * (len(fields) + 2)) + ")"
        # Names come from the model, values go as parameters.
        sql = (
            f"UPDATE {table} SET {assignments}, {quote('version')} = {table}.{quote('version')} + 1"  # noqa: S608
            f" FROM (VALUES {', '.join([row] * len(chunk))}) AS v"
            f" WHERE {table}.{quote('rule_id')} = {column(1, key_fields[0])}"
            f" AND {table}.{quote('version')} = {column(2, key_fields[1])}"
            f" RETURNING {table}.{quote('rule_id')}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            written.update(rule_id for (rule_id,) in cursor.fetchall())
    return written


def _record_values(unchanged: dict[float | None, list[int]], now: datetime) -> None:
    """The latest value of rules without a transition: one UPDATE per distinct value (rules on one source and
    window share it). Not a transition, so no version check; last_data_at only moves forward."""
    for value, rule_ids in unchanged.items():
        fields: dict[str, Any] = {"last_value": value, "evaluated_at": now}
        if value is not None:
            fields["last_data_at"] = now
        AlertState.objects.filter(pk__in=rule_ids).update(**fields)
