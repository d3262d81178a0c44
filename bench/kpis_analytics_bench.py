"""Product analytics on PostgreSQL: sessions, funnel and retention computed in Python over the events' rows
("before") beside the same computed by the database, which returns aggregates ("after"), in the same run.

`python -m bench kpis_analytics`: one day of BENCH_KPI_PA_DAY_EVENTS events (default 200,000) from
BENCH_KPI_PA_USERS users (default 20,000), each of whom signed up in the 12 weeks before it and walks part of the
funnel, over BENCH_KPI_PA_WEEKS_EVENTS events spread over those 12 weeks (default 1,000,000); generated
server-side once (rerun with other sizes to regenerate). Prints each figure before and after, and checks that both
give the same values.
"""

import contextlib
import os
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from unittest import mock

DAY_EVENTS = int(os.environ.get("BENCH_KPI_PA_DAY_EVENTS", "200000"))
WEEKS_EVENTS = int(os.environ.get("BENCH_KPI_PA_WEEKS_EVENTS", "1000000"))
USERS = int(os.environ.get("BENCH_KPI_PA_USERS", "20000"))
PREFIX = "bench-pa-"
ACTIVITY = [
    "$pageview",
    "$pageview",
    "pageView",
    "tourCreated",
    "exportGenerated",
    "collaborationUsed",
    "aiRoutingUsed",
]

ACTIVITY_SQL = """
INSERT INTO kpis_productevent (uuid, name, distinct_id, timestamp, received_at, properties, organization_key,
                               is_custom)
SELECT gen_random_uuid(), (%(names)s::text[])[1 + floor(random() * 7)::int],
       %(prefix)s || floor(random() * %(users)s)::int, ts, ts, '{}'::jsonb, '', false
FROM (SELECT %(start)s::timestamptz + random() * %(seconds)s * interval '1 second' AS ts
      FROM generate_series(1, %(count)s)) AS rows
"""
# Each user signs up once in the 12 weeks; 70% complete onboarding within two days, then each later step is
# reached by 60% of those at the previous one, a few hours to a few days later.
FUNNEL_SQL = """
WITH users AS (
    SELECT %(prefix)s || i AS distinct_id, %(start)s::timestamptz + random() * %(seconds)s * interval '1 second' AS t0,
           random() AS r, (ARRAY['email', 'google', 'github'])[1 + i %% 3] AS method
    FROM generate_series(0, %(users)s - 1) AS i
), steps AS (
    SELECT distinct_id, 'userSignup' AS name, t0 AS ts, jsonb_build_object('method', method) AS p FROM users
    UNION ALL SELECT distinct_id, 'onboardingCompleted', t0 + interval '5 hours' * r * 10, '{}' FROM users WHERE r < 0.7
    UNION ALL SELECT distinct_id, 'tourCreated', t0 + interval '9 hours' * r * 10, '{}' FROM users WHERE r < 0.42
    UNION ALL SELECT distinct_id, 'aiRoutingUsed', t0 + interval '13 hours' * r * 10, '{}' FROM users WHERE r < 0.25
    UNION ALL SELECT distinct_id, 'subscriptionStarted', t0 + interval '20 hours' * r * 10, '{}'
        FROM users WHERE r < 0.15
)
INSERT INTO kpis_productevent (uuid, name, distinct_id, timestamp, received_at, properties, organization_key,
                               is_custom)
SELECT gen_random_uuid(), name, distinct_id, ts, ts, p, '', false FROM steps WHERE ts < %(end)s
"""


