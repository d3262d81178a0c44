"""NPS surveys and beta feedback: sent on a schedule (once per period), answered through signed links on
pages without sign-in, and read back by the selectors the KPI scorecard uses."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core.management import call_command

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tickets import selectors, surveys
from tickets.models import BetaFeedback, BetaSupportProfile, NpsSurvey
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_deliver_due
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
NPS_LINK_RE = re.compile(r"\S+/survey/nps/\S+/")
BETA_LINK_RE = re.compile(r"\S+/survey/beta/\S+/")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


def _customer(email: str, *, joined_days_ago: int = 40, **fields):
    return UserFactory(email=email, date_joined=NOW - timedelta(days=joined_days_ago), **fields)


def _link(smtp_server, person, pattern) -> str:
    outbox_deliver_due()
    mail = [mail for mail in smtp_server.messages if person.email in mail.rcpt_tos][-1]
    assert mail.message["Auto-Submitted"] == "auto-generated"
    return urlsplit(pattern.search(mail.text()).group(0)).path


def test_nps_goes_to_customers_30_days_after_signup_then_every_90_days(clock, make_user):
    due = _customer("due@band.example.com")
    _customer("new@band.example.com", joined_days_ago=10)
    _customer("gone@band.example.com", is_active=False)
    _customer("widget@customers.invalid")
    _customer("demo@backline.test")
    make_user(Role.SUPPORT_REP, email="rep@tourbrain.example.com", date_joined=NOW - timedelta(days=400))

    assert surveys.nps_surveys_send() == 1
    assert surveys.nps_surveys_send() == 0  # a rerun sends nothing
    assert list(NpsSurvey.objects.values_list("user__email", flat=True)) == [due.email]
    assert OutboxMessage.objects.filter(kind=surveys.KIND_NPS_SURVEY, recipient=due.email).count() == 1

    clock.shift(timedelta(days=89))
    assert surveys.nps_surveys_send() == 1  # only the newcomer, now 99 days in
    clock.shift(timedelta(days=2))
    assert surveys.nps_surveys_send() == 1  # the first customer again, 91 days after the first survey
    assert NpsSurvey.objects.filter(user=due).count() == 2


def test_an_admin_send_is_still_once_per_period(make_user):
    person = _customer("ana@band.example.com", joined_days_ago=1)
    admin = make_user(Role.ADMIN)
    first = surveys.nps_survey_send(user=person, source=NpsSurvey.Source.ADMIN, actor=admin)
    again = surveys.nps_survey_send(user=person, source=NpsSurvey.Source.ADMIN, actor=admin)
    assert first is not None
    assert again is None
    assert NpsSurvey.objects.get().source == "admin"


def test_nps_answer_by_link_and_the_score(client, smtp_server):
    people = [_customer(f"p{index}@band.example.com") for index in range(4)]
    surveys.nps_surveys_send()
    answers = [(10, "Routing saves me hours"), (9, ""), (7, ""), (3, "Exports are slow")]
    for person, (score, comment) in zip(people, answers, strict=True):
        path = _link(smtp_server, person, NPS_LINK_RE)
        page = client.get(path, {"score": score})
        assert page.status_code == 200
        assert f'value="{score}" checked'.encode() in page.content
        response = client.post(path, {"score": str(score), "comment": comment})
        assert response.status_code == 200
        assert b"Your answer was saved" in response.content

    stored = NpsSurvey.objects.get(user=people[3])
    assert (stored.score, stored.comment) == (3, "Exports are slow")
    # 2 promoters, 1 passive, 1 detractor: (2 - 1) / 4.
    assert selectors.nps_score() == 25.0
    assert selectors.nps_counts()["total"] == 4
    assert selectors.nps_score(since=NOW + timedelta(days=1)) is None


def test_nps_form_refuses_a_score_outside_0_to_10(client, smtp_server):
    person = _customer("ana@band.example.com")
    surveys.nps_surveys_send()
    path = _link(smtp_server, person, NPS_LINK_RE)
    response = client.post(path, {"score": "11"})
    assert response.status_code == 400
    assert b"Choose a score from 0 to 10" in response.content
    assert NpsSurvey.objects.get().score is None


def test_bad_and_expired_survey_links(client, clock, smtp_server, settings):
    person = _customer("ana@band.example.com")
    surveys.nps_surveys_send()
    path = _link(smtp_server, person, NPS_LINK_RE)
    assert client.get(path[:-3] + "x/").status_code == 400
    assert client.get("/survey/beta/forged/").status_code == 400
    clock.shift(timedelta(days=settings.NPS_LINK_DAYS + 1))
    response = client.get(path)
    assert response.status_code == 410
    assert b"expired" in response.content


def _beta_user(email: str):
    organization = OrganizationFactory()
    BetaSupportProfile.objects.create(organization=organization)
    return MembershipFactory(organization=organization, user__email=email).user


def test_beta_feedback_form_and_the_kpi_selectors(client, smtp_server, make_user):
    yes = _beta_user("yes@band.example.com")
    maybe = _beta_user("maybe@band.example.com")
    assert surveys.beta_feedback_request(users=list(surveys.beta_users())) == 2
    assert surveys.beta_feedback_request(users=list(surveys.beta_users())) == 0  # once a week

    path = _link(smtp_server, yes, BETA_LINK_RE)
    assert client.get(path).status_code == 200
    answer = {
        "conversion_intent": "yes",
        "plan": "professional",
        "testimonial": "Routing is magic.",
        "publish_consent": "on",
    }
    assert client.post(path, answer).status_code == 200
    client.post(_link(smtp_server, maybe, BETA_LINK_RE), {"conversion_intent": "maybe", "testimonial": "Nice."})

    feedback = BetaFeedback.objects.get(user=yes)
    assert (feedback.conversion_intent, feedback.plan, feedback.publish_consent) == ("yes", "professional", True)
    assert selectors.conversion_intent_counts() == {"yes": 1, "maybe": 1, "no": 0}
    assert selectors.conversion_intent_share() == 0.5
    # Only a testimonial given with consent counts, and only once a lead approved it.
    assert selectors.beta_testimonials_count(approved_only=False) == 1
    assert selectors.beta_testimonials_count() == 0
    surveys.testimonial_approve(feedback=feedback, actor=make_user(Role.SUPPORT_LEAD))
    assert selectors.beta_testimonials_count() == 1

    # The same week's form again replaces the answer; a changed testimonial needs approving again.
    client.post(path, {**answer, "conversion_intent": "no", "testimonial": "Changed my mind."})
    feedback.refresh_from_db()
    assert (feedback.conversion_intent, feedback.approved_at) == ("no", None)
    assert BetaFeedback.objects.count() == 2


def test_beta_feedback_refuses_an_unknown_intent(client, smtp_server):
    person = _beta_user("ana@band.example.com")
    surveys.beta_feedback_request(users=[person])
    response = client.post(_link(smtp_server, person, BETA_LINK_RE), {"conversion_intent": "perhaps"})
    assert response.status_code == 400
    assert not BetaFeedback.objects.exists()


def test_active_beta_users_counts_recent_sign_ins(clock):
    recent = _beta_user("recent@band.example.com")
    type(recent).objects.filter(pk=recent.pk).update(last_login=NOW - timedelta(days=3))
    _beta_user("idle@band.example.com")
    _customer("cohort@band.example.com", is_beta=True, last_login=NOW - timedelta(days=1))
    _customer("general@band.example.com", last_login=NOW)
    assert selectors.active_beta_users() == 2


def test_send_surveys_command(smtp_server):
    _customer("ana@band.example.com")
    _beta_user("beta@band.example.com")
    call_command("send_surveys", "--beta-feedback")
    assert NpsSurvey.objects.count() == 1
    assert OutboxMessage.objects.filter(kind=surveys.KIND_BETA_FEEDBACK).count() == 1


def test_survey_pages_read_a_fixed_number_of_queries(client, smtp_server, django_assert_max_num_queries):
    person = _customer("ana@band.example.com")
    surveys.nps_surveys_send()
    path = _link(smtp_server, person, NPS_LINK_RE)
    with django_assert_max_num_queries(4):
        assert client.get(path).status_code == 200


def test_beta_feedback_page_reads_a_fixed_number_of_queries(client, smtp_server, django_assert_max_num_queries):
    person = _beta_user("ana@band.example.com")
    surveys.beta_feedback_request(users=[person])
    path = _link(smtp_server, person, BETA_LINK_RE)
    with django_assert_max_num_queries(4):
        assert client.get(path).status_code == 200
