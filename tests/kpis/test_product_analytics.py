"""Sessions, monthly signups, organic share, trial-to-paid, the signup funnel and weekly cohort retention against
independent computations over the same generated events (the daily metrics' oracle is in test_rollups.py)."""

import uuid
from datetime import UTC, date, datetime, timedelta
from statistics import median

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpis.analytics import COHORT_METRICS, sessions
from kpis.models import DailyMetric, ProductEvent
from kpis.rollups import rollup_range

pytestmark = pytest.mark.django_db

PRODUCT_ANALYTICS_METRICS = {
    "session_duration_median",
    "features_per_session",
    "monthly_signups",
    "organic_share",
    "trial_to_paid",
}
STEPS = ["userSignup", "onboardingCompleted", "tourCreated", "aiRoutingUsed", "subscriptionStarted"]
STEP_KEYS = ["signup", "onboarding", "first_tour", "ai_routing", "subscription"]


def _sessions_by_gaps(events) -> list[tuple[float, int]]:
    """Sessions found the other way round: cut each user's sorted times where the gap passes 1,800 s."""
    result = []
    for user in {e[0] for e in events}:
        mine = sorted((e[2], e[1]) for e in events if e[0] == user)
        cuts = [0] + [i for i in range(1, len(mine)) if (mine[i][0] - mine[i - 1][0]).total_seconds() > 1800]
        for begin, finish in zip(cuts, [*cuts[1:], len(mine)], strict=True):
            part = mine[begin:finish]
            names = {name for _, name in part if name[0] != "$"}
            result.append(((part[-1][0] - part[0][0]).total_seconds(), len(names)))
    return result


def product_analytics_oracle(rows, metric, day) -> dict:
    if metric in ("session_duration_median", "features_per_session"):
        found = _sessions_by_gaps([(r["user"], r["name"], r["at"]) for r in rows if r["day"] == day])
        if not found:
            return {}
        if metric == "session_duration_median":
            return {"": float(median(d for d, _ in found))}
        return {"": sum(f for _, f in found) / len(found)}
    if metric == "monthly_signups":
        return {"": sum(1 for r in rows if r["name"] == "userSignup" and day.replace(day=1) <= r["day"] <= day)}
    window = [r for r in rows if day - timedelta(days=29) <= r["day"] <= day and r["name"] == "userSignup"]
    if metric == "organic_share":
        organic = [r for r in window if r["p"].get("referral") in ("referral", "word_of_mouth")]
        return {"": len(organic) / len(window)} if window else {}
    if metric == "trial_to_paid":
        signed_up = {r["user"] for r in window}
        paying = {r["user"] for r in rows if r["name"] == "subscriptionStarted" and r["day"] <= day}
        return {"": len(signed_up & paying) / len(signed_up)} if signed_up else {}
    raise AssertionError(metric)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y", "$pageview"]), st.integers(0, 3 * 3600)),
        min_size=1,
        max_size=30,
    )
)
def test_sessions_split_on_thirty_minutes_of_inactivity(raw):
    # given events of three users over three hours (no database)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    events = [(user, name, start + timedelta(seconds=second)) for user, name, second in raw]
    # then the sessions equal those found by cutting at the gaps
    assert sorted(sessions(events)) == sorted(_sessions_by_gaps(events))


# Funnel and retention

START = date(2026, 3, 2)  # a Monday
SPAN_DAYS = 35
funnel_events = st.lists(
    st.tuples(
        st.sampled_from([*STEPS, "pageView"]),
        st.sampled_from(["u1", "u2", "u3", "u4", "u5", "u6"]),
        st.integers(0, SPAN_DAYS - 1),
        st.integers(0, 24 * 3600 - 1),
        st.sampled_from(["email", "google"]),
    ),
    max_size=60,
)


def _store_funnel_events(generated) -> list[tuple]:
    ProductEvent.objects.all().delete()
    DailyMetric.objects.all().delete()
    rows = []
    for index, (name, user, day_offset, second, method) in enumerate(generated):
        at = datetime.combine(START, datetime.min.time(), tzinfo=UTC) + timedelta(days=day_offset, seconds=second)
        properties = {"method": method} if name == "userSignup" else {}
        rows.append((name, user, at, properties, index))
    ProductEvent.objects.bulk_create(
        ProductEvent(uuid=uuid.uuid4(), name=name, distinct_id=user, timestamp=at, received_at=at, properties=p)
        for name, user, at, p, _ in rows
    )
    return rows


