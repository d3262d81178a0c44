"""Help center demo data: idempotent, and the internal runbook stays internal."""

import pytest
from django.core.management import call_command

from knowledge_base.models import Article, EmptySearch, Feedback, SuggestionOpen

pytestmark = pytest.mark.django_db


def test_seed_demo_twice_adds_nothing_the_second_time(client):
    call_command("seed_demo", verbosity=0)

    def counts():
        models = (Article, Feedback, EmptySearch, SuggestionOpen)
        return tuple(model.objects.count() for model in models)

    first = counts()
    call_command("seed_demo", verbosity=0)
    assert counts() == first
    assert SuggestionOpen.objects.filter(outcome="deflected").count() == 2  # the lead's report shows deflections
    assert Article.objects.filter(status="published", audience="public").count() == 13
    assert client.get("/docs/refund-and-plan-change-runbook/").status_code == 404
    results = client.get("/docs/search/?q=refund+runbook").content.decode()
    assert "Refund and plan change runbook" not in results
