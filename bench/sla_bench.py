"""Speed of the business-time arithmetic (`tickets.sla`): calls per second for typical SLA spans.

Pure Python, no database: `python -m bench.sla_bench` (or `python -m bench sla`). Target: < 50 µs per
call for spans of a few days, and month-long spans not proportional to their minutes.
"""

import random
import time as clock
from datetime import UTC, datetime, time, timedelta

from tickets import sla

TARGET_US = 50.0
CALLS = 10_000


def _calendars() -> dict[str, sla.BusinessCalendar]:
    split_day = ((time(8, 0), time(12, 0)), (time(13, 0), time(17, 30)))
    return {
        "weekdays 09-18 London + GB holidays": sla.calendar_weekdays(
            "Europe/London", time(9), time(18), holiday_country="GB"
        ),
        "split days New York + US holidays": sla.BusinessCalendar(
            timezone="America/New_York", weekly_hours=(split_day,) * 5 + ((), ()), holiday_country="US"
        ),
        "overnight 22-06 Lord Howe": sla.BusinessCalendar(
            timezone="Australia/Lord_Howe", weekly_hours=(((time(22), time(6)),),) * 7
        ),
        "24/7": sla.calendar_24x7(),
    }


def _measure(label: str, function, arguments: list[tuple], *, target_us: float | None = TARGET_US) -> float:
    """Best of three rounds (the machine may be shared), printed as calls/s and µs per call."""
    best = float("inf")
    for _ in range(3):
        started = clock.perf_counter()
        for args in arguments:
            function(*args)
        best = min(best, clock.perf_counter() - started)
    per_call_us = best / len(arguments) * 1e6
    flag = "  (over target)" if target_us is not None and per_call_us > target_us else ""
    print(f"  {label:<44} {len(arguments) / best:>10,.0f} calls/s {per_call_us:>8.1f} µs/call{flag}")
    return per_call_us


def _args(calendar: sla.BusinessCalendar, firsts: list, seconds: list) -> list[tuple]:
    """(calendar, first, second) triples, as many as the shorter list."""
    return [(calendar, first, second) for first, second in zip(firsts, seconds, strict=False)]


def main() -> None:
    rng = random.Random(42)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    starts = [base + timedelta(minutes=rng.randrange(3 * 365 * 24 * 60)) for _ in range(CALLS)]
    for name, calendar in _calendars().items():
        print(f"{name}:")
        sla.add_business_minutes(calendar, starts[0], 1)  # compile the calendar once, as a warm process would
        minutes = [rng.choice((60, 120, 240, 480)) for _ in range(CALLS)]
        _measure("add 60-480 min (hours to days)", sla.add_business_minutes, _args(calendar, starts, minutes))
        minutes = [rng.choice((1080, 2700, 8640)) for _ in range(CALLS)]
        _measure(
            "add 1080-8640 min (days to weeks)",
            sla.add_business_minutes,
            _args(calendar, starts, minutes),
        )
        minutes = [rng.randrange(50_000, 200_000) for _ in range(CALLS // 4)]
        _measure(
            "add 50k-200k min (months to years)",
            sla.add_business_minutes,
            _args(calendar, starts, minutes),
            target_us=None,  # only required not to grow with the minutes
        )
        ends = [start + timedelta(minutes=rng.randrange(10, 5 * 24 * 60)) for start in starts]
        _measure("between, spans up to 5 days", sla.business_minutes_between, _args(calendar, starts, ends))
        ends = [start + timedelta(days=rng.randrange(30, 400)) for start in starts[: CALLS // 4]]
        _measure("between, spans 1-13 months", sla.business_minutes_between, _args(calendar, starts, ends))
        ends = [start + timedelta(minutes=rng.randrange(-600, 3000)) for start in starts]
        _measure("remaining (now, due)", sla.remaining_business_minutes, _args(calendar, starts, ends))
        _measure("is_open", sla.is_open, [(calendar, start) for start in starts])


if __name__ == "__main__":
    main()
