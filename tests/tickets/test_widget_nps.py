"""NPS in the widget (/api/v1/widget/nps/): offered when the customer has an open survey (emailed,
unanswered) or is due one on the schedule; the answer is stored on the survey as from the email's link."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.widget_tokens import bearer, claims, hs256
from tickets.models import NpsSurvey
from tickets.surveys import nps_period, nps_survey_send, nps_surveys_send
from tourbrain_support.models import ExternalIdentity, User

pytestmark = pytest.mark.django_db

NPS = "/api/v1/widget/nps/"
ME = "/api/v1/widget/me/"


def auth(sub: str = "user_nina") -> dict:
    return bearer(hs256(claims(sub=sub, email=f"{sub}@bandmail.example.com", name="Nina")))


def signed_up(client, sub: str = "user_nina", days_ago: int = 0) -> User:
    """The customer's first widget call makes their account; `days_ago` moves their signup back."""
    assert client.get(ME, **auth(sub)).status_code == 200
    person = ExternalIdentity.objects.select_related("user").get(subject=sub).user
    User.objects.filter(pk=person.pk).update(date_joined=timezone.now() - timedelta(days=days_ago))
    person.refresh_from_db()
    return person


def test_a_new_customer_is_not_asked_and_cannot_answer(client, widget_settings):
    signed_up(client, days_ago=3)

    response = client.get(NPS, **auth())
    assert response.json() == {
        "offered": False,
        "question": "How likely are you to recommend TourBrain to a friend or colleague?",
    }
    answer = client.post(NPS, {"score": 9}, content_type="application/json", **auth())
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "no_survey"
    assert NpsSurvey.objects.count() == 0


def test_an_emailed_survey_is_answered_in_the_widget(client, widget_settings, django_assert_max_num_queries):
    person = signed_up(client, days_ago=40)
    survey = nps_survey_send(user=person)
    assert survey is not None

    with django_assert_max_num_queries(6):
        assert client.get(NPS, **auth()).json()["offered"] is True
    response = client.post(NPS, {"score": 9, "comment": "Saves us hours."}, content_type="application/json", **auth())

    assert response.status_code == 200, response.content
    assert response.json()["score"] == 9
    survey.refresh_from_db()
    assert (survey.score, survey.comment, survey.answered_at is not None) == (9, "Saves us hours.", True)
    # Answered: not offered again; a second answer has nothing to go on.
    assert client.get(NPS, **auth()).json()["offered"] is False
    assert client.post(NPS, {"score": 3}, content_type="application/json", **auth()).status_code == 409


def test_a_due_customer_answers_before_the_email_and_is_not_mailed_after(client, widget_settings):
    person = signed_up(client, days_ago=31)
    assert client.get(NPS, **auth()).json()["offered"] is True

    response = client.post(NPS, {"score": 6, "comment": ""}, content_type="application/json", **auth())

    assert response.status_code == 200, response.content
    survey = NpsSurvey.objects.get(user=person)
    assert (survey.score, survey.period, survey.source) == (6, nps_period(timezone.localdate()), "schedule")
    # The schedule sees this period's survey: no email now, and none for NPS_INTERVAL_DAYS.
    assert nps_surveys_send() == 0
    assert NpsSurvey.objects.filter(user=person).count() == 1


def test_bad_scores_are_refused_with_the_field(client, widget_settings):
    signed_up(client, days_ago=31)
    for body in ({"score": 11}, {"score": -1}, {"score": "ten"}, {}):
        response = client.post(NPS, body, content_type="application/json", **auth())
        assert response.status_code == 400, body
        assert "score" in response.json()["error"]["fields"]
    assert NpsSurvey.objects.count() == 0
