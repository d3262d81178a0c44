"""Help center demo data: idempotent, and the internal runbook stays internal."""

import pytest
from django.core.management import call_command

from knowledge_base.models import Article, EmptySearch, Feedback

pytestmark = pytest.mark.django_db


def test_seed_demo_twice_adds_nothing_the_second_time(client):
    call_command("seed_demo", verbosity=0)
    counts = (Article.objects.count(), Feedback.objects.count(), EmptySearch.objects.count())
    call_command("seed_demo", verbosity=0)
    assert (Article.objects.count(), Feedback.objects.count(), EmptySearch.objects.count()) == counts
    assert Article.objects.filter(status="published", audience="public").count() == 13
    assert client.get("/docs/refund-and-plan-change-runbook/").status_code == 404
    results = client.get("/docs/search/?q=refund+runbook").content.decode()
    assert "Refund and plan change runbook" not in results
