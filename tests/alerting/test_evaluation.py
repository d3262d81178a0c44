"""Rule semantics, one evaluation per minute under time_machine: pending/firing/resolve, hysteresis, no data,
silences, repeats; a rerun or a stale second evaluator never notifies twice."""

from datetime import timedelta

import pytest
import time_machine

from tests.alerting.conftest import START
from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.models import AlertEvent, AlertRule, AlertState, Silence

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)
_ = None  # no notification at this tick

# (case, rule fields, values per minute (None: no data), silenced minutes, expected states, expected notices)
CASES = [
    (
        "pending then firing after for",
        {"for_duration": 2 * M},
        [10, 10, 10, 10],
        (),
        ["pending", "pending", "firing", "firing"],
        [_, _, "firing", _],
    ),
    ("for 0 fires at once", {}, [10], (), ["firing"], ["firing"]),
    (
        "pending drops back without a word",
        {"for_duration": 2 * M},
        [10, 1, 10, 10, 10],
        (),
        ["pending", "inactive", "pending", "pending", "firing"],
        [_, _, _, _, "firing"],
    ),
    (
        "flapping without hysteresis",
        {},
        [10, 4, 10, 4],
        (),
        ["firing", "resolved", "firing", "resolved"],
        ["firing", "resolved", "firing", "resolved"],
    ),
    (
        "flapping with hysteresis",
        {"recovery_threshold": 3},
        [10, 4, 10, 4, 2],
        (),
        ["firing", "firing", "firing", "firing", "resolved"],
        ["firing", _, _, _, "resolved"],
    ),
    (
        "resolve",
        {},
        [10, 1, 1, 10],
        (),
        ["firing", "resolved", "resolved", "firing"],
        ["firing", "resolved", _, "firing"],
    ),
    (
        "a short gap changes nothing",
        {"nodata_after": 3 * M},
        [10, None, None, 10],
        (),
        ["firing", "firing", "firing", "firing"],
        ["firing", _, _, _],
    ),
    (
        "no data for longer than nodata_after",
        {"nodata_after": 3 * M},
        [10, None, None, None, None, 1],
        (),
        ["firing", "firing", "firing", "nodata", "nodata", "resolved"],
        ["firing", _, _, "nodata", _, "resolved"],
    ),
    (
        "a source that never answers",
        {"nodata_after": 2 * M},
        [None, None, None],
        (),
        ["inactive", "inactive", "nodata"],
        [_, _, "nodata"],
    ),
    ("no data is ignored without nodata_after", {}, [None, None, None], (), ["inactive"] * 3, [_, _, _]),
    (
        "silenced: notified when the silence ends",
        {},
        [10, 10, 10, 1],
        (0, 1),
        ["firing", "firing", "firing", "resolved"],
        [_, _, "firing", "resolved"],
    ),
    ("silenced throughout: nothing", {}, [10, 10, 1], (0, 1, 2), ["firing", "firing", "resolved"], [_, _, _]),
    (
        "repeat while firing",
        {"repeat_interval": 2 * M},
        [10, 10, 10, 10, 10, 1],
        (),
        ["firing"] * 5 + ["resolved"],
        ["firing", _, "repeat", _, "repeat", "resolved"],
    ),
    (
        "comparator and threshold",
        {"comparator": "<=", "threshold": 0.5},
        [0.9, 0.5, 0.6],
        (),
        ["inactive", "firing", "resolved"],
        [_, "firing", "resolved"],
    ),
]


