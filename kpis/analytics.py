"""Product analytics beside the daily metrics: sessions (30-minute inactivity rule), the signup funnel and weekly
cohort retention.

On PostgreSQL the database does the heavy lifting and returns aggregates: sessions are cut with LAG over each
user's events (a new session where the gap passes 30 minutes, numbered by a running SUM) and grouped; the funnel's
steps are chained MIN(timestamp) per user and the retention counts distinct users per (signup week, week offset).
Elsewhere (SQLite) the same definitions run as plain functions over plain rows read from the events table. Both
paths are tested against independent computations. Funnel and retention rows are written by
`rollups.rollup_cohorts` into DailyMetric under the Monday of each signup week.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from statistics import median

from django.db import connection
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncDate

from kpis.models import SPEED_INSIGHTS_EVENT, ProductEvent

SESSION_GAP = timedelta(minutes=30)
FUNNEL_STEPS = [
    ("signup", "userSignup"),
    ("onboarding", "onboardingCompleted"),
    ("first_tour", "tourCreated"),
    ("ai_routing", "aiRoutingUsed"),
    ("subscription", "subscriptionStarted"),
]
COHORT_WEEKS = 12
ALL_METHODS = "all"


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _in_database() -> bool:
    """Whether the aggregates are computed by the database (PostgreSQL) rather than in Python."""
    return connection.vendor == "postgresql"


# Sessions


def sessions(events: Iterable[tuple[str, str, datetime]]) -> list[tuple[float, int]]:
    """(duration in seconds, features used) of each session in (distinct_id, name, timestamp) rows.

    A session ends after 30 minutes without an event from its user. Features are the distinct event names other
    than PostHog's own ("$pageview" and the like).
    """
    by_user: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for distinct_id, name, timestamp in events:
        by_user[distinct_id].append((timestamp, name))
    result = []
    for rows in by_user.values():
        rows.sort()
        first = last = rows[0][0]
        features: set[str] = set()
        for timestamp, name in rows:
            if timestamp - last > SESSION_GAP:
                result.append(((last - first).total_seconds(), len(features)))
                first, features = timestamp, set()
            last = timestamp
            if not name.startswith("$"):
                features.add(name)
        result.append(((last - first).total_seconds(), len(features)))
    return result


def day_sessions(day: date) -> list[tuple[float, int]]:
    """Sessions of the events of one UTC day (a session crossing midnight counts as two)."""
    start = _start_of(day)
    rows = (
        ProductEvent.objects.filter(timestamp__gte=start, timestamp__lt=start + timedelta(days=1))
        .exclude(name=SPEED_INSIGHTS_EVENT)  # anonymous devices' measurements, not a user's activity
        .values_list("distinct_id", "name", "timestamp")
    )
    return sessions(rows.iterator(chunk_size=5000))


SESSIONS_SQL = """
WITH marked AS (
    SELECT distinct_id, name, "timestamp",
           CASE WHEN "timestamp" - LAG("timestamp") OVER by_user > interval '30 minutes' THEN 1 ELSE 0 END AS starts
    FROM kpis_productevent
    WHERE "timestamp" >= %(start)s AND "timestamp" < %(end)s AND name <> %(excluded)s
    WINDOW by_user AS (PARTITION BY distinct_id ORDER BY "timestamp")
), numbered AS (
    -- RANGE framing (the default): events at the same instant share their session number.
    SELECT distinct_id, name, "timestamp", SUM(starts) OVER (PARTITION BY distinct_id ORDER BY "timestamp") AS session
    FROM marked
), per_session AS (
    SELECT EXTRACT(EPOCH FROM MAX("timestamp") - MIN("timestamp"))::float8 AS duration,
           COUNT(DISTINCT name) FILTER (WHERE name NOT LIKE '$%%') AS features
    FROM numbered
    GROUP BY distinct_id, session
)
SELECT COUNT(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY duration), COALESCE(SUM(features), 0) FROM per_session
"""


def day_session_stats(day: date, *, in_database: bool | None = None) -> tuple[int, float | None, int]:
    """(sessions, median duration in seconds, features summed over the sessions) of one UTC day's events."""
    if in_database if in_database is not None else _in_database():
        start = _start_of(day)
        with connection.cursor() as cursor:
            cursor.execute(
                SESSIONS_SQL, {"start": start, "end": start + timedelta(days=1), "excluded": SPEED_INSIGHTS_EVENT}
            )
            count, middle, features = cursor.fetchone()
        return int(count), (float(middle) if count else None), int(features)
    found = day_sessions(day)
    if not found:
        return 0, None, 0
    return len(found), float(median(duration for duration, _ in found)), sum(count for _, count in found)


# Funnel


