"""Business-time arithmetic for SLAs: pure functions over a `BusinessCalendar` value (no database).

Everything that turns "N business minutes" into an instant, or two instants into business minutes,
goes through this module.

Semantics
---------
* Instants are timezone-aware datetimes; a naive datetime raises ValueError. Results are aware UTC.
* A calendar is open at instant t when the local wall-clock time of t (in `calendar.timezone`) lies in
  `[D start, D' end)` for some opening interval of some local date D that is not closed; D' is D when
  end > start and the next day when end <= start (the interval crosses midnight; `(00:00, 00:00)` is the
  whole day). Overlapping intervals simply union.
* A closed date (a holiday of `holiday_country`/`holiday_subdivision` from the `holidays` package, or a
  date in `closed_dates`) removes the intervals that START on that date: an overnight interval that
  starts the evening before a holiday still runs past midnight into it.
* Daylight saving: intervals are local wall-clock times. A wall time skipped by the spring-forward gap
  never occurs, so an interval starting inside the gap opens at the next valid instant (the end of the
  gap) and the gap itself counts nothing. In the fall-back repeated hour, both occurrences count when
  their wall time is inside opening hours: business time is elapsed real time while open.
* Business time is measured exactly (microseconds) on open intervals; minutes are whole numbers:
  - `add_business_minutes(cal, start, n)` returns the earliest instant t such that [start, t] holds exactly
    n*60 open seconds. For n == 0 it returns `start` unchanged (in UTC) even when closed: the deadline is
    "now". So a ticket opened on Saturday with a 60-minute target on Mon-Fri 09:00-18:00 is due Monday
    10:00, and a deadline lands on the end of an open stretch rather than the next opening.
  - `business_minutes_between(cal, start, end)` is floor(open seconds in [start, end) / 60), 0 when
    end <= start.
  - `remaining_business_minutes(cal, now, due_at)` is `business_minutes_between(now, due_at)` when due_at
    is ahead, and minus the open minutes since due_at, rounded up, when overdue (0 when no open time has
    passed since due_at, e.g. a deadline at Friday close seen on Saturday).
* `always_open` calendars (24/7) count wall-clock time: DST and holidays play no part.

Speed: a calendar is compiled once (cached by value) into a weekly pattern on a naive local time axis
with prefix sums; whole weeks are skipped arithmetically (minutes per week) and only weeks touched by a
closed date are built explicitly (cached). Real time is split at the zone's UTC offset transitions
(found once per zone and year), and within a constant-offset piece the local axis is a plain shift.
"""

from __future__ import annotations

import numbers
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "BusinessCalendar",
    "add_business_minutes",
    "business_minutes_between",
    "calendar_24x7",
    "calendar_weekdays",
    "describe_remaining",
    "is_open",
    "remaining_business_minutes",
]

_US = 1_000_000  # microseconds per second: every axis below counts integer microseconds
_MINUTE = 60 * _US
_DAY = 86_400 * _US
_WEEK = 7 * _DAY
_ONE_US = timedelta(microseconds=1)
# Both axes (UTC and naive local) count from 0001-01-01 00:00, a Monday, so weekday = day index % 7.
_EPOCH_UTC = datetime(1, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1, 1, 1)  # noqa: DTZ001 - origin of the naive local axis


@dataclass(frozen=True)
class BusinessCalendar:
    """When the business clock runs. `weekly_hours` has 7 entries (Monday first) of (start, end) local intervals."""

    timezone: str
    weekly_hours: tuple[tuple[tuple[time, time], ...], ...]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closed_dates: frozenset[date] = frozenset()
    always_open: bool = False

    def __post_init__(self) -> None:
        # Normalise lists from JSON/config into hashable tuples so the value can key caches.
        weekly = tuple(tuple((start, end) for start, end in day) for day in self.weekly_hours)
        if len(weekly) != 7:
            raise ValueError("weekly_hours needs 7 entries, Monday first.")
        for day in weekly:
            for start, end in day:
                if not isinstance(start, time) or not isinstance(end, time):
                    raise ValueError("Opening intervals are pairs of datetime.time.")
                if start.tzinfo is not None or end.tzinfo is not None:
                    raise ValueError("Opening times are local wall-clock times without tzinfo.")
        object.__setattr__(self, "weekly_hours", weekly)
        object.__setattr__(self, "closed_dates", frozenset(self.closed_dates))
        _zone(self.timezone)  # raises ValueError on an unknown zone
        if self.holiday_country:
            _holiday_days(self.holiday_country, self.holiday_subdivision, 2000)  # ValueError on an unknown country