@pytest.mark.parametrize(
    ("fields", "values", "silenced", "states", "notices"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rule_semantics(make_rule, scripted_source, fields, values, silenced, states, notices):
    with time_machine.travel(START, tick=False):
        rule = make_rule(name="Flappy", **fields)
    seen_states, seen_notices = [], []
    for minute, value in enumerate(values):
        at = START + minute * M
        Silence.objects.all().delete()
        if minute in silenced:
            Silence.objects.create(matchers=[["alertname", "=", "Flappy"]], starts_at=at, ends_at=at + M, reason="test")
        scripted_source.value = value
        with time_machine.travel(at, tick=False):
            result = alerts_evaluate()
        seen_states.append(AlertState.objects.get(rule=rule).state)
        kinds = [notice.kind for notice in result.notices]
        assert len(kinds) <= 1
        seen_notices.append(kinds[0] if kinds else None)
    assert seen_states == states
    assert seen_notices == notices


def test_history_records_each_change_and_what_was_notified(make_rule, scripted_source):
    with time_machine.travel(START, tick=False):
        rule = make_rule(for_duration=M)
    for minute, value in enumerate([10, 10, 1]):
        scripted_source.value = value
        with time_machine.travel(START + minute * M, tick=False):
            alerts_evaluate()
    events = list(AlertEvent.objects.filter(rule=rule).order_by("at").values_list("kind", "instance", "notified"))
    assert events == [("pending", 0, False), ("firing", 1, True), ("resolved", 1, True)]


def test_a_rerun_of_the_same_tick_notifies_nothing(make_rule, scripted_source):
    """A restart between ticks (or beat sending the task twice) evaluates again from the stored state."""
    make_rule()
    scripted_source.value = 10
    with time_machine.travel(START, tick=False):
        first = alerts_evaluate()
        second = alerts_evaluate()
    assert [notice.kind for notice in first.notices] == ["firing"]
    assert second.notices == []
    assert AlertEvent.objects.filter(kind="firing").count() == 1


def test_an_evaluator_holding_an_old_state_loses_its_change(make_rule, scripted_source):
    """Two evaluators read the same state; the one that writes second matches no row and sends nothing."""
    from tourbrain_support.alerting.evaluation import evaluable_rules

    make_rule(name="A")
    make_rule(name="B", threshold=100)
    scripted_source.value = 10
    with time_machine.travel(START, tick=False):
        stale = evaluable_rules()  # read by the slower evaluator
        winner = alerts_evaluate()
        loser = alerts_evaluate(rules=stale)
    assert [notice.rule.name for notice in winner.notices] == ["A"]
    assert loser.notices == []
    assert loser.lost == 1
    assert AlertEvent.objects.filter(kind="firing").count() == 1


def test_a_rule_without_a_registered_source_never_fires(make_rule):
    rule = make_rule(source="nobody.registered_this")
    with time_machine.travel(START, tick=False):
        result = alerts_evaluate()
    assert result.no_source == [rule.name]
    assert result.evaluated == 0
    assert AlertState.objects.get(rule=rule).state == "inactive"


def test_a_failing_source_counts_as_no_data(make_rule):
    from tourbrain_support.alerting.sources import register_source, unregister_source

    def broken(window, now):
        raise RuntimeError("boom")

    register_source("test.broken", broken)
    try:
        rule = make_rule(source="test.broken", nodata_after=M)
        with time_machine.travel(START, tick=False):
            alerts_evaluate()
        with time_machine.travel(START + M, tick=False):
            result = alerts_evaluate()
    finally:
        unregister_source("test.broken")
    assert [notice.kind for notice in result.notices] == ["nodata"]
    assert AlertState.objects.get(rule=rule).state == "nodata"


def test_one_source_value_per_window_serves_every_rule_on_it(make_rule, scripted_source):
    make_rule(name="A")
    make_rule(name="B", threshold=50)
    make_rule(name="C", window=5 * M)
    scripted_source.value = 10
    with time_machine.travel(START, tick=False):
        alerts_evaluate()
    assert sorted(window for window, _now in scripted_source.calls) == [M, 5 * M]


def test_silence_matchers(make_rule, scripted_source):
    from tourbrain_support.alerting.evaluation import silence_matches

    rule = make_rule(name="ClerkUnavailable", severity="critical", labels={"team": "platform"})
    labels = rule.all_labels()
    silence = Silence(matchers=[["alertname", "=~", "Clerk.*"], ["team", "!=", "support"]])
    assert silence_matches(silence, labels)
    assert not silence_matches(Silence(matchers=[["severity", "=", "warning"]]), labels)
    assert not silence_matches(Silence(matchers=[["alertname", "!~", "Clerk.*"]]), labels)
    assert silence_matches(Silence(matchers=[["missing", "=", ""]]), labels)


def test_disabled_rules_are_not_evaluated(make_rule, scripted_source):
    rule = make_rule(enabled=False)
    scripted_source.value = 10
    with time_machine.travel(START, tick=False):
        result = alerts_evaluate()
    assert result.evaluated == 0
    assert not AlertState.objects.filter(rule=rule).exists()
    assert AlertRule.objects.get(pk=rule.pk).enabled is False