def funnel(
    signups: dict[str, tuple[datetime, str]], steps: dict[str, dict[str, list[datetime]]]
) -> dict[tuple[date, str, str], tuple[int, float | None]]:
    """{(signup week, method or "all", step): (users reaching the step, median seconds from the previous step)}.

    `signups`: each user's first signup (time, method); `steps`: {event name: {user: [times]}}. A step counts at
    its first event at or after the previous step (the funnel is ordered).
    """
    reached: dict[tuple[date, str, str], list[float]] = defaultdict(list)
    for user, (signed_up_at, method) in signups.items():
        week = week_start(signed_up_at.date())
        previous = signed_up_at
        for step, name in FUNNEL_STEPS:
            if name == FUNNEL_STEPS[0][1]:
                at = signed_up_at
            else:
                at = min((moment for moment in steps.get(name, {}).get(user, []) if moment >= previous), default=None)
                if at is None:
                    break
            for key in (method, ALL_METHODS):
                reached[(week, key, step)].append((at - previous).total_seconds())
            previous = at
    return {
        key: (len(waits), median(waits) if key[2] != FUNNEL_STEPS[0][0] else None) for key, waits in reached.items()
    }


def first_signups(*, start: date, end: date) -> dict[str, tuple[datetime, str]]:
    """Each user's first userSignup (time, method), kept when it falls in [start, end]."""
    rows = (
        ProductEvent.objects.filter(name="userSignup", timestamp__lt=_start_of(end + timedelta(days=1)))
        .annotate(method=KeyTextTransform("method", "properties"))
        .order_by("timestamp", "id")
        .values_list("distinct_id", "timestamp", "method")
    )
    first: dict[str, tuple[datetime, str]] = {}
    for distinct_id, timestamp, method in rows.iterator(chunk_size=5000):
        first.setdefault(distinct_id, (timestamp, str(method or "unknown")))
    return {user: value for user, value in first.items() if value[0] >= _start_of(start)}


