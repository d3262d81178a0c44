"""Search and suggestions: ranking, audience filtering and input that must never fail (SQLite and PostgreSQL)."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection

from knowledge_base import selectors
from knowledge_base.models import Article
from tests.knowledge_base.factories import ArticleFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

HOSTILE_QUERIES = [
    "",
    "   ",
    "'",
    '"unbalanced',
    "a & b | !c :*",
    "!!! ::: &&& |||",
    "export:* & (ical | pdf",
    "((((((",
    "<script>alert(1)</script>",
    "🎸🥁 tour",
    "nul\x00byte",
    "x" * 10_000,
    "the and of a to",
    "%_\\",
    "SELECT * FROM knowledge_base_article; --",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_any_query_gives_a_list_never_an_error(kb_content, query):
    assert isinstance(selectors.kb_search(query=query, user=AnonymousUser()), list)
    assert isinstance(selectors.kb_suggestions(query=query, user=AnonymousUser()), list)


def test_title_match_ranks_first(kb_content):
    hits = selectors.kb_search(query="collaboration permissions", user=AnonymousUser())
    assert hits[0].slug == "collaboration"
    assert hits[0].kind == "article"


def test_transcript_words_find_the_video(kb_content):
    hits = selectors.kb_search(query="keyboard shortcuts", user=AnonymousUser())
    assert [hit.slug for hit in hits][:1] == ["advanced-features"]
    assert hits[0].url == "/docs/videos/advanced-features/"


def test_snippet_highlights_and_escapes(kb_content):
    ArticleFactory(title="Venue notes", body="Venue <b>tags</b> & more text about venue soundcheck")
    hits = selectors.kb_search(query="soundcheck", user=AnonymousUser())
    snippet = next(hit.snippet for hit in hits if hit.title == "Venue notes")
    assert "<mark>" in snippet.lower()
    assert "<b>" not in snippet


@pytest.mark.skipif(connection.vendor != "postgresql", reason="stemming and trigrams are PostgreSQL features")
class TestPostgreSQL:
    def test_stemming(self, kb_content):
        assert "exports" in [hit.slug for hit in selectors.kb_search(query="exporting", user=AnonymousUser())]

    @pytest.mark.parametrize(("query", "expected"), [("colaboration", "collaboration"), ("itinerary exprt", "exports")])
    def test_typos_still_find_the_page(self, kb_content, query, expected):
        hits = selectors.kb_search(query=query, user=AnonymousUser())
        assert hits
        assert hits[0].slug == expected

    def test_search_vector_follows_edits(self, kb_content):
        article = Article.objects.get(kind="article", slug="integrations")
        assert not selectors.kb_search(query="zeppelin", user=AnonymousUser())
        article.body += "\n\nZeppelin tours are supported too."
        article.save()
        assert [hit.slug for hit in selectors.kb_search(query="zeppelin", user=AnonymousUser())] == ["integrations"]


def test_internal_articles_never_reach_customers(kb_content, make_user):
    secret = ArticleFactory(title="Refund override procedure", audience=Article.Audience.INTERNAL)
    draft = ArticleFactory(title="Refund draft policy", status=Article.Status.DRAFT)
    customer = make_user(None)
    rep = make_user(Role.SUPPORT_REP)
    for user in (AnonymousUser(), customer):
        assert selectors.kb_search(query="refund", user=user) == []
        assert selectors.kb_suggestions(query="refund", user=user) == []
        typo_hits = selectors.kb_search(query="refnd overide procedre", user=user)
        assert secret.pk not in [hit.article_id for hit in typo_hits]
    staff_hits = [hit.article_id for hit in selectors.kb_search(query="refund", user=rep)]
    assert secret.pk in staff_hits
    assert draft.pk not in staff_hits  # drafts are for the editor pages only


def test_suggestion_shape_and_limit(kb_content):
    results = selectors.kb_suggestions(query="export", user=AnonymousUser(), limit=2)
    assert len(results) == 2
    assert set(results[0]) == {"slug", "title", "summary", "url", "kind"}
    assert results[0]["url"].endswith("?src=suggestion")
    assert {item["kind"] for item in selectors.kb_suggestions(query="export", user=AnonymousUser(), limit=10)} == {
        "article",
        "video",
    }