def calendar_24x7() -> BusinessCalendar:
    """Always open: business minutes are wall-clock minutes."""
    whole_day = ((time(0, 0), time(0, 0)),)
    return BusinessCalendar(timezone="UTC", weekly_hours=(whole_day,) * 7, always_open=True)


def calendar_weekdays(
    timezone: str,
    start: time,
    end: time,
    *,
    holiday_country: str | None = None,
    holiday_subdivision: str | None = None,
    closed_dates=frozenset(),
) -> BusinessCalendar:
    """Monday to Friday, one interval a day (e.g. 09:00-18:00), optional public holidays and closed dates."""
    day = ((start, end),)
    return BusinessCalendar(
        timezone=timezone,
        weekly_hours=(day,) * 5 + ((), ()),
        holiday_country=holiday_country,
        holiday_subdivision=holiday_subdivision,
        closed_dates=frozenset(closed_dates),
    )


# --- public arithmetic ---------------------------------------------------------------------------


def add_business_minutes(calendar: BusinessCalendar, start: datetime, minutes: int) -> datetime:
    """The earliest instant t with exactly `minutes` business minutes in [start, t] (start itself for 0)."""
    if not isinstance(minutes, numbers.Integral) or minutes < 0:
        raise ValueError("minutes must be a non-negative whole number.")
    u = _to_us(start)
    if minutes == 0:
        return _from_us(u)
    if calendar.always_open:
        return _from_us(u + minutes * _MINUTE)
    return _from_us(_engine(calendar).add(u, int(minutes) * _MINUTE))


def business_minutes_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> int:
    """Whole business minutes in [start, end) (floored); 0 when end <= start."""
    u0, u1 = _to_us(start), _to_us(end)
    if u1 <= u0:
        return 0
    if calendar.always_open:
        return (u1 - u0) // _MINUTE
    return _engine(calendar).between(u0, u1) // _MINUTE


def is_open(calendar: BusinessCalendar, instant: datetime) -> bool:
    """Whether the business clock runs at this instant."""
    u = _to_us(instant)
    if calendar.always_open:
        return True
    return _engine(calendar).is_open(u)


