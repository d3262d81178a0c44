"""The scorecard's beta churn, data loss and customer acquisition cost against brute-force Python over
hypothesis-generated beta users, churn and subscription events, backup runs and marketing spend; and the scorecard
showing them with their targets."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import BackupRun
from kpis.metrics import METRICS_BY_NAME
from kpis.models import DailyMetric, MarketingSpend, ProductEvent
from kpis.rollups import rollup_range
from tests.factories import UserFactory
from tourbrain_support.models import ExternalIdentity, User
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

MONTH = date(2026, 6, 1)
DAYS = [date(2026, 5, 31), date(2026, 6, 1), date(2026, 6, 15), date(2026, 6, 30)]
T0 = datetime(2026, 5, 1, tzinfo=UTC)
# distinct ids seen in events: beta users' subs and emails, and people who are not beta users
IDS = ["user_sub_0", "beta0@band.test", "beta1@band.test", "user_sub_2", "other@band.test", "anon-1"]

people = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=0, max_size=3)  # (beta?, has an auth sub?)
events = st.lists(
    st.tuples(st.sampled_from(["churnEvent", "subscriptionStarted"]), st.sampled_from(IDS), st.integers(0, 60)),
    max_size=15,
)
runs = st.lists(st.tuples(st.integers(0, 70), st.booleans()), max_size=5)  # (days after T0, failed?)
spends = st.lists(st.tuples(st.sampled_from([date(2026, 5, 1), MONTH]), st.integers(0, 5000)), max_size=2)


def _store(people_, events_, runs_, spends_) -> list[set[str]]:
    User.objects.all().delete()
    ProductEvent.objects.all().delete()
    BackupRun.objects.all().delete()
    MarketingSpend.objects.all().delete()
    beta_ids = []
    for index, (beta, has_sub) in enumerate(people_):
        user = UserFactory(email=f"beta{index}@band.test", is_beta=beta)
        ids = {user.email}
        if has_sub:
            ExternalIdentity.objects.create(issuer="https://clerk.test", subject=f"user_sub_{index}", user=user)
            ids.add(f"user_sub_{index}")
        if beta:
            beta_ids.append(ids)
    ProductEvent.objects.bulk_create(
        ProductEvent(
            uuid=uuid.uuid4(),
            name=name,
            distinct_id=who,
            timestamp=T0 + timedelta(days=days, hours=3),
            received_at=T0,
            properties={"plan": "professional"} if name == "subscriptionStarted" else {"reason": "x", "tenure": 1},
        )
        for name, who, days in events_
    )
    for days, failed in runs_:
        at = T0 + timedelta(days=days, hours=2)
        BackupRun.objects.create(
            kind=BackupRun.Kind.VERIFY,
            status=BackupRun.Status.FAILED if failed else BackupRun.Status.SUCCEEDED,
            started_at=at,
            finished_at=at,
        )
    for month, amount in dict(spends_).items():
        MarketingSpend.objects.create(month=month, amount_usd=Decimal(amount))
    return beta_ids


def _oracle(beta_ids, events_, runs_, spends_, day) -> dict:
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    result = {}
    at = {(name, who, T0 + timedelta(days=days, hours=3)) for name, who, days in events_}
    churned = {who for name, who, when in at if name == "churnEvent" and when < end}
    if beta_ids:
        result["beta_churn"] = sum(1 for ids in beta_ids if ids & churned) / len(beta_ids)
    window = [failed for days, failed in runs_ if end - timedelta(days=30) <= T0 + timedelta(days=days, hours=2) < end]
    if window:
        result["data_loss"] = float(sum(window))
    spend = dict(spends_).get(day.replace(day=1))
    first = {}
    for name, who, when in sorted(at, key=lambda row: row[2]):
        if name == "subscriptionStarted" and when < end:
            first.setdefault(who, when)
    month_start = datetime.combine(day.replace(day=1), datetime.min.time(), tzinfo=UTC)
    new = sum(1 for when in first.values() if when >= month_start)
    if spend is not None and new:
        days_in_month = 31 if day.month == 5 else 30
        result["cac"] = spend * day.day / days_in_month / new
    return result


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people_=people, events_=events, runs_=runs, spends_=spends)
def test_inputs_equal_the_oracle(people_, events_, runs_, spends_):
    beta_ids = _store(people_, events_, runs_, spends_)
    for day in DAYS:
        expected = _oracle(beta_ids, events_, runs_, spends_, day)
        for metric in ("beta_churn", "data_loss", "cac"):
            got = METRICS_BY_NAME[metric].compute(day)
            if metric in expected:
                assert got == {"": pytest.approx(expected[metric])}, (metric, day)
            else:
                assert got == {}, (metric, day)


def test_the_scorecard_shows_them_with_their_targets(client_as, time_machine):
    time_machine.move_to(datetime(2026, 6, 30, 12, tzinfo=UTC))
    _store([(True, True), (True, False)], [("churnEvent", "user_sub_0", 40)], [(55, False)], [(MONTH, 3000)])
    ProductEvent.objects.create(
        uuid=uuid.uuid4(),
        name="subscriptionStarted",
        distinct_id="anon-1",
        timestamp=datetime(2026, 6, 10, tzinfo=UTC),
        received_at=datetime(2026, 6, 10, tzinfo=UTC),
        properties={"plan": "professional"},
    )
    rollup_range(start=date(2026, 6, 29), end=date(2026, 6, 29))
    values = dict(
        DailyMetric.objects.filter(day=date(2026, 6, 29), metric__in=["beta_churn", "data_loss", "cac"]).values_list(
            "metric", "value"
        )
    )
    assert values == {"beta_churn": 0.5, "data_loss": 0.0, "cac": pytest.approx(3000 * 29 / 30)}

    page = client_as(Role.PRODUCT_MANAGER).get("/kpis/?from=2026-06-01&to=2026-06-29").content.decode()

    assert '<tr data-target="Beta churn" class="status-fail">' in page  # 50% >= 10%
    assert '<tr data-target="Data loss" class="status-pass">' in page  # no failed run
    assert '<tr data-target="Customer acquisition cost" class="status-fail">' in page  # $2,900 >= $200


# Active beta users: the beta cohort page's Active count (product events under a cohort user's sub or email)

activity = st.lists(
    st.tuples(
        st.sampled_from(["pageView", "tourCreated", "$pageview", "$vercel_speed_insights"]),
        st.sampled_from(IDS),
        st.integers(0, 60),  # days after T0
        st.integers(0, 23),  # hour
    ),
    max_size=15,
)


def _store_activity(activity_) -> list[tuple[str, str, datetime]]:
    rows = [(name, who, T0 + timedelta(days=days, hours=hour)) for name, who, days, hour in activity_]
    ProductEvent.objects.bulk_create(
        ProductEvent(uuid=uuid.uuid4(), name=name, distinct_id=who, timestamp=at, received_at=T0, properties={})
        for name, who, at in rows
    )
    return rows


def _active_oracle(beta_ids, rows, day) -> float:
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    seen = {who for name, who, at in rows if name != "$vercel_speed_insights" and end - timedelta(days=30) <= at < end}
    return float(sum(1 for ids in beta_ids if ids & seen))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people_=people, activity_=activity)
def test_active_beta_users_counts_the_cohort_by_product_events(people_, activity_):
    # given beta and other users (with and without an auth sub), and their events (Speed Insights' aside)
    beta_ids = _store(people_, [], [], [])
    rows = _store_activity(activity_)
    # then each day's count is the cohort's users with an event under one of their ids in the 30 days to its end
    for day in DAYS:
        assert METRICS_BY_NAME["active_beta_users"].compute(day) == {"": _active_oracle(beta_ids, rows, day)}, day


def test_active_beta_users_equals_the_beta_cohort_pages_active_count(time_machine):
    from datetime import time

    from tests.factories import OrganizationFactory
    from tickets.beta_invitations import beta_cohort_summary
    from tickets.models import BetaSupportProfile
    from tourbrain_support.models import Membership

    # given the cohort (one user active by sub, one by email, one idle), a member of a beta organization outside
    # the cohort and a user outside the beta, all with recent events, and a sign-in that is not a product event
    time_machine.move_to(datetime(2026, 7, 1, tzinfo=UTC))  # the end of June 30
    _store([(True, True), (True, False), (True, False), (False, True)], [], [], [])
    User.objects.filter(email="beta2@band.test").update(last_login=datetime(2026, 6, 29, tzinfo=UTC))
    organization = OrganizationFactory()
    BetaSupportProfile.objects.create(
        organization=organization,
        dedicated_rep=UserFactory(email="rep@tourbrain.test"),
        call_weekday=2,
        call_time=time(9, 30),
        call_timezone="Europe/Berlin",
    )
    member = UserFactory(email="member@band.test")
    Membership.objects.create(user=member, organization=organization)
    _store_activity(
        [
            ("pageView", "user_sub_0", 59, 1),
            ("tourCreated", "beta1@band.test", 40, 0),
            ("pageView", "member@band.test", 59, 0),
            ("pageView", "user_sub_3", 59, 0),
            ("$vercel_speed_insights", "beta2@band.test", 59, 0),
            ("pageView", "beta2@band.test", 20, 0),  # before the 30 days
        ]
    )
    # then the metric of June 30 and the cohort page count the same two users
    assert METRICS_BY_NAME["active_beta_users"].compute(date(2026, 6, 30)) == {"": 2.0}
    assert beta_cohort_summary().active == 2


def test_marketing_spend_is_entered_per_month_from_its_first_day():
    spend = MarketingSpend(month=date(2026, 3, 15), amount_usd=Decimal("100"))
    with pytest.raises(ValidationError) as refused:
        spend.full_clean()
    assert "month" in refused.value.message_dict
    MarketingSpend(month=date(2026, 3, 1), amount_usd=Decimal("100")).full_clean()
