"""The help center's deflections in the KPI rollups: per day of the open, late decisions redone, on the dashboard."""

import json
from datetime import UTC, date, datetime

import pytest

from knowledge_base import services
from kpis.models import DailyMetric
from kpis.rollups import rollup_nightly, rollup_range
from tests.knowledge_base.factories import ArticleFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 9)


def _value(day: date) -> float | None:
    row = DailyMetric.objects.filter(metric="kb_deflections", day=day, dimension_value="").first()
    return None if row is None else row.value


def test_nightly_rollup_counts_the_days_deflections_and_redoes_a_day_decided_late(make_user, time_machine):
    article, other = ArticleFactory(), ArticleFactory()
    deflected, filed, late = make_user(None), make_user(None), make_user(None)
    # given on March 9: one person opens two suggestions (one draft) and files nothing,
    time_machine.move_to(datetime(2026, 3, 9, 10, 0, tzinfo=UTC))
    services.kb_suggestion_opened(article=article, user=deflected, draft_key="d1", source="widget")
    services.kb_suggestion_opened(article=article, user=deflected, draft_key="d1", source="widget")  # once
    services.kb_suggestion_opened(article=other, user=deflected, draft_key="d1", source="widget")
    # another opens one and files a ticket ten minutes later (no deflection),
    services.kb_suggestion_opened(article=article, user=filed, draft_key="d2", source="portal")
    time_machine.move_to(datetime(2026, 3, 9, 10, 10, tzinfo=UTC))
    services.kb_ticket_filed(user=filed)
    time_machine.move_to(datetime(2026, 3, 9, 11, 0, tzinfo=UTC))
    assert services.kb_deflections_count() == 2
    # and a third opens one just before midnight: decided only after the nightly rollup has run
    time_machine.move_to(datetime(2026, 3, 9, 23, 59, 30, tzinfo=UTC))
    services.kb_suggestion_opened(article=other, user=late, draft_key="d3", source="portal")

    # when the nightly rollup runs at 00:30
    time_machine.move_to(datetime(2026, 3, 10, 0, 30, tzinfo=UTC))
    rollup_nightly()
    # then March 9 holds the two deflections decided so far; a day without any holds zero
    assert _value(DAY) == 2
    assert _value(date(2026, 3, 8)) is None  # not rolled up: only yesterday and the dirty days

    # when the late open is decided after the run, then the next night's run redoes March 9 as well
    time_machine.move_to(datetime(2026, 3, 10, 0, 31, tzinfo=UTC))
    assert services.kb_deflections_count() == 1
    time_machine.move_to(datetime(2026, 3, 11, 0, 30, tzinfo=UTC))
    rollup_nightly()
    assert _value(DAY) == 3
    assert _value(date(2026, 3, 10)) == 0

    # and a backfill gives the same figures
    DailyMetric.objects.all().delete()
    rollup_range(start=DAY, end=date(2026, 3, 10))
    assert (_value(DAY), _value(date(2026, 3, 10))) == (3, 0)


def test_dashboard_shows_the_deflections_chart(client_as, make_user, django_assert_max_num_queries, time_machine):
    reader = make_user(None)
    time_machine.move_to(datetime(2026, 5, 30, 9, 0, tzinfo=UTC))
    services.kb_suggestion_opened(article=ArticleFactory(), user=reader, draft_key="d", source="widget")
    time_machine.move_to(datetime(2026, 5, 31, 9, 0, tzinfo=UTC))
    services.kb_deflections_count()
    rollup_range(start=date(2026, 5, 29), end=date(2026, 5, 31))
    client = client_as(Role.SUPPORT_LEAD)
    with django_assert_max_num_queries(8):
        response = client.get("/kpis/?from=2026-05-29&to=2026-05-31")
    html = response.content.decode()
    support = html[html.index('data-testid="support-charts"') :]
    assert 'id="chart-kb_deflections-data"' in support
    data = json.loads(html.split('id="chart-kb_deflections-data" type="application/json">')[1].split("</script>")[0])
    assert data["days"] == ["2026-05-29", "2026-05-30", "2026-05-31"]
    assert data["series"]["total"] == [0, 1, 0]
    assert "Help center deflections" in client.get("/kpis/metrics/").content.decode()