def _funnel_oracle(rows) -> tuple[dict, dict]:
    """({(week, method, step): users}, {(week, method, step): median seconds}) computed user by user."""
    users, waits = {}, {}
    for user in {r[1] for r in rows}:
        signups = sorted((r[2], r[4], r[3]["method"]) for r in rows if r[1] == user and r[0] == "userSignup")
        if not signups:
            continue
        signed_up_at, _, method = signups[0]
        week = signed_up_at.date() - timedelta(days=signed_up_at.weekday())
        previous = signed_up_at
        for position, name in enumerate(STEPS):
            if position:
                later = [r[2] for r in rows if r[1] == user and r[0] == name and r[2] >= previous]
                if not later:
                    break
                at = min(later)
            else:
                at = signed_up_at
            for key in (method, "all"):
                users[(week, key, STEP_KEYS[position])] = users.get((week, key, STEP_KEYS[position]), 0) + 1
                if position:
                    waits.setdefault((week, key, STEP_KEYS[position]), []).append((at - previous).total_seconds())
            previous = at
    return users, {key: median(values) for key, values in waits.items()}


def _retention_oracle(rows, last_day: date) -> dict:
    cohort = {}
    for name, user, at, _, _index in sorted(rows, key=lambda r: (r[2], r[4])):
        if name == "userSignup" and user not in cohort:
            cohort[user] = at.date() - timedelta(days=at.date().weekday())
    result = {}
    for week in set(cohort.values()):
        members = {user for user, w in cohort.items() if w == week}
        shares = []
        offset = 0
        while week + timedelta(weeks=offset) <= last_day:
            begin = week + timedelta(weeks=offset)
            active = {r[1] for r in rows if r[1] in members and begin <= r[2].date() < begin + timedelta(days=7)}
            shares.append(len(active) / len(members))
            offset += 1
        result[week] = (len(members), shares)
    return result


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=funnel_events)
def test_funnel_and_retention_equal_the_oracle(generated):
    # given generated events over five weeks, rolled up to the last day
    rows = _store_funnel_events(generated)
    last_day = START + timedelta(days=SPAN_DAYS - 1)
    rollup_range(start=last_day, end=last_day)
    stored: dict = {}
    for row in DailyMetric.objects.filter(metric__in=COHORT_METRICS):
        stored[(row.metric, row.day, row.dimension_value)] = row.value
    # then the funnel rows equal the user-by-user computation
    users, waits = _funnel_oracle(rows)
    expected = {("funnel_users", week, f"{method}:{step}"): count for (week, method, step), count in users.items()}
    expected |= {("funnel_median_seconds", w, f"{m}:{s}"): value for (w, m, s), value in waits.items()}
    # and the retention rows equal the week-by-week computation
    for week, (size, shares) in _retention_oracle(rows, last_day).items():
        expected[("cohort_size", week, "")] = size
        expected |= {("retention", week, str(offset)): share for offset, share in enumerate(shares)}
    assert stored.keys() == expected.keys()
    for key, value in expected.items():
        assert stored[key] == pytest.approx(value), key


def test_rerunning_the_cohorts_keeps_the_rows_and_drops_gone_ones():
    rows = _store_funnel_events([("userSignup", "u1", 0, 10, "email"), ("tourCreated", "u1", 8, 10, "email")])
    last_day = START + timedelta(days=SPAN_DAYS - 1)
    rollup_range(start=last_day, end=last_day)
    first = set(DailyMetric.objects.values_list("metric", "day", "dimension_value", "value"))
    rollup_range(start=last_day, end=last_day)
    assert set(DailyMetric.objects.values_list("metric", "day", "dimension_value", "value")) == first
    assert ("retention", START, "1", 1.0) in first
    ProductEvent.objects.filter(name="userSignup").delete()
    rollup_range(start=last_day, end=last_day)
    assert not DailyMetric.objects.filter(metric__in=["retention", "funnel_users", "cohort_size"]).exists()
    assert rows
