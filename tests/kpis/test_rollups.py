"""Rollups against a brute-force Python oracle over the same generated events; rerun, late data, the command."""

import uuid
from datetime import UTC, date, datetime, timedelta
from statistics import median

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpis.metrics import METRICS_BY_NAME
from kpis.models import DailyMetric, ProductEvent, RollupState
from kpis.rollups import ADVISORY_LOCK_KEY, RollupAlreadyRunning, rollup_nightly, rollup_range
from tests.kpis.test_product_analytics import PRODUCT_ANALYTICS_METRICS, product_analytics_oracle
from tests.kpis.test_revenue_rollups import revenue_oracle

pytestmark = pytest.mark.django_db

START = date(2026, 3, 1)
DAYS = 8
# Events span 40 days; the last 8 are rolled up, so every trailing window holds earlier events.
SPAN_DAYS = 40
FIRST_ROLLED = SPAN_DAYS - DAYS
USERS = ["u1", "u2", "u3", "u4", "u5"]

PROPERTIES = {
    "userSignup": st.fixed_dictionaries(
        {"method": st.sampled_from(["email", "google", "github"])},
        optional={"referral": st.sampled_from(["referral", "word_of_mouth", "ads", ""])},
    ),
    "exportGenerated": st.fixed_dictionaries({"type": st.sampled_from(["pdf", "csv", "ical"]), "showId": st.just("s")}),
    "onboardingCompleted": st.fixed_dictionaries({"timeToComplete": st.integers(0, 5000)}),
    "tourCreated": st.fixed_dictionaries({"artistCount": st.just(1), "venueCount": st.just(2)}),
    "aiRoutingUsed": st.fixed_dictionaries({"scenariosGenerated": st.just(2), "applied": st.booleans()}),
    "collaborationUsed": st.fixed_dictionaries({"permission": st.just("view"), "external": st.booleans()}),
    "subscriptionStarted": st.fixed_dictionaries({"plan": st.sampled_from(["starter", "professional"])}),
    "churnEvent": st.fixed_dictionaries({"reason": st.just("price"), "tenure": st.integers(1, 90)}),
    "organizationCreated": st.fixed_dictionaries({"type": st.sampled_from(["promoter", "agency"])}),
    "pageView": st.just({}),
    # posthog-js: one $web_vitals event carries the vitals measured on a page so far.
    "$web_vitals": st.fixed_dictionaries(
        {"$current_url": st.sampled_from(["https://app.example/tours/12", "https://app.example/tours/13?tab=2", "/"])},
        optional={
            "$web_vitals_LCP_value": st.floats(0, 10000, allow_nan=False),
            "$web_vitals_INP_value": st.integers(0, 900),
            "$web_vitals_CLS_value": st.floats(0, 1, allow_nan=False),
            "$web_vitals_TTFB_value": st.integers(0, 3000),
            "$geoip_country_code": st.sampled_from(["de", "US"]),
        },
    ),
    # A Vercel Speed Insights measurement as the drain stores it (kpis.health): one metric, the route, a country.
    "$vercel_speed_insights": st.fixed_dictionaries(
        {"$pathname": st.sampled_from(["/tours/[id]", "/tours/7"])},
        optional={
            "$web_vitals_LCP_value": st.floats(0, 10000, allow_nan=False),
            "$web_vitals_TTFB_value": st.integers(0, 3000),
            "$geoip_country_code": st.sampled_from(["DE", "FR"]),
        },
    ),
}

event_strategy = st.sampled_from(sorted(PROPERTIES)).flatmap(
    lambda name: st.tuples(
        st.just(name),
        st.sampled_from(USERS),
        st.integers(0, SPAN_DAYS - 1),
        st.integers(0, 24 * 3600 - 1),
        PROPERTIES[name],
    )
)


def _store(generated) -> list[dict]:
    ProductEvent.objects.all().delete()
    DailyMetric.objects.all().delete()
    rows = []
    for name, user, day_offset, second, properties in generated:
        timestamp = datetime.combine(START, datetime.min.time(), tzinfo=UTC) + timedelta(
            days=day_offset, seconds=second
        )
        rows.append(
            {"name": name, "user": user, "day": START + timedelta(days=day_offset), "at": timestamp, "p": properties}
        )
    ProductEvent.objects.bulk_create(
        ProductEvent(
            uuid=uuid.uuid4(),
            name=row["name"],
            distinct_id=row["user"],
            timestamp=row["at"],
            received_at=row["at"],
            properties=row["p"],
        )
        for row in rows
    )
    return rows


def _window(rows, day, days, name=None):
    return [
        r for r in rows if day - timedelta(days=days - 1) <= r["day"] <= day and (name is None or r["name"] == name)
    ]


def _users(rows):
    return {r["user"] for r in rows}


def _ratio(numerator, denominator):
    return {"": len(numerator & denominator) / len(denominator)} if denominator else {}


