"""Batched view counts, deflection (suggestion opened, no ticket within 30 minutes) and the lead's report."""

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from knowledge_base import selectors, services, tasks
from knowledge_base.models import Article, Feedback, SuggestionOpen
from tests.knowledge_base.factories import ArticleFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_page_views_write_nothing_until_the_flush(client, kb_content, django_assert_num_queries):
    exports = Article.objects.get(kind="article", slug="exports")
    for _ in range(3):
        client.get("/docs/exports/")
    client.get("/docs/videos/quick-start/")
    exports.refresh_from_db()
    assert exports.view_count == 0  # nothing written on the page views
    assert tasks.kb_view_counts_flush() == 4
    exports.refresh_from_db()
    assert exports.view_count == 3
    assert Article.objects.get(kind="video", slug="quick-start").view_count == 1
    assert tasks.kb_view_counts_flush() == 0  # a rerun moves nothing twice
    exports.refresh_from_db()
    assert exports.view_count == 3


def test_views_counted_during_a_flush_are_kept(kb_content):
    article = Article.objects.get(kind="article", slug="exports")
    services.kb_view_record(article_id=article.pk)
    services.kb_view_record(article_id=article.pk)
    services.kb_view_counts_flush()
    services.kb_view_record(article_id=article.pk)
    services.kb_view_counts_flush()
    article.refresh_from_db()
    assert article.view_count == 3


def test_article_page_does_not_write_on_a_view(client, kb_content, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        client.get("/docs/exports/")
    statements = [query["sql"].lstrip().upper() for query in context.captured_queries]
    writes = [sql for sql in statements if not sql.startswith("SELECT")]
    assert writes == []


def test_opened_suggestion_without_ticket_is_one_deflection(client, make_user, kb_content):
    customer = make_user(None)
    client.force_login(customer)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get("/docs/exports/?src=suggestion&from=portal&draft=d1")
        client.get("/docs/exports/?src=suggestion&from=portal&draft=d1")  # the same draft: one open
    assert SuggestionOpen.objects.count() == 1
    assert services.kb_deflections_count(now=start + timedelta(minutes=29)) == 0
    assert services.kb_deflections_count(now=start + timedelta(minutes=31)) == 1
    assert services.kb_deflections_count(now=start + timedelta(minutes=45)) == 0  # idempotent
    opened = SuggestionOpen.objects.get()
    assert (opened.outcome, opened.source, opened.user) == ("deflected", "portal", customer)


def test_ticket_within_the_window_is_not_a_deflection(client, make_user, kb_content):
    customer = make_user(None)
    client.force_login(customer)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get("/docs/exports/?src=suggestion&draft=d1")
        client.get("/docs/troubleshooting/?src=suggestion&draft=d1")
    other = make_user(None)
    client.force_login(other)
    with time_machine.travel(start, tick=False):
        client.get("/docs/exports/?src=suggestion&draft=d9")
    assert services.kb_ticket_filed(user=customer, filed_at=start + timedelta(minutes=10)) == 2
    assert services.kb_deflections_count(now=start + timedelta(hours=1)) == 1  # only the other person's
    assert list(SuggestionOpen.objects.filter(outcome="deflected").values_list("user", flat=True)) == [other.pk]


def test_anonymous_reader_opens_are_tracked_by_the_signed_cookie(client, kb_content):
    client.get("/docs/")  # no cookie yet on this first visit; the article page sets it
    client.get("/docs/exports/")
    client.get("/docs/exports/?src=suggestion&draft=w1")
    opened = SuggestionOpen.objects.get()
    assert opened.person_key.startswith("r:")
    assert opened.user is None


def test_plain_article_view_is_not_an_open(client, kb_content):
    client.get("/docs/exports/")
    assert not SuggestionOpen.objects.exists()


def test_report_lists_unhelpful_articles_empty_searches_and_deflections(client, make_user, kb_content):
    popular = ArticleFactory(title="Popular but unhelpful", view_count=900)
    fine = ArticleFactory(title="Fine article", view_count=1000)
    voters = [make_user(None) for _ in range(3)]
    for voter in voters:
        Feedback.objects.create(article=popular, user=voter, helpful=False, comment="Did not help")
    Feedback.objects.create(article=fine, user=voters[0], helpful=True)
    services.kb_empty_search_record(query="setlist printing")
    services.kb_empty_search_record(query="setlist printing")
    services.kb_suggestion_opened(article=fine, user=voters[0], draft_key="x")
    services.kb_deflections_count(now=timezone.now() + timedelta(hours=1))
    client.force_login(make_user(Role.SUPPORT_LEAD))
    response = client.get("/docs/manage/report/")
    page = response.content.decode()
    assert response.status_code == 200
    least = page[page.index('data-testid="least-helpful"') : page.index('data-testid="unhelpful-popular"')]
    assert "Popular but unhelpful" in least
    assert "Fine article" not in least
    assert "setlist printing</td><td>2" in page
    deflections = page[page.index('data-testid="deflections"') :]
    assert "Fine article</td><td>1" in deflections
    daily = selectors.kb_deflections_daily(since=timezone.now() - timedelta(days=1))
    assert [row["total"] for row in daily] == [1]


def test_report_query_count(client, make_user, kb_content, django_assert_max_num_queries):
    voter = make_user(None)
    for article in ArticleFactory.create_batch(15):
        Feedback.objects.create(article=article, user=voter, helpful=False)
        services.kb_empty_search_record(query=f"missing {article.pk}")
    client.force_login(make_user(Role.SUPPORT_LEAD))
    with django_assert_max_num_queries(8):
        response = client.get("/docs/manage/report/")
    assert response.content.decode().count("Article number") >= 10
