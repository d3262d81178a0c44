"""Demo data of the email channel and the surveys: email domains, NPS answers, beta feedback, a low CSAT
rating with the lead's notification, and survey links that open; running the seed again adds nothing."""

import io
import re
from urllib.parse import urlsplit

import pytest

from tickets import demo as tickets_demo
from tickets import selectors
from tickets.models import BetaFeedback, NpsSurvey, OrganizationEmailDomain, TicketSatisfaction
from tickets.surveys import KIND_CSAT_LOW
from tourbrain_support import demo as core_demo
from tourbrain_support.notifications.models import OutboxMessage

pytestmark = pytest.mark.django_db


def test_demo_surveys_and_their_links(client):
    core_demo.seed()
    tickets_demo.seed()
    out = io.StringIO()
    tickets_demo.seed(stdout=out)  # again: nothing new, the links are printed

    assert OrganizationEmailDomain.objects.filter(verified_at__isnull=False).count() == 1
    assert NpsSurvey.objects.count() == len(tickets_demo.DEMO_NPS)
    assert selectors.nps_score() == 25.0  # 2 promoters, 1 passive, 1 detractor
    assert BetaFeedback.objects.count() == 2
    assert selectors.conversion_intent_share() == 0.5
    assert selectors.beta_testimonials_count() == 1
    assert TicketSatisfaction.objects.filter(score=2).count() == 1
    assert OutboxMessage.objects.filter(kind=KIND_CSAT_LOW).count() == 1

    links = re.findall(r"https?://\S+/survey/\S+/", out.getvalue())
    assert len(links) == 3
    for link in links:
        assert client.get(urlsplit(link).path).status_code == 200
    assert TicketSatisfaction.objects.filter(score=5).count() == 1  # the printed CSAT link rated 5/5
