"""Who is on call: weekly hand-over in local time (across DST), primary and secondary, overrides."""

from datetime import UTC, datetime, time

import pytest
import time_machine

from tests.oncall import factories
from tourbrain_support.oncall.models import Rotation
from tourbrain_support.oncall.selectors import oncall_now, oncall_schedule, oncall_schedules

pytestmark = pytest.mark.django_db


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def team():
    people = {name: factories.responder(name) for name in ("Ana", "Ben", "Cai", "Dee")}
    rotation = factories.rotation([people["Ana"], people["Ben"], people["Cai"]])  # Monday 09:00 Europe/London
    return rotation, people


# (instant, expected primary, expected secondary). Week 0 starts Monday 2 March 2026 09:00 London (GMT = UTC).
ROTATION_CASES = [
    (utc(2026, 3, 2, 8, 59), "Cai", "Ana"),  # before the first hand-over: the week before week 0
    (utc(2026, 3, 2, 9, 0), "Ana", "Ben"),  # hand-over to week 0 exactly on the minute
    (utc(2026, 3, 8, 23, 59), "Ana", "Ben"),  # Sunday night: still week 0
    (utc(2026, 3, 9, 9, 0), "Ben", "Cai"),  # week 1
    (utc(2026, 3, 16, 9, 0), "Cai", "Ana"),  # week 2: the secondary wraps round
    (utc(2026, 3, 23, 9, 0), "Ana", "Ben"),  # week 3: back to the start
    # The clocks go forward on 29 March: Monday 30 March 09:00 BST is 08:00 UTC.
    (utc(2026, 3, 30, 7, 59), "Ana", "Ben"),
    (utc(2026, 3, 30, 8, 0), "Ben", "Cai"),
]


@pytest.mark.parametrize(("instant", "primary", "secondary"), ROTATION_CASES)
def test_weekly_rotation(team, instant, primary, secondary):
    with time_machine.travel(instant, tick=False):
        now_primary, now_secondary = oncall_now()
    assert (str(now_primary), str(now_secondary)) == (primary, secondary)


# (overrides as (person, role, from, to), instant, primary, secondary) in week 1 (Ben primary, Cai secondary).
OVERRIDE_CASES = [
    ([("Dee", "primary", utc(2026, 3, 10), utc(2026, 3, 12))], utc(2026, 3, 11, 12), "Dee", "Cai"),
    ([("Dee", "primary", utc(2026, 3, 10), utc(2026, 3, 12))], utc(2026, 3, 12), "Ben", "Cai"),  # ends exclusive
    ([("Dee", "primary", utc(2026, 3, 10), utc(2026, 3, 12))], utc(2026, 3, 9, 23, 59), "Ben", "Cai"),
    ([("Dee", "secondary", utc(2026, 3, 10), utc(2026, 3, 12))], utc(2026, 3, 11), "Ben", "Dee"),
    # Overlapping overrides: the newest wins.
    (
        [
            ("Dee", "primary", utc(2026, 3, 10), utc(2026, 3, 14)),
            ("Ana", "primary", utc(2026, 3, 11), utc(2026, 3, 12)),
        ],
        utc(2026, 3, 11, 6),
        "Ana",
        "Cai",
    ),
    # The week's secondary covers the primary: the week's primary becomes the backup.
    ([("Cai", "primary", utc(2026, 3, 10), utc(2026, 3, 12))], utc(2026, 3, 11), "Cai", "Ben"),
]


@pytest.mark.parametrize(("overrides", "instant", "primary", "secondary"), OVERRIDE_CASES)
def test_overrides(team, overrides, instant, primary, secondary):
    rotation, people = team
    for name, role, start, end in overrides:
        factories.override(rotation, people[name], start, end, role=role)
    with time_machine.travel(instant, tick=False):
        now_primary, now_secondary = oncall_now()
    assert (str(now_primary), str(now_secondary)) == (primary, secondary)


def test_handover_at_a_configured_weekday_and_time_in_another_zone():
    people = [factories.responder(name) for name in ("Ana", "Ben")]
    factories.rotation(people, weekday=Rotation.Weekday.FRIDAY, at=time(17, 30), time_zone="America/New_York")
    # Friday 6 March 2026 17:30 in New York (EST, UTC-5) = 22:30 UTC: week 0 begins.
    assert str(oncall_now(utc(2026, 3, 6, 22, 29))[0]) == "Ben"
    assert str(oncall_now(utc(2026, 3, 6, 22, 30))[0]) == "Ana"


def test_no_rotation_means_nobody_on_call():
    assert oncall_now() == (None, None)


def test_schedule_shows_now_and_next_with_the_next_handover(team, django_assert_max_num_queries):
    rotation, people = team
    factories.override(rotation, people["Dee"], utc(2026, 3, 16, 9), utc(2026, 3, 17), reason="swap")
    with time_machine.travel(utc(2026, 3, 11, 12), tick=False), django_assert_max_num_queries(3):
        schedule = oncall_schedule()
    assert (str(schedule.now.primary), str(schedule.now.secondary)) == ("Ben", "Cai")
    assert schedule.now.ends_at == utc(2026, 3, 16, 9)
    # The override starting at the hand-over applies to the next shift.
    assert (str(schedule.next.primary), str(schedule.next.secondary)) == ("Dee", "Ana")
    assert [override.reason for override in schedule.overrides] == ["swap"]


def test_schedules_of_every_active_rotation_in_three_queries(team, django_assert_max_num_queries):
    rotation, people = team
    factories.override(rotation, people["Dee"], utc(2026, 3, 16, 9), utc(2026, 3, 17), reason="swap")
    for i in range(3):
        other = factories.rotation(
            [people["Dee"], people["Ana"]], name=f"Team {i}", match_labels={"team": f"t{i}"}, time_zone="UTC"
        )
        factories.override(other, people["Cai"], utc(2026, 3, 11), utc(2026, 3, 12), reason=f"cover {i}")
    with time_machine.travel(utc(2026, 3, 11, 12), tick=False), django_assert_max_num_queries(3):
        schedules = oncall_schedules()
    assert [schedule.rotation_name for schedule in schedules] == ["Primary rotation", "Team 0", "Team 1", "Team 2"]
    first, *others = schedules
    assert [override.reason for override in first.overrides] == ["swap"]
    assert (str(first.next.primary), str(first.next.secondary)) == ("Dee", "Ana")
    for i, schedule in enumerate(others):
        assert schedule.match_labels == {"team": f"t{i}"}
        assert [override.reason for override in schedule.overrides] == [f"cover {i}"]
        # Week 1 of Dee, Ana: Ana primary, Dee secondary, with Cai covering the primary today.
        assert (str(schedule.now.primary), str(schedule.now.secondary)) == ("Cai", "Dee")