def oracle(rows, metric, day) -> dict:
    """Each metric's definition, computed the obvious way over Python lists."""
    measurements = rows
    rows = [r for r in rows if r["name"] != "$vercel_speed_insights"]  # devices' measurements: no user activity
    by = {
        "signups": ("userSignup", "method"),
        "exports": ("exportGenerated", "type"),
        "subscriptions": ("subscriptionStarted", "plan"),
        "organizations_created": ("organizationCreated", "type"),
    }
    if metric in by:
        name, prop = by[metric]
        values = {}
        for r in _window(rows, day, 1, name):
            values[r["p"][prop]] = values.get(r["p"][prop], 0) + 1
        return values
    if metric in ("dau", "wau", "mau"):
        return {"": len(_users(_window(rows, day, {"dau": 1, "wau": 7, "mau": 30}[metric])))}
    if metric == "stickiness":
        mau = len(_users(_window(rows, day, 30)))
        return {"": len(_users(_window(rows, day, 1))) / mau} if mau else {}
    if metric == "tours_created":
        return {"": len(_window(rows, day, 1, "tourCreated"))}
    if metric == "churn_events":
        return {"": len(_window(rows, day, 1, "churnEvent"))}
    if metric == "onboarding_median_time":
        times = [r["p"]["timeToComplete"] for r in _window(rows, day, 1, "onboardingCompleted")]
        return {"": float(median(times))} if times else {}
    if metric == "onboarding_completion_rate":
        completed = {r["user"] for r in rows if r["name"] == "onboardingCompleted" and r["day"] <= day}
        return _ratio(completed, _users(_window(rows, day, 30, "userSignup")))
    if metric == "ai_routing_adoption":
        return _ratio(_users(_window(rows, day, 30, "aiRoutingUsed")), _users(_window(rows, day, 30, "tourCreated")))
    if metric == "collaboration_usage":
        return _ratio(_users(_window(rows, day, 30, "collaborationUsed")), _users(_window(rows, day, 30)))
    if metric == "monthly_churn_rate":
        start = day - timedelta(days=29)
        subscribed = {r["user"] for r in rows if r["name"] == "subscriptionStarted" and r["day"] < start}
        churned_before = {r["user"] for r in rows if r["name"] == "churnEvent" and r["day"] < start}
        return _ratio(_users(_window(rows, day, 30, "churnEvent")), subscribed - churned_before)
    if metric.startswith("web_vitals_"):
        prop = f"$web_vitals_{metric.split('_')[2].upper()}_value"
        by_route: dict[str, list] = {}
        vitals = [r for r in _window(measurements, day, 1) if r["name"] in ("$web_vitals", "$vercel_speed_insights")]
        for r in vitals:
            if metric.endswith("_country"):
                if prop in r["p"] and "$geoip_country_code" in r["p"]:
                    by_route.setdefault(r["p"]["$geoip_country_code"].upper(), []).append(r["p"][prop])
            elif prop in r["p"] and "$pathname" in r["p"]:
                route = "/".join(":id" if part.isdigit() else part for part in r["p"]["$pathname"].split("/"))
                by_route.setdefault(route, []).append(r["p"][prop])
            elif prop in r["p"]:
                path = r["p"]["$current_url"].split("://", 1)[-1]
                path = "/" + path.split("/", 1)[1] if "://" in r["p"]["$current_url"] else path
                segments = ["{}".format(":id" if part.isdigit() else part) for part in path.split("?")[0].split("/")]
                by_route.setdefault("/".join(segments) or "/", []).append(r["p"][prop])
        result = {route: _p(values, 0.75) for route, values in by_route.items()}
        if by_route:
            result[""] = _p([v for values in by_route.values() for v in values], 0.75)
        return result
    if metric in PRODUCT_ANALYTICS_METRICS:
        return product_analytics_oracle(rows, metric, day)
    if metric in HEALTH_METRICS:
        return {}  # no health samples here: see test_health_rollups.py
    if metric in REVENUE_METRICS:  # no plan prices here; with prices: test_revenue_rollups.py
        events = [
            (r["name"], r["user"], r["at"], r["p"].get("plan"))
            for r in rows
            if r["name"] in ("subscriptionStarted", "churnEvent")
        ]
        return revenue_oracle(events, [], day).get(metric, {})
    if metric in SUPPORT_METRICS:  # no tickets here: see test_revenue_rollups.py
        return {"": 0} if metric == "backlog" else {}
    if metric == "kb_deflections":  # no help-center opens here: see test_kb_deflection_rollups.py
        return {"": 0}
    if metric in ("beta_churn", "data_loss", "cac"):  # no beta users, backups, spend here: test_scorecard_inputs.py
        return {}
    if metric in SURVEY_METRICS:  # no survey answers nor beta users here: see test_survey_rollups.py
        return {"": 0} if metric in ("beta_testimonials", "active_beta_users") else {}
    raise AssertionError(f"no oracle for {metric}")


