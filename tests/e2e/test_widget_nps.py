"""The NPS survey in the widget: a customer with an open survey sees it above the new-request form, picks
a score, says why and sends it; the answer is stored on the survey as from the email's link."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.widget_helpers import demo_widget_fixture, open_widget, widget  # noqa: F401 (a fixture)
from tickets.models import NpsSurvey
from tickets.surveys import nps_period
from tourbrain_support.models import Membership, User

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_customer_answers_the_nps_survey_in_the_widget(page, demo_widget):
    customer = User.objects.get(email="customer@backline.test")
    NpsSurvey.objects.filter(user=customer).delete()  # the demo's seeded answers are of earlier periods
    membership = Membership.objects.filter(user=customer).first()
    survey = NpsSurvey.objects.create(
        user=customer,
        organization_id=membership.organization_id if membership else None,
        period=nps_period(timezone.localdate()),
    )
    demo_widget("customer@backline.test")
    open_widget(page)

    nps = widget(page, "[data-testid=nps]")
    expect(nps.locator("legend")).to_have_text("How likely are you to recommend TourBrain to a friend or colleague?")
    # Sending without a score says what is missing
    nps.get_by_role("button", name="Send answer").click()
    expect(widget(page, "#tbw-nps-error")).to_have_text("Please choose a score from 0 to 10.")
    widget(page, "label[for=tbw-nps-9]").click()
    nps.get_by_label("Why? (optional)").fill("The tour book export saves us hours.")
    nps.get_by_role("button", name="Send answer").click()

    expect(widget(page, "[data-testid=nps-status]")).to_have_text("Thank you! You answered 9 out of 10.")
    survey.refresh_from_db()
    assert (survey.score, survey.comment) == (9, "The tour book export saves us hours.")
    assert survey.answered_at is not None
    # The request form is still there below it.
    expect(widget(page, "[data-testid=new-form]")).to_be_visible()


def test_no_survey_no_question_and_not_now_hides_it(page, demo_widget):
    customer = User.objects.get(email="customer@backline.test")
    NpsSurvey.objects.filter(user=customer).delete()
    demo_widget("customer@backline.test")
    open_widget(page)
    expect(widget(page, "[data-testid=new-form]")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(widget(page, "[data-testid=nps]")).to_have_count(0)

    NpsSurvey.objects.create(user=customer, period=nps_period(timezone.localdate()))
    page.reload()
    widget(page, "[data-testid=launcher]").wait_for()
    open_widget(page)
    nps = widget(page, "[data-testid=nps]")
    nps.get_by_role("button", name="Not now").click()
    expect(nps).to_be_hidden()
    assert NpsSurvey.objects.get(user=customer).answered_at is None