def funnel_step_events(*, users: set[str], start: date, end: date) -> dict[str, dict[str, list[datetime]]]:
    names = [name for _, name in FUNNEL_STEPS[1:]]
    rows = ProductEvent.objects.filter(
        name__in=names, timestamp__gte=_start_of(start), timestamp__lt=_start_of(end + timedelta(days=1))
    ).values_list("name", "distinct_id", "timestamp")
    steps: dict[str, dict[str, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    for name, distinct_id, timestamp in rows.iterator(chunk_size=5000):
        if distinct_id in users:
            steps[name][distinct_id].append(timestamp)
    return steps


# Retention


def retention(
    cohorts: dict[str, date], active_days: Iterable[tuple[str, date]], *, last_day: date
) -> dict[date, tuple[int, list[float]]]:
    """{signup week: (cohort size, [share of the cohort active in week 0, 1, ...])} up to the week of last_day."""
    active: dict[tuple[date, int], set[str]] = defaultdict(set)
    for user, day in active_days:
        week = cohorts.get(user)
        if week is not None and day >= week:
            active[(week, (day - week).days // 7)].add(user)
    sizes: dict[date, int] = defaultdict(int)
    for week in cohorts.values():
        sizes[week] += 1
    last_week = week_start(last_day)
    return {
        week: (size, [len(active[(week, offset)]) / size for offset in range((last_week - week).days // 7 + 1)])
        for week, size in sorted(sizes.items())
    }


def active_user_days(*, users: set[str], start: date, end: date) -> set[tuple[str, date]]:
    """(user, UTC day) pairs with any event in [start, end], one row per pair from the database."""
    rows = (
        ProductEvent.objects.filter(timestamp__gte=_start_of(start), timestamp__lt=_start_of(end + timedelta(days=1)))
        .annotate(day=TruncDate("timestamp"))
        .values_list("distinct_id", "day")
        .distinct()
    )
    return {(user, day) for user, day in rows.iterator(chunk_size=5000) if user in users}


def _cohort_sql() -> str:
    """One query: each user's first signup (kept when in the weeks shown), the funnel's steps chained per user
    (each the MIN(timestamp) of its event at or after the previous step), then tagged aggregate rows:
    ("f", week, "method:step", users, median wait), ("s", week, "", cohort size, NULL) and
    ("r", week, week offset, active users, NULL)."""
    chain, reached = [], ["SELECT week, method, 'signup' AS step, NULL::float8 AS wait FROM signups"]
    previous, previous_at = "signups", "signed_up_at"
    for step, name in FUNNEL_STEPS[1:]:
        chain.append(
            f"""step_{step} AS (
    SELECT p.distinct_id, p.week, p.method, p.{previous_at} AS previous_at, MIN(e."timestamp") AS at
    FROM {previous} p JOIN step_events e ON e.distinct_id = p.distinct_id AND e.name = '{name}'
        AND e."timestamp" >= p.{previous_at}
    GROUP BY p.distinct_id, p.week, p.method, p.{previous_at}
)"""  # noqa: S608 - names from FUNNEL_STEPS, values passed as parameters
        )
        reached.append(
            f"SELECT week, method, '{step}', EXTRACT(EPOCH FROM at - previous_at)::float8 FROM step_{step}"  # noqa: S608
        )
        previous, previous_at = f"step_{step}", "at"
    step_names = ", ".join(f"'{name}'" for _, name in FUNNEL_STEPS[1:])
    chained = ",\n".join(chain)
    reached_sql = "\n    UNION ALL ".join(reached)
    return f"""
WITH firsts AS (
    SELECT DISTINCT ON (distinct_id) distinct_id, "timestamp" AS signed_up_at,
           COALESCE(NULLIF(properties ->> 'method', ''), 'unknown') AS method
    FROM kpis_productevent
    WHERE name = 'userSignup' AND "timestamp" < %(end)s
    ORDER BY distinct_id, "timestamp", id
), signups AS MATERIALIZED (
    SELECT distinct_id, signed_up_at, method, date_trunc('week', signed_up_at AT TIME ZONE 'UTC')::date AS week
    FROM firsts WHERE signed_up_at >= %(start)s
), step_events AS MATERIALIZED (
    SELECT e.name, e.distinct_id, e."timestamp"
    FROM kpis_productevent e
    WHERE e.name IN ({step_names}) AND e."timestamp" >= %(start)s AND e."timestamp" < %(end)s
        AND e.distinct_id IN (SELECT distinct_id FROM signups)
),
{chained},
reached AS (
    {reached_sql}
), by_method AS (
    SELECT week, method AS key, step, wait FROM reached
    UNION ALL SELECT week, '{ALL_METHODS}', step, wait FROM reached
)
SELECT 'f', week, key || ':' || step, COUNT(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY wait)
FROM by_method GROUP BY week, key, step
UNION ALL
SELECT 's', week, '', COUNT(*), NULL FROM signups GROUP BY week
UNION ALL
SELECT 'r', week, week_offset::text, COUNT(*), NULL
FROM (
    SELECT DISTINCT u.week, u.distinct_id, ((e."timestamp" AT TIME ZONE 'UTC')::date - u.week) / 7 AS week_offset
    FROM signups u JOIN kpis_productevent e ON e.distinct_id = u.distinct_id
    WHERE e."timestamp" >= %(start)s AND e."timestamp" < %(end)s AND (e."timestamp" AT TIME ZONE 'UTC')::date >= u.week
) AS active
GROUP BY week, week_offset
"""  # noqa: S608 - names from FUNNEL_STEPS, values passed as parameters


COHORT_SQL = _cohort_sql()


def _cohort_values_in_database(*, first_week: date, as_of: date) -> list[tuple[str, date, str, str, float]]:
    with connection.cursor() as cursor:
        cursor.execute(COHORT_SQL, {"start": _start_of(first_week), "end": _start_of(as_of + timedelta(days=1))})
        found = cursor.fetchall()
    rows: list[tuple[str, date, str, str, float]] = []
    sizes: dict[date, int] = {}
    active: dict[tuple[date, int], int] = {}
    for kind, week, key, count, waited in found:
        if kind == "f":
            rows.append(("funnel_users", week, "method_step", key, count))
            if waited is not None:
                rows.append(("funnel_median_seconds", week, "method_step", key, waited))
        elif kind == "s":
            sizes[week] = count
        else:
            active[(week, int(key))] = count
    last_week = week_start(as_of)
    for week, size in sorted(sizes.items()):
        rows.append(("cohort_size", week, "", "", size))
        rows.extend(
            ("retention", week, "week", str(offset), active.get((week, offset), 0) / size)
            for offset in range((last_week - week).days // 7 + 1)
        )
    return rows


def cohort_values(
    *, as_of: date, weeks: int = COHORT_WEEKS, in_database: bool | None = None
) -> list[tuple[str, date, str, str, float]]:
    """(metric, signup week, dimension, dimension value, value) rows of the funnel and retention of the signup
    weeks in the `weeks` weeks ending with as_of, counting events up to the end of as_of."""
    first_week = week_start(as_of) - timedelta(weeks=weeks - 1)
    if in_database if in_database is not None else _in_database():
        return _cohort_values_in_database(first_week=first_week, as_of=as_of)
    signups = first_signups(start=first_week, end=as_of)
    users = set(signups)
    rows: list[tuple[str, date, str, str, float]] = []
    steps = funnel_step_events(users=users, start=first_week, end=as_of)
    for (week, method, step), (count, waited) in funnel(signups, steps).items():
        rows.append(("funnel_users", week, "method_step", f"{method}:{step}", count))
        if waited is not None:
            rows.append(("funnel_median_seconds", week, "method_step", f"{method}:{step}", waited))
    cohorts = {user: week_start(at.date()) for user, (at, _) in signups.items()}
    activity = active_user_days(users=users, start=first_week, end=as_of)
    for week, (size, shares) in retention(cohorts, activity, last_day=as_of).items():
        rows.append(("cohort_size", week, "", "", size))
        rows.extend(("retention", week, "week", str(offset), share) for offset, share in enumerate(shares))
    return rows


COHORT_METRICS = ["funnel_users", "funnel_median_seconds", "cohort_size", "retention"]
