"""The scorecard's survey metrics (NPS, beta conversion intent, testimonials) against brute-force Python over
hypothesis-generated answers, and the scorecard reading them."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpis.models import DailyMetric
from kpis.rollups import rollup_range
from tests.factories import UserFactory
from tickets.models import BetaFeedback, NpsSurvey

pytestmark = pytest.mark.django_db

DAY = date(2026, 6, 30)
END = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
PEOPLE = 5

nps_strategy = st.lists(
    st.tuples(st.integers(0, PEOPLE - 1), st.integers(0, 10), st.integers(0, 120)),  # person, score, days before END
    max_size=12,
)
feedback_strategy = st.lists(
    st.tuples(
        st.integers(0, PEOPLE - 1),
        st.sampled_from(["yes", "maybe", "no"]),
        st.integers(0, 120),  # days before END
        st.booleans(),  # a testimonial with consent
        st.booleans(),  # approved
    ),
    max_size=12,
)


def _oracle(answers, feedback) -> dict:
    window = [score for _person, score, days in answers if days < 90]
    result = {}
    if window:
        promoters = sum(1 for score in window if score >= 9)
        detractors = sum(1 for score in window if score <= 6)
        result["nps"] = round(100 * (promoters - detractors) / len(window), 1)
    latest: dict[int, tuple[int, int, str]] = {}
    for number, (person, intent, days, _testimonial, _approved) in enumerate(feedback):
        if days < 90:
            # the latest answer: fewest days before the end, then the one written last
            key = (-days, number)
            if person not in latest or key > latest[person][:2]:
                latest[person] = (*key, intent)
    if latest:
        result["conversion_intent"] = round(
            sum(1 for *_k, intent in latest.values() if intent == "yes") / len(latest), 4
        )
    result["beta_testimonials"] = sum(1 for *_rest, testimonial, approved in feedback if testimonial and approved)
    return result


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=nps_strategy, feedback=feedback_strategy)
def test_survey_metrics_equal_the_oracle(answers, feedback):
    NpsSurvey.objects.all().delete()
    BetaFeedback.objects.all().delete()
    DailyMetric.objects.all().delete()
    people = [UserFactory(email=f"survey{n}@example.com") for n in range(PEOPLE)]
    for number, (person, score, days) in enumerate(answers):
        NpsSurvey.objects.create(
            user=people[person],
            period=date(2026, 1, 1) + timedelta(days=number),
            score=score,
            answered_at=END - timedelta(days=days, minutes=1),
        )
    for number, (person, intent, days, testimonial, approved) in enumerate(feedback):
        at = END - timedelta(days=days, minutes=1)
        row = BetaFeedback.objects.create(
            user=people[person],
            round=f"r{number}",
            conversion_intent=intent,
            testimonial="Great for routing" if testimonial else "",
            publish_consent=testimonial,
            approved_at=at if approved else None,
        )
        BetaFeedback.objects.filter(pk=row.pk).update(created_at=at)

    rollup_range(start=DAY, end=DAY)

    stored = {
        row.metric: row.value
        for row in DailyMetric.objects.filter(
            day=DAY, dimension_value="", metric__in=["nps", "conversion_intent", "beta_testimonials"]
        )
    }
    expected = _oracle(answers, feedback)
    assert stored.keys() == expected.keys()
    for metric, value in expected.items():
        assert stored[metric] == pytest.approx(value), metric
    for person in people:
        person.delete()


def test_the_scorecard_reads_the_survey_metrics(client_as):
    from django.utils import timezone

    from tourbrain_support.roles import Role

    yesterday = timezone.now().date() - timedelta(days=1)
    for day, value in ((yesterday - timedelta(days=1), 40.0), (yesterday, 55.0)):
        DailyMetric.objects.create(
            metric="nps", day=day, dimension="", dimension_value="", value=value, computed_at=END
        )
    page = client_as(Role.PRODUCT_MANAGER).get("/kpis/").content.decode()
    row = page[page.index("NPS") :][:2000]
    assert "55" in row
    assert "pass" in row