def _generate(cursor, day_start: datetime) -> None:
    weeks_start = day_start - timedelta(weeks=12)
    started = time.perf_counter()
    cursor.execute("DELETE FROM kpis_productevent WHERE distinct_id LIKE %s", [PREFIX + "%"])
    common = {"names": ACTIVITY, "prefix": PREFIX, "users": USERS}
    cursor.execute(FUNNEL_SQL, {**common, "start": weeks_start, "seconds": 84 * 86400, "end": day_start})
    cursor.execute(ACTIVITY_SQL, {**common, "start": weeks_start, "seconds": 84 * 86400, "count": WEEKS_EVENTS})
    cursor.execute(ACTIVITY_SQL, {**common, "start": day_start, "seconds": 86400 - 1, "count": DAY_EVENTS})
    cursor.execute("ANALYZE kpis_productevent")
    print(
        f"generated {DAY_EVENTS} events on the day, {WEEKS_EVENTS} over the 12 weeks before it, {USERS} users "
        f"in {time.perf_counter() - started:.1f} s"
    )


def _timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> None:
    from django.db import connection

    from kpis import analytics, rollups
    from kpis.models import DailyMetric
    from kpis.rollups import rollup_cohorts, rollup_day

    if connection.vendor != "postgresql":
        print("skipped: the product analytics benchmark needs PostgreSQL (DATABASE_URL)")
        return
    day = datetime.now(tz=UTC).date() - timedelta(days=400)  # clear of other benches' events
    day_start = datetime.combine(day, clock.min, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT count(*) FROM kpis_productevent WHERE "timestamp" >= %s AND "timestamp" < %s',
            [day_start, day_start + timedelta(days=1)],
        )
        present = cursor.fetchone()[0]
        if present != DAY_EVENTS:
            _generate(cursor, day_start)
        started = time.perf_counter()
        cursor.execute(
            "SELECT count(*), count(DISTINCT distinct_id) FROM kpis_productevent "
            'WHERE "timestamp" >= %s AND "timestamp" < %s',
            [day_start, day_start + timedelta(days=1)],
        )
        rows, users = cursor.fetchone()
        scan_s = time.perf_counter() - started
    print(f"day {day}: {rows} events from {users} users; one scan of them (reference) {scan_s:.2f} s")
    print(f"{'measure':<40} {'before (Python)':>16} {'after (SQL)':>12} {'speed-up':>9}")

    def line(label, before, after):
        print(f"{label:<40} {before:14.2f} s {after:10.2f} s {before / after:8.1f}x", flush=True)

    before_s, before = _timed(lambda: analytics.day_session_stats(day, in_database=False))
    after_s, after = _timed(lambda: analytics.day_session_stats(day, in_database=True))
    same = before[0] == after[0] and before[2] == after[2] and abs(before[1] - after[1]) < 1e-6
    line(f"sessions of the day ({after[0]} sessions)", before_s, after_s)
    before_s, before = _timed(lambda: analytics.cohort_values(as_of=day, in_database=False))
    after_s, after = _timed(lambda: analytics.cohort_values(as_of=day, in_database=True))
    keyed_before = {row[:4]: row[4] for row in before}
    keyed_after = {row[:4]: row[4] for row in after}
    same = same and keyed_before.keys() == keyed_after.keys()
    same = same and all(abs(keyed_before[key] - keyed_after[key]) < 1e-6 for key in keyed_before)
    line(f"funnel and retention, 12 weeks ({len(after)} rows)", before_s, after_s)
    # "before" as the previous code ran: Python over the rows, each session metric reading the day on its own.
    with (
        mock.patch.object(analytics, "_in_database", return_value=False),
        mock.patch.object(rollups, "shared_session_stats", contextlib.nullcontext),
    ):
        before_s, _ = _timed(lambda: rollup_day(day=day))
        before_cohorts_s, _ = _timed(lambda: rollup_cohorts(as_of=day))
    after_s, written = _timed(lambda: rollup_day(day=day))
    after_cohorts_s, _ = _timed(lambda: rollup_cohorts(as_of=day))
    line(f"rollup_day, every metric ({written} rows)", before_s, after_s)
    line("rollup_day + rollup_cohorts (nightly's day)", before_s + before_cohorts_s, after_s + after_cohorts_s)
    print(f"same values before and after: {'yes' if same else 'NO'}")
    DailyMetric.objects.filter(day__gte=day - timedelta(weeks=12), day__lte=day).delete()
