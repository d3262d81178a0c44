import json
from datetime import UTC, date, datetime, timedelta

import pytest

from kpis import demo
from kpis.models import DailyMetric, HealthSample, ProductEvent
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

END = date(2026, 5, 31)


def _rollups(days: int):
    now = datetime(2026, 6, 1, tzinfo=UTC)
    rows = []
    for offset in range(days):
        day = END - timedelta(days=offset)
        rows += [
            DailyMetric(
                metric="signups", day=day, dimension="method", dimension_value="email", value=2, computed_at=now
            ),
            DailyMetric(
                metric="signups", day=day, dimension="method", dimension_value="github", value=1, computed_at=now
            ),
            DailyMetric(metric="dau", day=day, value=10 + offset, computed_at=now),
            DailyMetric(metric="onboarding_completion_rate", day=day, value=0.85, computed_at=now),
            DailyMetric(metric="ai_routing_adoption", day=day, value=0.5, computed_at=now),
            DailyMetric(metric="error_rate", day=day, value=0.005, computed_at=now),
            DailyMetric(metric="response_time_p95", day=day, value=620.4, computed_at=now),
        ]
    DailyMetric.objects.bulk_create(rows)


@pytest.mark.parametrize("days", [3, 60])
def test_dashboard_scorecard_and_charts_with_constant_queries(client_as, django_assert_max_num_queries, days):
    _rollups(days)
    client = client_as(Role.PRODUCT_MANAGER)
    with django_assert_max_num_queries(8):
        response = client.get("/kpis/?from=2026-05-02&to=2026-05-31")
    assert response.status_code == 200
    rows = {row["target"].label: row for row in response.context["scorecard"]}
    assert rows["Onboarding completion"]["status"] == "pass"
    assert rows["AI routing adoption"]["status"] == "fail"
    assert rows["Monthly signups"]["value"] == 3 * min(days, 30)
    assert rows["Monthly signups"]["status"] == ("pass" if days >= 17 else "fail")
    assert rows["Uptime"]["status"] == "no data"
    assert rows["Uptime"]["display"] == "no data"
    assert rows["Error rate"]["status"] == "pass"
    assert rows["Error rate"]["display"] == "0.50%"
    assert rows["API response time"]["display"] == "620 ms"
    assert rows["API response time"]["status"] == "fail"
    assert rows["Monthly churn"]["value"] is None
    html = response.content.decode()
    assert 'data-target="Onboarding completion"' in html
    assert "<script>" not in html  # data only in json_script blocks, code in static files
    data = json.loads(html.split('id="chart-signups-data" type="application/json">')[1].split("</script>")[0])
    assert data["days"][0] == "2026-05-02"
    assert data["series"]["email"][-1] == 2
    assert len(data["days"]) == 30
    assert "kpis/vendor/chartjs/chart.umd.min.js" in html


def test_metric_definitions_page(client_as):
    response = client_as(Role.SUPPORT_LEAD).get("/kpis/metrics/")
    assert response.status_code == 200
    assert b"<code>monthly_churn_rate</code>" in response.content
    assert b"Distinct users with any event in the 7 days ending that day (Vercel Speed Insights" in response.content


@pytest.mark.parametrize("role", [Role.SUPPORT_REP, Role.AUDITOR, None])
def test_other_users_are_refused(client_as, role):
    assert client_as(role).get("/kpis/").status_code == 403
    assert client_as(role).get("/kpis/metrics/").status_code == 403


def test_bad_range_falls_back_to_30_days(client_as):
    response = client_as(Role.ADMIN).get("/kpis/?from=nonsense&to=2026-05-31")
    assert response.status_code == 200
    assert response.context["start"] == date(2026, 5, 2)


