"""Business-time arithmetic (`tickets.sla`) against a brute-force oracle that steps minute by minute.

The oracle is deliberately naive: for each UTC minute it converts the instant to local wall-clock time and
asks whether that wall time lies in an opening interval of the local date (or of the day before, for
intervals that cross midnight) that is not closed. All interval boundaries, zone offsets and starts used
with it are whole minutes, so the open/closed state is constant within each stepped minute.
"""

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tickets import sla
from tickets.sla import BusinessCalendar

ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
HOLIDAY_CHOICES = [(None, None), ("GB", None), ("GB", "SCT"), ("US", None), ("AU", "NSW")]
MINUTE = timedelta(minutes=1)
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
ORACLE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHEAP = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the oracle ------------------------------------------------------------------------------------


@cache
def oracle_holidays(country, subdivision, year):
    return set(holidays.country_holidays(country, subdiv=subdivision, years=year))


def oracle_closed(calendar, day):
    if day in calendar.closed_dates:
        return True
    return bool(calendar.holiday_country) and day in oracle_holidays(
        calendar.holiday_country, calendar.holiday_subdivision, day.year
    )


def oracle_is_open(calendar, instant):
    if calendar.always_open:
        return True
    local = instant.astimezone(ZoneInfo(calendar.timezone)).replace(tzinfo=None)
    for day in (local.date() - timedelta(days=1), local.date()):
        if oracle_closed(calendar, day):
            continue
        for start, end in calendar.weekly_hours[day.weekday()]:
            opens = datetime.combine(day, start)
            closes = datetime.combine(day if end > start else day + timedelta(days=1), end)
            if opens <= local < closes:
                return True
    return False


def oracle_open_minutes(calendar, start, minutes):
    """Open flag of each minute [start + i, start + i + 1) for i in range(minutes)."""
    return [oracle_is_open(calendar, start + i * MINUTE) for i in range(minutes)]


def oracle_between(flags, minutes):
    return sum(flags[:minutes])


def oracle_add(start, flags, minutes):
    """End of the minutes-th open minute (start itself for 0); None when beyond the stepped window."""
    if minutes == 0:
        return start
    seen = 0
    for index, is_open in enumerate(flags):
        seen += is_open
        if seen == minutes:
            return start + (index + 1) * MINUTE
    return None


# --- strategies ------------------------------------------------------------------------------------


@cache
def offset_changes(zone_name):
    """UTC hours (2025-2027) in which the zone's offset changes, found by stepping hour by hour."""
    zone = ZoneInfo(zone_name)
    hour = datetime(2025, 1, 1, tzinfo=UTC)
    changes = []
    previous = hour.astimezone(zone).utcoffset()
    while hour.year < 2028:
        hour += timedelta(hours=1)
        current = hour.astimezone(zone).utcoffset()
        if current != previous:
            changes.append(hour)
            previous = current
    return changes


