"""On PostgreSQL the sessions, funnel and retention are computed by the database (window functions, GROUP BY);
they must equal the Python definitions over the same stored events, ties and odd signup methods included."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpis.analytics import cohort_values, day_session_stats
from kpis.models import SPEED_INSIGHTS_EVENT, ProductEvent

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the in-database path runs on PostgreSQL"),
]

MONDAY = date(2026, 3, 2)
NAMES = ["userSignup", "onboardingCompleted", "tourCreated", "aiRoutingUsed", "subscriptionStarted", "pageView"]
events = st.lists(
    st.tuples(
        st.sampled_from([*NAMES, "$pageview", SPEED_INSIGHTS_EVENT]),
        st.sampled_from(["u1", "u2", "u3", "u4"]),
        st.integers(0, 20),  # day offset
        st.sampled_from([0, 60, 1800, 1801, 3600, 3601, 7200, 86399]),  # seconds: ties and the 30-minute edge
        st.sampled_from([None, "", "email", "all", 7]),  # signup method (missing, empty, a number...)
    ),
    max_size=50,
)


def _store(generated) -> None:
    ProductEvent.objects.all().delete()
    start = datetime.combine(MONDAY, datetime.min.time(), tzinfo=UTC)
    ProductEvent.objects.bulk_create(
        ProductEvent(
            uuid=uuid.uuid4(),
            name=name,
            distinct_id=user,
            timestamp=start + timedelta(days=day, seconds=second),
            received_at=start,
            properties={} if method is None or name != "userSignup" else {"method": method},
        )
        for name, user, day, second, method in generated
    )


def _normalized(rows) -> dict:
    values = {(metric, week, key): value for metric, week, _, key, value in rows}
    assert len(values) == len(rows)
    return values


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=events)
def test_database_aggregates_equal_the_python_definitions(generated):
    _store(generated)
    for offset in (0, 1, 7):
        day = MONDAY + timedelta(days=offset)
        sql_count, sql_median, sql_features = day_session_stats(day, in_database=True)
        count, middle, features = day_session_stats(day, in_database=False)
        assert (sql_count, sql_features) == (count, features)
        assert sql_median == pytest.approx(middle)
    for as_of in (MONDAY + timedelta(days=9), MONDAY + timedelta(days=20)):
        in_database = _normalized(cohort_values(as_of=as_of, weeks=3, in_database=True))
        in_python = _normalized(cohort_values(as_of=as_of, weeks=3, in_database=False))
        assert in_database.keys() == in_python.keys()
        for key, value in in_python.items():
            assert in_database[key] == pytest.approx(value), key