def test_demo_events_are_idempotent_and_fill_the_dashboard(client_as):

    demo.seed()
    events, rows = ProductEvent.objects.count(), DailyMetric.objects.count()
    samples = HealthSample.objects.count()
    demo.seed()
    assert ProductEvent.objects.count() == events > 500
    assert DailyMetric.objects.count() == rows
    response = client_as(Role.PRODUCT_MANAGER).get("/kpis/")
    statuses = {row["target"].label: row["status"] for row in response.context["scorecard"]}
    assert statuses["Onboarding completion"] in ("pass", "fail")
    assert statuses["Monthly signups"] == "pass"
    # Health samples and web vitals are in the demo too: the technical targets are measured.
    assert statuses["Uptime"] in ("pass", "fail")
    assert statuses["API response time"] == "pass"
    assert statuses["Error rate"] == "pass"
    health = {chart["id"]: chart for chart in response.context["health_charts"]}
    assert any(value for value in health["chart-uptime"]["series"]["total"] if value is not None)
    assert "/tours/:id/" in health["chart-web_vitals_lcp_p75"]["series"]
    assert any(value for value in health["chart-openai_cost"]["series"]["gpt-4o"] if value is not None)
    assert HealthSample.objects.count() == samples
    assert 'data-testid="health-charts"' in response.content.decode()
    # Revenue from the demo subscriptions and prices; support metrics from the demo tickets' rollups.
    assert statuses["MRR"] in ("pass", "fail")
    assert statuses["ARPU"] in ("pass", "fail")
    # Product analytics: growth charts, the signup funnel and the retention table from the demo's cohorts.
    assert statuses["Trial-to-paid conversion"] in ("pass", "fail")
    assert statuses["Session duration"] in ("pass", "fail")
    growth = {chart["id"]: chart for chart in response.context["growth_charts"]}
    assert any(value for value in growth["chart-organic_share"]["series"]["total"] if value is not None)
    assert any(value is not None for value in growth["chart-features_per_session"]["series"]["total"])
    cohorts = response.context["cohorts"]
    assert cohorts["funnel"][0]["users"] > 0
    assert cohorts["funnel"][0]["conversion"] == 1
    assert cohorts["funnel"][1]["users"] <= cohorts["funnel"][0]["users"]
    assert cohorts["retention"][0]["shares"][0] == 1  # a signup is activity in its own week
    html = response.content.decode()
    assert 'data-testid="funnel"' in html
    assert 'data-testid="retention"' in html
    funnel_csv = client_as(Role.PRODUCT_MANAGER).get("/kpis/funnel.csv").content.decode().splitlines()
    assert funnel_csv[0].startswith("signup_week,method,step,users")
    assert len(funnel_csv) == 1 + 5 * len(cohorts["weekly_funnel"])
    retention_csv = client_as(Role.PRODUCT_MANAGER).get("/kpis/retention.csv").content.decode().splitlines()
    assert len(retention_csv) == 1 + len(cohorts["retention"])
    assert retention_csv[1].split(",")[2] == "1.0"
    by_method = client_as(Role.PRODUCT_MANAGER).get("/kpis/?method=github").context["cohorts"]
    assert by_method["method"] == "github"
    assert by_method["funnel"][0]["users"] < cohorts["funnel"][0]["users"]
    business = {chart["id"]: chart for chart in response.context["business_charts"]}
    assert any(value for value in business["chart-mrr"]["series"]["total"] if value is not None)


def test_chart_csv_export(client_as, django_assert_max_num_queries):
    # given rolled-up signups by method, one with a formula-like dimension value
    _rollups(3)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    DailyMetric.objects.create(
        metric="signups", day=END, dimension="method", dimension_value="=HYPERLINK(1)", value=4, computed_at=now
    )
    client = client_as(Role.PRODUCT_MANAGER)
    # when a chart's data is exported
    with django_assert_max_num_queries(6):
        response = client.get("/kpis/metrics/signups.csv?from=2026-05-30&to=2026-05-31")
    # then every known value is a row, dimension values are never formulas
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0] == "day,method,value"
    assert "2026-05-31,email,2.0" in lines
    assert "2026-05-30,github,1.0" in lines
    assert "2026-05-31,'=HYPERLINK(1),4.0" in lines
    assert len(lines) == 1 + 2 * 2 + 1
    # the dashboard links each chart's CSV and draws the scorecard's sparklines
    html = client.get("/kpis/?from=2026-05-02&to=2026-05-31").content.decode()
    assert "/kpis/metrics/signups.csv?from=2026-05-02&amp;to=2026-05-31" in html
    assert 'class="kpi-sparkline"' in html
    assert client.get("/kpis/metrics/nothing.csv").json()["error"]["code"] == "not_found"
    assert client_as(Role.SUPPORT_REP).get("/kpis/metrics/signups.csv").status_code == 403


def test_sparkline_points_scale_to_the_box():
    from kpis.selectors import sparkline_points

    assert sparkline_points([None, 5]) == ""
    assert sparkline_points([0, None, 10]) == "0.0,19.0 100.0,1.0"
    assert sparkline_points([3, 3]) == "0.0,19.0 100.0,19.0"