minute_of_day = st.integers(min_value=0, max_value=24 * 60 - 1).map(lambda m: time(m // 60, m % 60))
interval = st.tuples(minute_of_day, minute_of_day)
day_hours = st.one_of(
    st.just(()),
    st.just(((time(0, 0), time(0, 0)),)),
    st.just(((time(9, 0), time(18, 0)),)),
    st.just(((time(22, 0), time(6, 0)),)),
    st.lists(interval, min_size=1, max_size=3).map(tuple),
)


@st.composite
def calendars(draw, *, zones=ZONES, allow_always_open=True):
    zone = draw(st.sampled_from(zones))
    weekly = tuple(draw(day_hours) for _ in range(7))
    country, subdivision = draw(st.sampled_from(HOLIDAY_CHOICES))
    closed = draw(st.frozensets(st.dates(min_value=date(2024, 12, 20), max_value=date(2028, 1, 20)), max_size=6))
    always_open = allow_always_open and draw(st.integers(0, 9)) == 0
    return BusinessCalendar(
        timezone=zone,
        weekly_hours=weekly,
        holiday_country=country,
        holiday_subdivision=subdivision,
        closed_dates=closed,
        always_open=always_open,
    )


@st.composite
def starts(draw, calendar):
    """Minute-aligned UTC starts, mostly within days of an offset change or a year end (holidays)."""
    changes = offset_changes(calendar.timezone)
    anchors = [*changes, datetime(2025, 12, 24, tzinfo=UTC), datetime(2026, 12, 24, tzinfo=UTC)]
    anchor = draw(st.sampled_from(anchors))
    shift = draw(st.integers(min_value=-5 * 24 * 60, max_value=3 * 24 * 60))
    return anchor + shift * MINUTE


def with_closed_near(calendar, start, draw):
    """Add closed dates near the start so they matter within the stepped window."""
    days = draw(st.lists(st.integers(-1, 14), max_size=3))
    base = start.astimezone(ZoneInfo(calendar.timezone)).date()
    extra = frozenset(base + timedelta(days=d) for d in days)
    return BusinessCalendar(
        timezone=calendar.timezone,
        weekly_hours=calendar.weekly_hours,
        holiday_country=calendar.holiday_country,
        holiday_subdivision=calendar.holiday_subdivision,
        closed_dates=calendar.closed_dates | extra,
        always_open=calendar.always_open,
    )


# --- properties against the oracle -----------------------------------------------------------------


@ORACLE
@given(data=st.data())
def test_both_functions_match_the_minute_stepping_oracle(data):
    # given a random calendar, a start near a DST change or holidays, and up to two weeks of oracle minutes
    calendar = data.draw(calendars())
    start = data.draw(starts(calendar))
    calendar = with_closed_near(calendar, start, data.draw)
    window = data.draw(st.integers(min_value=1, max_value=14 * 24 * 60))
    flags = oracle_open_minutes(calendar, start, window)
    cumulative = [0]
    for is_open in flags:
        cumulative.append(cumulative[-1] + is_open)

    # then business minutes between start and any end in the window are the oracle's count
    ends = [*data.draw(st.lists(st.integers(0, window), min_size=1, max_size=25)), window]
    for end in ends:
        assert sla.business_minutes_between(calendar, start, start + end * MINUTE) == cumulative[end], end

    # and adding n minutes lands where the oracle's n-th open minute ends
    counts = [*data.draw(st.lists(st.integers(0, cumulative[-1]), min_size=1, max_size=25)), cumulative[-1]]
    for count in counts:
        expected = oracle_add(start, flags, count)
        assert sla.add_business_minutes(calendar, start, count) == expected, count

    # and is_open agrees, at the start of a minute and inside it
    for index in data.draw(st.lists(st.integers(0, window - 1), min_size=1, max_size=25)):
        instant = start + index * MINUTE
        assert sla.is_open(calendar, instant) is flags[index]
        assert sla.is_open(calendar, instant + timedelta(seconds=59, microseconds=5)) is flags[index]


SECOND = timedelta(seconds=1)
second_of_day = st.integers(min_value=0, max_value=86_399).map(lambda s: time(s // 3600, s // 60 % 60, s % 60))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_seconds_exact_within_a_small_window(data):
    # given intervals with second precision and a start at an arbitrary second near an offset change
    zone = data.draw(st.sampled_from(ZONES))
    weekly = tuple(
        data.draw(st.lists(st.tuples(second_of_day, second_of_day), max_size=3).map(tuple)) for _ in range(7)
    )
    calendar = BusinessCalendar(timezone=zone, weekly_hours=weekly)
    anchor = data.draw(st.sampled_from([*offset_changes(zone), datetime(2026, 6, 1, tzinfo=UTC)]))
    start = anchor + data.draw(st.integers(-6 * 3600, 6 * 3600)) * SECOND
    window = 6 * 3600
    flags = [oracle_is_open(calendar, start + i * SECOND) for i in range(window)]

    # then between floors the open seconds, and add lands on the end of the (60 n)-th open second
    end = data.draw(st.integers(0, window))
    assert sla.business_minutes_between(calendar, start, start + end * SECOND) == sum(flags[:end]) // 60
    minutes = data.draw(st.integers(0, sum(flags) // 60))
    seen, expected = 0, start
    for index, is_open in enumerate(flags):
        if seen == minutes * 60:
            break
        seen += is_open
        expected = start + (index + 1) * SECOND
    assert sla.add_business_minutes(calendar, start, minutes) == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_paused_clock_resumed_with_add_matches_oracle_without_the_paused_span(data):
    # given a clock started at `start` with a target, paused at `paused` before it fell due, resumed at `resumed`
    calendar = data.draw(calendars(allow_always_open=False))
    assume(any(calendar.weekly_hours))  # a calendar never open has no due time to pause
    start = data.draw(starts(calendar))
    target = data.draw(st.integers(1, 24 * 60))
    due = sla.add_business_minutes(calendar, start, target)
    # Drawn before the due time: a clock breached or answered before the pause has nothing to resume.
    pause_after = data.draw(st.integers(0, min(4 * 24 * 60, (due - start) // MINUTE - 1)))
    paused = start + pause_after * MINUTE
    resumed = paused + data.draw(st.integers(0, 4 * 24 * 60)) * MINUTE

    # when the caller stores the elapsed minutes at the pause and recomputes the due time on resume
    elapsed = target - sla.remaining_business_minutes(calendar, paused, due)
    resumed_due = sla.add_business_minutes(calendar, resumed, target - elapsed)

    # then it equals the oracle counting open minutes from start, skipping the paused span
    expected = _oracle_due_skipping(calendar, start, target, paused, resumed, limit=timedelta(days=40))
    assume(expected is not None)  # open so rarely that stepping minute by minute would take too long
    assert resumed_due == expected


def _oracle_due_skipping(calendar, start, target, paused, resumed, *, limit):
    """The end of the `target`-th open minute from start outside [paused, resumed); None past `limit`."""
    seen, instant = 0, start
    while seen < target:
        if instant - start > limit:
            return None
        if not (paused <= instant < resumed) and oracle_is_open(calendar, instant):
            seen += 1
        instant += MINUTE
    return instant


# --- properties without the oracle (long spans) ----------------------------------------------------


@CHEAP
@given(data=st.data())
def test_round_trip_monotonic_and_additive_over_months(data):
    # given a random calendar with some opening hours and a start anywhere in 2025-2027, or weeks before a DST change
    calendar = data.draw(calendars())
    assume(any(calendar.weekly_hours) or calendar.always_open)  # never open: nothing to add
    anywhere = datetime(2025, 1, 1, tzinfo=UTC) + data.draw(st.integers(0, 3 * 365 * 24 * 60)) * MINUTE
    before_change = [
        change - data.draw(st.integers(0, 10 * 7 * 24 * 60)) * MINUTE for change in offset_changes(calendar.timezone)
    ]
    start = data.draw(st.sampled_from([anywhere, *before_change]))
    first = data.draw(st.integers(0, 60 * 24 * 30))
    second = data.draw(st.integers(0, 60 * 24 * 30))

    # then add and between round-trip, add is monotonic, and adding in two steps equals one step
    one = sla.add_business_minutes(calendar, start, first)
    both = sla.add_business_minutes(calendar, start, first + second)
    assert sla.business_minutes_between(calendar, start, one) == first
    assert sla.business_minutes_between(calendar, start, both) == first + second
    assert start <= one <= both
    if first:
        assert sla.add_business_minutes(calendar, one, second) == both
        # and the result is the earliest such instant: the minute before it was still open and needed
        assert sla.business_minutes_between(calendar, start, one - MINUTE) == first - 1
        assert sla.is_open(calendar, one - MINUTE)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_long_between_equals_the_sum_of_daily_pieces(data):
    # given a span of up to ~4 months (whole weeks are skipped arithmetically)
    calendar = data.draw(calendars(allow_always_open=False))
    start = datetime(2025, 1, 1, tzinfo=UTC) + data.draw(st.integers(0, 2 * 365 * 24 * 60)) * MINUTE
    days = data.draw(st.integers(1, 120))

    # then one call equals the sum over day-long pieces (which never skip weeks)
    pieces = sum(
        sla.business_minutes_between(calendar, start + timedelta(days=d), start + timedelta(days=d + 1))
        for d in range(days)
    )
    assert sla.business_minutes_between(calendar, start, start + timedelta(days=days)) == pieces


@CHEAP
@given(
    start=st.datetimes(
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive; timezones= makes them aware
        max_value=datetime(2030, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    minutes=st.integers(0, 10**6),
    zone=st.sampled_from(ZONES),
)
def test_24x7_is_wall_clock(start, minutes, zone):
    # given the 24/7 calendar and a calendar open all day every day (but not flagged always_open)
    whole_days = BusinessCalendar(timezone=zone, weekly_hours=(((time(0), time(0)),),) * 7)
    end = start + timedelta(minutes=minutes)

    # then both count wall-clock minutes, whatever DST does to the local day
    for calendar in (sla.calendar_24x7(), whole_days):
        assert sla.add_business_minutes(calendar, start, minutes) == end
        assert sla.business_minutes_between(calendar, start, end) == minutes
        assert sla.remaining_business_minutes(calendar, end, start) == -minutes


# --- examples --------------------------------------------------------------------------------------


def weekdays_9_to_18(zone="Europe/London", **kwargs):
    return sla.calendar_weekdays(zone, time(9), time(18), **kwargs)


def test_friday_evening_plus_an_hour_is_monday_morning():
    # given Mon-Fri 09:00-18:00 and a ticket at Friday 17:30
    friday = datetime(2026, 11, 27, 17, 30, tzinfo=LONDON)

    # when 60 business minutes are added
    due = sla.add_business_minutes(weekdays_9_to_18(), friday, 60)

    # then the clock runs 30 minutes on Friday and 30 on Monday
    assert due == datetime(2026, 11, 30, 9, 30, tzinfo=LONDON)
    assert due.tzinfo is UTC
    assert sla.business_minutes_between(weekdays_9_to_18(), friday, due) == 60


def test_enterprise_hour_over_uk_christmas_bank_holidays():
    # given GB holidays: Fri 25 Dec, Sat 26 Dec and the substitute Boxing Day on Mon 28 Dec 2026
    calendar = weekdays_9_to_18(holiday_country="GB")
    christmas_eve = datetime(2026, 12, 24, 17, 30, tzinfo=LONDON)

    # when an enterprise ticket (60 minutes to first response) arrives on Christmas Eve at 17:30
    due = sla.add_business_minutes(calendar, christmas_eve, 60)

    # then it is due on Tuesday 29 December at 09:30
    assert due == datetime(2026, 12, 29, 9, 30, tzinfo=LONDON)
    assert not sla.is_open(calendar, datetime(2026, 12, 28, 12, 0, tzinfo=LONDON))


def test_custom_closed_date():
    calendar = weekdays_9_to_18(closed_dates=frozenset({date(2026, 11, 30)}))
    due = sla.add_business_minutes(calendar, datetime(2026, 11, 27, 17, 30, tzinfo=LONDON), 60)
    assert due == datetime(2026, 12, 1, 9, 30, tzinfo=LONDON)


def test_weekday_hours_across_dst_weekends_in_london_and_new_york():
    # London springs forward on Sun 29 Mar 2026 and falls back on Sun 25 Oct 2026
    london = weekdays_9_to_18()
    assert sla.add_business_minutes(london, datetime(2026, 3, 27, 17, 30, tzinfo=LONDON), 60) == datetime(
        2026, 3, 30, 9, 30, tzinfo=LONDON
    )
    assert sla.add_business_minutes(london, datetime(2026, 10, 23, 17, 30, tzinfo=LONDON), 60) == datetime(
        2026, 10, 26, 9, 30, tzinfo=LONDON
    )
    # New York springs forward on Sun 8 Mar 2026 and falls back on Sun 1 Nov 2026
    new_york = weekdays_9_to_18("America/New_York")
    due = sla.add_business_minutes(new_york, datetime(2026, 3, 6, 17, 30, tzinfo=NEW_YORK), 60)
    assert due == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)  # 09:30 EDT
    due = sla.add_business_minutes(new_york, datetime(2026, 10, 30, 17, 30, tzinfo=NEW_YORK), 60)
    assert due == datetime(2026, 11, 2, 14, 30, tzinfo=UTC)  # 09:30 EST


def test_weeks_long_spans_cross_dst_changes_in_local_time():
    # given Mon-Fri 09:00-18:00 (540 minutes a day) and a start four weeks before a DST change
    london = weekdays_9_to_18()
    new_york = weekdays_9_to_18("America/New_York")

    # then 20 business days later it is the same local time, on the other side of the change
    start = datetime(2026, 3, 2, 10, 0, tzinfo=LONDON)  # GMT; BST from 29 March
    assert sla.add_business_minutes(london, start, 20 * 540) == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
    start = datetime(2026, 10, 5, 10, 0, tzinfo=NEW_YORK)  # EDT; EST from 1 November
    assert sla.add_business_minutes(new_york, start, 20 * 540) == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert sla.business_minutes_between(new_york, start, datetime(2026, 11, 2, 15, 0, tzinfo=UTC)) == 20 * 540


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/London", date(2026, 3, 29), 23),
        ("Europe/London", date(2026, 10, 25), 25),
        ("America/New_York", date(2026, 3, 8), 23),
        ("America/New_York", date(2026, 11, 1), 25),
        ("Australia/Lord_Howe", date(2026, 4, 5), 24.5),
        ("Australia/Lord_Howe", date(2026, 10, 4), 23.5),
    ],
)
def test_a_whole_open_day_lasts_its_real_length_on_dst_days(zone, day, hours):
    # given a calendar open all day on the DST day only
    weekly = tuple(((time(0), time(0)),) if weekday == day.weekday() else () for weekday in range(7))
    calendar = BusinessCalendar(timezone=zone, weekly_hours=weekly)
    local = ZoneInfo(zone)
    midnight = datetime.combine(day, time(0), tzinfo=local)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=local)

    # then the business minutes of that day are its real elapsed minutes
    assert sla.business_minutes_between(calendar, midnight - timedelta(days=1), next_midnight) == hours * 60
    assert sla.add_business_minutes(calendar, midnight, int(hours * 60)) == next_midnight


def test_spring_forward_gap_counts_nothing_and_opens_at_the_next_valid_instant():
    # given Sunday hours 01:30-04:00 in London; on 29 Mar 2026 01:00-02:00 local does not exist
    weekly = ((), (), (), (), (), (), ((time(1, 30), time(4, 0)),))
    calendar = BusinessCalendar(timezone="Europe/London", weekly_hours=weekly)
    midnight = datetime(2026, 3, 29, 0, 0, tzinfo=LONDON)

    # then the interval opens at 02:00 BST (01:00 UTC) and lasts two real hours
    assert sla.add_business_minutes(calendar, midnight, 1) == datetime(2026, 3, 29, 1, 1, tzinfo=UTC)
    assert sla.business_minutes_between(calendar, midnight, midnight + timedelta(days=1)) == 120
    assert not sla.is_open(calendar, datetime(2026, 3, 29, 0, 59, tzinfo=UTC))


def test_fall_back_repeated_hour_counts_both_occurrences():
    # given Sunday hours 01:00-01:30 in London; on 25 Oct 2026 01:00-02:00 local happens twice
    weekly = ((), (), (), (), (), (), ((time(1, 0), time(1, 30)),))
    calendar = BusinessCalendar(timezone="Europe/London", weekly_hours=weekly)
    midnight = datetime(2026, 10, 25, 0, 0, tzinfo=LONDON)

    # then both half hours count: 00:00-00:30 UTC (BST) and 01:00-01:30 UTC (GMT)
    assert sla.business_minutes_between(calendar, midnight, midnight + timedelta(days=1)) == 60
    assert sla.add_business_minutes(calendar, midnight, 45) == datetime(2026, 10, 25, 1, 15, tzinfo=UTC)
    assert sla.is_open(calendar, datetime(2026, 10, 25, 0, 10, tzinfo=UTC))
    assert not sla.is_open(calendar, datetime(2026, 10, 25, 0, 40, tzinfo=UTC))
    assert sla.is_open(calendar, datetime(2026, 10, 25, 1, 10, tzinfo=UTC))


def test_overnight_interval_crosses_midnight_and_a_closed_date_closes_only_its_own_start():
    # given 22:00-06:00 every night, with Wednesday 2 Dec 2026 closed
    night = ((time(22), time(6)),)
    calendar = BusinessCalendar(
        timezone="Europe/London", weekly_hours=(night,) * 7, closed_dates=frozenset({date(2026, 12, 2)})
    )
    monday = datetime(2026, 11, 30, tzinfo=LONDON)

    # then the clock runs through midnight
    assert sla.add_business_minutes(calendar, monday.replace(hour=21), 60) == monday.replace(hour=23)
    assert sla.add_business_minutes(calendar, monday.replace(hour=23, minute=30), 60) == datetime(
        2026, 12, 1, 0, 30, tzinfo=LONDON
    )
    # and Tuesday night's interval runs into the closed Wednesday; Wednesday night's does not exist
    tuesday_late = datetime(2026, 12, 1, 23, 0, tzinfo=LONDON)
    assert sla.add_business_minutes(calendar, tuesday_late, 7 * 60) == datetime(2026, 12, 2, 6, 0, tzinfo=LONDON)
    assert sla.add_business_minutes(calendar, tuesday_late, 7 * 60 + 1) == datetime(2026, 12, 3, 22, 1, tzinfo=LONDON)
    assert sla.is_open(calendar, datetime(2026, 12, 2, 5, 0, tzinfo=LONDON))
    assert not sla.is_open(calendar, datetime(2026, 12, 2, 23, 0, tzinfo=LONDON))


def test_pause_and_resume_pattern_example():
    # given a general ticket (480 minutes) on Mon-Fri 09:00-18:00, created Monday 10:00
    calendar = weekdays_9_to_18()
    created = datetime(2026, 11, 23, 10, 0, tzinfo=LONDON)
    due = sla.add_business_minutes(calendar, created, 480)
    assert due == datetime(2026, 11, 23, 18, 0, tzinfo=LONDON)

    # when it waits on the customer from Monday 12:00 to Wednesday 15:00
    paused, resumed = datetime(2026, 11, 23, 12, 0, tzinfo=LONDON), datetime(2026, 11, 25, 15, 0, tzinfo=LONDON)
    elapsed = 480 - sla.remaining_business_minutes(calendar, paused, due)
    resumed_due = sla.add_business_minutes(calendar, resumed, 480 - elapsed)

    # then 120 minutes were used and the remaining 360 run from Wednesday 15:00: 3 h that day, 3 h Thursday
    assert elapsed == 120
    assert resumed_due == datetime(2026, 11, 26, 12, 0, tzinfo=LONDON)


def test_zero_minutes_is_the_start_and_results_are_utc():
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=LONDON)
    assert sla.add_business_minutes(weekdays_9_to_18(), saturday, 0) == saturday
    assert sla.add_business_minutes(weekdays_9_to_18(), saturday, 0).tzinfo is UTC
    # one minute from a closed instant lands a minute after the next opening
    assert sla.add_business_minutes(weekdays_9_to_18(), saturday, 1) == datetime(2026, 11, 30, 9, 1, tzinfo=LONDON)


def test_remaining_minutes_and_their_description():
    calendar = weekdays_9_to_18()
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=LONDON)
    due = datetime(2026, 11, 30, 10, 5, tzinfo=LONDON)
    assert sla.remaining_business_minutes(calendar, friday, due) == 185  # 2 h on Friday, 1 h 05 on Monday
    assert sla.describe_remaining(125) == "2h 05m left"
    assert sla.remaining_business_minutes(calendar, due + timedelta(minutes=45), due) == -45
    assert sla.describe_remaining(-45) == "45m overdue"
    # overdue by 10 seconds shows as a minute overdue; no open time since a Friday-close deadline is "due now"
    assert sla.remaining_business_minutes(calendar, due + timedelta(seconds=10), due) == -1
    friday_close = datetime(2026, 11, 27, 18, 0, tzinfo=LONDON)
    assert sla.remaining_business_minutes(calendar, friday_close + timedelta(days=1), friday_close) == 0
    assert sla.describe_remaining(0) == "due now"
    assert sla.describe_remaining(-61) == "1h 01m overdue"


def test_bad_input_is_rejected():
    calendar = weekdays_9_to_18()
    naive = datetime(2026, 11, 27, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="Naive"):
        sla.add_business_minutes(calendar, naive, 5)
    with pytest.raises(ValueError, match="Naive"):
        sla.business_minutes_between(calendar, naive, naive)
    with pytest.raises(ValueError, match="non-negative"):
        sla.add_business_minutes(calendar, datetime(2026, 11, 27, tzinfo=UTC), -1)
    with pytest.raises(ValueError, match="time zone"):
        sla.calendar_weekdays("Mars/Olympus", time(9), time(17))
    with pytest.raises(ValueError, match="holiday country"):
        sla.calendar_weekdays("UTC", time(9), time(17), holiday_country="ZZ")
    with pytest.raises(ValueError, match="holiday country"):
        sla.calendar_weekdays("UTC", time(9), time(17), holiday_country="GB", holiday_subdivision="XX")
    with pytest.raises(ValueError, match="7 entries"):
        BusinessCalendar(timezone="UTC", weekly_hours=((),) * 6)
    never = BusinessCalendar(timezone="UTC", weekly_hours=((),) * 7)
    with pytest.raises(ValueError, match="no opening hours"):
        sla.add_business_minutes(never, datetime(2026, 11, 27, tzinfo=UTC), 1)
    assert sla.business_minutes_between(never, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)) == 0


def test_lists_from_stored_config_are_normalised_to_a_hashable_value():
    calendar = BusinessCalendar(timezone="UTC", weekly_hours=[[(time(9), time(17))]] * 5 + [[], []])
    assert calendar == sla.calendar_weekdays("UTC", time(9), time(17))
    assert hash(calendar) == hash(sla.calendar_weekdays("UTC", time(9), time(17)))


def test_instants_in_the_repeated_hour_are_told_apart_by_fold():
    # given a calendar open all day, and 01:30 London time on 25 Oct 2026, which happens twice
    calendar = BusinessCalendar(timezone="Europe/London", weekly_hours=(((time(0), time(0)),),) * 7)
    first = datetime(2026, 10, 25, 1, 30, tzinfo=LONDON)  # BST, 00:30 UTC
    second = datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=LONDON)  # GMT, 01:30 UTC

    # then an hour of business time separates them, and adding it to the first gives the second
    assert sla.business_minutes_between(calendar, first, second) == 60
    # (compared in UTC: Python never equates an ambiguous local time with another zone's instant)
    assert (
        sla.add_business_minutes(calendar, first, 60)
        == second.astimezone(UTC)
        == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    )