def remaining_business_minutes(calendar: BusinessCalendar, now: datetime, due_at: datetime) -> int:
    """Business minutes left until due_at (floored); negative when overdue (open minutes since due_at, rounded up)."""
    u_now, u_due = _to_us(now), _to_us(due_at)
    if u_due >= u_now:
        if calendar.always_open:
            return (u_due - u_now) // _MINUTE
        return _engine(calendar).between(u_now, u_due) // _MINUTE
    overdue = u_now - u_due if calendar.always_open else _engine(calendar).between(u_due, u_now)
    return -((overdue + _MINUTE - 1) // _MINUTE)


def describe_remaining(minutes: int) -> str:
    """Display form of `remaining_business_minutes`: "2h 05m left", "45m overdue", "due now"."""
    if minutes == 0:
        return "due now"
    amount = abs(minutes)
    text = f"{amount // 60}h {amount % 60:02d}m" if amount >= 60 else f"{amount}m"
    return f"{text} left" if minutes > 0 else f"{text} overdue"


# --- instants <-> integer microseconds ---------------------------------------------------------------


def _to_us(instant: datetime) -> int:
    if not isinstance(instant, datetime):
        raise ValueError("Expected a datetime.")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("Naive datetime: SLA arithmetic needs timezone-aware instants.")
    return (instant - _EPOCH_UTC) // _ONE_US


def _from_us(u: int) -> datetime:
    days, rest = divmod(u, _DAY)
    seconds, micro = divmod(rest, _US)
    return _EPOCH_UTC + timedelta(days, seconds, micro)


def _year_start_us(year: int) -> int:
    return (date(year, 1, 1).toordinal() - 1) * _DAY


def _year_of_us(u: int) -> int:
    return date.fromordinal(u // _DAY + 1).year


# --- time zones: UTC offset as a step function -----------------------------------------------------


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"Unknown time zone: {name!r}.") from exc


class _ZoneOffsets:
    """UTC offset (microseconds) of a zone at any UTC instant, from transitions found once per year.

    Transitions are located by sampling the offset daily and bisecting to the second: zones do not change
    offset twice within one day in practice.
    """

    def __init__(self, name: str) -> None:
        self.zone = _zone(name)
        self.years: dict[int, tuple[int, list[int], list[int]]] = {}
        # Last piece looked up (start, end, offset): most calls of a process fall in the same months-long piece.
        self.last_piece = (0, 0, 0)

    def _offset_slow(self, u: int) -> int:
        instant = _EPOCH_UTC + timedelta(microseconds=u)
        return instant.astimezone(self.zone).utcoffset() // _ONE_US

    def _year(self, year: int) -> tuple[int, list[int], list[int]]:
        data = self.years.get(year)
        if data is None:
            first = _year_start_us(year)
            days = date(year + 1, 1, 1).toordinal() - date(year, 1, 1).toordinal()
            start_offset = previous = self._offset_slow(first)
            transitions: list[int] = []
            offsets: list[int] = []
            for day in range(1, days + 1):
                point = first + day * _DAY
                current = self._offset_slow(point)
                if current != previous:
                    low, high = (point - _DAY) // _US, point // _US  # seconds: offset(low) old, offset(high) new
                    while high - low > 1:
                        middle = (low + high) // 2
                        if self._offset_slow(middle * _US) == previous:
                            low = middle
                        else:
                            high = middle
                    transitions.append(high * _US)
                    offsets.append(current)
                    previous = current
            data = self.years[year] = (start_offset, transitions, offsets)
        return data

    def piece(self, u: int) -> tuple[int, int]:
        """(offset at u, next boundary after u): the next offset transition, or a later year start when none is near."""
        start, end, offset = self.last_piece
        if start <= u < end:
            return offset, end
        year = _year_of_us(u)
        start_offset, transitions, offsets = self._year(year)
        index = bisect_right(transitions, u)
        offset = offsets[index - 1] if index > 0 else start_offset
        start = transitions[index - 1] if index > 0 else _year_start_us(year)
        if index < len(transitions):
            end = transitions[index]
        else:
            following = self._year(year + 1)[1]
            end = following[0] if following else _year_start_us(year + 2)
        self.last_piece = (start, end, offset)
        return offset, end


@lru_cache(maxsize=512)
def _zone_offsets(name: str) -> _ZoneOffsets:
    return _ZoneOffsets(name)


# --- holidays --------------------------------------------------------------------------------------


@lru_cache(maxsize=2048)
def _holiday_days(country: str, subdivision: str | None, year: int) -> frozenset[int]:
    """Day indexes (ordinal - 1) of the public holidays of one year, loaded lazily per year."""
    import holidays  # imported on first use: it is slow to import and most calls never need it

    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError as exc:
        raise ValueError(f"Unknown holiday country or subdivision: {country!r}/{subdivision!r}.") from exc
    return frozenset(day.toordinal() - 1 for day in calendar)


# --- the compiled calendar -------------------------------------------------------------------------


class _Week:
    """Merged open intervals of one week on the naive local axis, relative to Monday 00:00, with prefix sums."""

    __slots__ = ("cum_end", "ends", "starts", "total")

    def __init__(self, intervals: list[tuple[int, int]]) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for start, end in sorted(intervals):
            if end <= start:
                continue
            if ends and start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        cum_end = []
        running = 0
        for start, end in zip(starts, ends, strict=True):
            running += end - start
            cum_end.append(running)
        self.starts, self.ends, self.cum_end, self.total = starts, ends, cum_end, running

    def upto(self, x: int) -> int:
        """Open time in [0, x) for 0 <= x <= WEEK."""
        index = bisect_right(self.starts, x) - 1
        if index < 0:
            return 0
        end = self.ends[index]
        return self.cum_end[index] - (end - min(x, end))

    def reach(self, target: int) -> int:
        """Smallest x with upto(x) == target, for 0 < target <= total."""
        index = bisect_left(self.cum_end, target)
        return self.ends[index] - (self.cum_end[index] - target)

    def contains(self, x: int) -> bool:
        index = bisect_right(self.starts, x) - 1
        return index >= 0 and x < self.ends[index]


class _Engine:
    """A calendar compiled for fast arithmetic. Naive-axis methods take local microseconds since 0001-01-01."""

    _MAX_CACHED_WEEKS = 8192

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self.offsets = _zone_offsets(calendar.timezone)
        # Per weekday: (start, end) microseconds from that day's 00:00; end may run into the next day.
        self.day_intervals: list[list[tuple[int, int]]] = []
        for day in calendar.weekly_hours:
            intervals = []
            for start, end in day:
                start_us, end_us = _time_us(start), _time_us(end)
                if end_us <= start_us:
                    end_us += _DAY
                intervals.append((start_us, end_us))
            self.day_intervals.append(intervals)
        self.normal_week = self._build_week(frozenset())
        self.week_total = self.normal_week.total
        self.weeks: dict[int, _Week] = {}
        self.closed_by_year: dict[int, frozenset[int]] = {}
        self.special_by_year: dict[int, list[int]] = {}
        self.next_special: dict[int, int] = {}

    # closed dates
    def _closed_days(self, year: int) -> frozenset[int]:
        days = self.closed_by_year.get(year)
        if days is None:
            calendar = self.calendar
            days = frozenset(d.toordinal() - 1 for d in calendar.closed_dates if d.year == year)
            if calendar.holiday_country:
                days |= _holiday_days(calendar.holiday_country, calendar.holiday_subdivision, year)
            self.closed_by_year[year] = days
        return days

    def _is_closed(self, day: int) -> bool:
        return day in self._closed_days(date.fromordinal(day + 1).year)

    def _special_weeks(self, year: int) -> list[int]:
        """Weeks whose open time may differ from the normal week because of a closed date in `year`."""
        weeks = self.special_by_year.get(year)
        if weeks is None:
            found = set()
            for day in self._closed_days(year):
                found.add(day // 7)
                found.add((day + 1) // 7)  # a closed Sunday's overnight interval would reach into Monday
            weeks = self.special_by_year[year] = sorted(found)
        return weeks

    def _next_special(self, week: int) -> int:
        """The first possibly special week >= week, or a later week (treated like any other) when none is near."""
        found = self.next_special.get(week)
        if found is None:
            year = date.fromordinal(week * 7 + 1).year
            for candidate_year in (year - 1, year, year + 1):
                weeks = self._special_weeks(candidate_year)
                index = bisect_left(weeks, week)
                if index < len(weeks):
                    found = weeks[index]
                    break
            else:
                found = (date(year + 2, 1, 1).toordinal() - 1) // 7
            if len(self.next_special) >= self._MAX_CACHED_WEEKS:
                self.next_special.clear()
            self.next_special[week] = found
        return found

    # weeks
    def _build_week(self, closed_relative_days: frozenset[int]) -> _Week:
        intervals = []
        for relative_day in range(-1, 7):  # the previous Sunday's overnight interval can reach into Monday
            if relative_day in closed_relative_days:
                continue
            offset = relative_day * _DAY
            for start, end in self.day_intervals[relative_day % 7]:
                low, high = max(offset + start, 0), min(offset + end, _WEEK)
                if high > low:
                    intervals.append((low, high))
        return _Week(intervals)

    def week(self, index: int) -> _Week:
        cached = self.weeks.get(index)
        if cached is None:
            first_day = index * 7
            closed = frozenset(day - first_day for day in range(first_day - 1, first_day + 7) if self._is_closed(day))
            cached = self.normal_week if not closed else self._build_week(closed)
            if len(self.weeks) >= self._MAX_CACHED_WEEKS:
                self.weeks.clear()
            self.weeks[index] = cached
        return cached

    # naive local axis
    def naive_measure(self, a: int, b: int) -> int:
        """Open time in [a, b) on the naive local axis."""
        first, last = a // _WEEK, b // _WEEK
        first_week = self.week(first)
        if first == last:
            return first_week.upto(b - last * _WEEK) - first_week.upto(a - first * _WEEK)
        total = first_week.total - first_week.upto(a - first * _WEEK)
        if b > last * _WEEK:
            total += self.week(last).upto(b - last * _WEEK)
        index = first + 1
        while index < last:
            special = self._next_special(index)
            if special >= last:
                total += (last - index) * self.week_total
                break
            total += (special - index) * self.week_total + self.week(special).total
            index = special + 1
        return total

    def naive_advance(self, a: int, amount: int, limit: int) -> int | None:
        """Smallest x with exactly `amount` (> 0) open time in [a, x) on the naive local axis; None when x > limit."""
        index = a // _WEEK
        week = self.week(index)
        used = week.upto(a - index * _WEEK)
        if week.total - used >= amount:
            found = index * _WEEK + week.reach(used + amount)
            return found if found <= limit else None
        amount -= week.total - used
        index += 1
        per_week = self.week_total
        while index * _WEEK < limit:  # past the limit with time still owed: the answer lies beyond it
            special = self._next_special(index)
            normal_weeks = special - index
            if normal_weeks * per_week >= amount:
                skip = (amount - 1) // per_week  # leaves 0 < amount <= per_week for the last week
                found = (index + skip) * _WEEK + self.normal_week.reach(amount - skip * per_week)
                return found if found <= limit else None
            amount -= normal_weeks * per_week
            if special * _WEEK >= limit:
                return None
            week = self.week(special)
            if week.total >= amount:
                found = special * _WEEK + week.reach(amount)
                return found if found <= limit else None
            amount -= week.total
            index = special + 1
        return None

    # real (UTC) axis: pieces of constant offset, where local = utc + offset
    def add(self, u: int, amount: int) -> int:
        if self.week_total == 0:
            raise ValueError("This calendar has no opening hours: business time never advances.")
        offsets = self.offsets
        while True:
            offset, boundary = offsets.piece(u)
            found = self.naive_advance(u + offset, amount, boundary + offset)
            if found is not None:
                return found - offset
            amount -= self.naive_measure(u + offset, boundary + offset)
            u = boundary

    def between(self, u0: int, u1: int) -> int:
        offsets = self.offsets
        total = 0
        u = u0
        while u < u1:
            offset, boundary = offsets.piece(u)
            boundary = min(boundary, u1)
            total += self.naive_measure(u + offset, boundary + offset)
            u = boundary
        return total

    def is_open(self, u: int) -> bool:
        x = u + self.offsets.piece(u)[0]
        index = x // _WEEK
        return self.week(index).contains(x - index * _WEEK)


def _time_us(value: time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * _US + value.microsecond


_engines: dict[BusinessCalendar, _Engine] = {}


def _engine(calendar: BusinessCalendar) -> _Engine:
    engine = _engines.get(calendar)
    if engine is None:
        if len(_engines) >= 256:
            _engines.clear()
        engine = _engines[calendar] = _Engine(calendar)
    return engine