def _p(values, fraction):
    """The smallest value with at least `fraction` of the values at or below it."""
    return min(v for v in values if sum(1 for w in values if w <= v) >= fraction * len(values))


HEALTH_METRICS = {"uptime", "error_rate", "response_time_p95", "openai_cost", "openai_rate_limit_hits"}
REVENUE_METRICS = {"mrr", "arpu", "clv", "expansion_revenue"}
SUPPORT_METRICS = {"first_response_median", "first_response_p90", "sla_compliance", "backlog"}
SURVEY_METRICS = {"nps", "conversion_intent", "beta_testimonials", "active_beta_users"}


def _stored() -> dict:
    stored = {}
    for row in DailyMetric.objects.all():
        stored.setdefault((row.metric, row.day), {})[row.dimension_value] = row.value
    return stored


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=st.lists(event_strategy, max_size=60))
def test_every_metric_equals_the_oracle(generated):
    rows = _store(generated)
    rollup_range(start=START + timedelta(days=FIRST_ROLLED), end=START + timedelta(days=SPAN_DAYS - 1))
    stored = _stored()
    for offset in range(FIRST_ROLLED, SPAN_DAYS):
        day = START + timedelta(days=offset)
        for metric in METRICS_BY_NAME:
            expected = oracle(rows, metric, day)
            actual = stored.get((metric, day), {})
            assert actual.keys() == expected.keys(), (metric, day)
            for key, value in expected.items():
                assert actual[key] == pytest.approx(value), (metric, day, key)


def test_rerun_gives_the_same_rows_and_drops_stale_ones():
    _store(
        [
            ("userSignup", "u1", 0, 10, {"method": "email"}),
            ("exportGenerated", "u2", 0, 20, {"type": "pdf", "showId": "s"}),
        ]
    )
    rollup_range(start=START, end=START)
    first = sorted(DailyMetric.objects.values_list("metric", "day", "dimension_value", "value"))
    rollup_range(start=START, end=START)
    assert sorted(DailyMetric.objects.values_list("metric", "day", "dimension_value", "value")) == first
    ProductEvent.objects.filter(name="exportGenerated").delete()
    rollup_range(start=START, end=START)
    assert not DailyMetric.objects.filter(metric="exports").exists()
    assert DailyMetric.objects.get(metric="signups", dimension_value="email").value == 1


def test_late_events_make_their_day_and_the_windows_after_it_dirty(time_machine):
    time_machine.move_to(datetime(2026, 3, 10, 1, 0, tzinfo=UTC))
    old = datetime(2026, 3, 2, 12, tzinfo=UTC)
    ProductEvent.objects.create(uuid=uuid.uuid4(), name="pageView", distinct_id="u1", timestamp=old, received_at=old)
    rollup_nightly()  # first run: everything it holds is new
    assert DailyMetric.objects.get(metric="dau", day=date(2026, 3, 2)).value == 1
    assert DailyMetric.objects.get(metric="mau", day=date(2026, 3, 9)).value == 1

    time_machine.move_to(datetime(2026, 3, 11, 1, 0, tzinfo=UTC))
    late_received = datetime(2026, 3, 10, 18, tzinfo=UTC)
    ProductEvent.objects.create(
        uuid=uuid.uuid4(), name="pageView", distinct_id="u2", timestamp=old, received_at=late_received
    )
    rollup_nightly()
    assert DailyMetric.objects.get(metric="dau", day=date(2026, 3, 2)).value == 2
    assert DailyMetric.objects.get(metric="wau", day=date(2026, 3, 8)).value == 2
    assert DailyMetric.objects.get(metric="mau", day=date(2026, 3, 10)).value == 2
    assert RollupState.objects.get(key="rollup").watermark == late_received


def test_command_backfills_with_progress_lines(capsys):
    _store([("userSignup", "u1", 0, 10, {"method": "github"})])
    call_command("kpi_rollup", "--from", "2026-03-01", "--to", "2026-04-09")
    out = capsys.readouterr().out
    assert "30/40 days" in out
    assert "40/40 days" in out
    assert DailyMetric.objects.filter(metric="dau").count() == 40


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_second_run_cannot_overlap_the_first(other_postgresql_connection):
    # given another session holding the rollup lock
    other = other_postgresql_connection
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        # when a rollup starts, then it stops without writing
        with pytest.raises(RollupAlreadyRunning):
            rollup_range(start=START, end=START)
        with pytest.raises(CommandError, match="Another KPI rollup is running"):
            call_command("kpi_rollup", "--from", "2026-03-01", "--to", "2026-03-01")
        assert not DailyMetric.objects.exists()
    finally:
        # Unlock before closing: the server ends the closed session (and frees its locks) a moment later.
        other.execute("SELECT pg_advisory_unlock_all()")
        other.close()
    # once it is released, a run goes through
    rollup_range(start=START, end=START)
    assert DailyMetric.objects.filter(metric="dau").exists()
