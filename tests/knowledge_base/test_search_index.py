"""The search structures kept by the save path: the typo vocabulary (PostgreSQL) and the FTS5 index (SQLite).

Every write path goes through them (the model's save, the admin, restores, bulk loads), as the triggers of
migration 0005 do; the audience rules hold in every branch (corrections, FTS5, LIKE).
"""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection

from knowledge_base import search, selectors, services, tasks
from knowledge_base.models import Article, SearchWord
from tests.knowledge_base.factories import ArticleFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the typo vocabulary is PostgreSQL's")
on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="FTS5 is SQLite's")


def slugs(query, user=None):
    return [hit.slug for hit in selectors.kb_search(query=query, user=user or AnonymousUser())]


# --- PostgreSQL: typo vocabulary --------------------------------------------------------------------------


@on_postgresql
def test_vocabulary_holds_the_words_of_published_articles_only(kb_content, make_user):
    ArticleFactory(slug="gig", title="Zeppelinorama bookings", body="Plan the **flamboyance** of a show.")
    draft = ArticleFactory(title="Quixotical draft", status=Article.Status.DRAFT)
    words = set(SearchWord.objects.values_list("word", flat=True))
    assert {"zeppelinorama", "flamboyance", "collaboration"} <= words
    assert "quixotical" not in words
    # publishing a draft adds its words (the trigger follows the status too)
    services.article_publish(article=draft, actor=make_user(Role.SUPPORT_LEAD))
    assert SearchWord.objects.filter(word="quixotical").exists()


@on_postgresql
def test_a_misspelled_word_is_corrected_to_a_word_of_a_new_article(kb_content):
    ArticleFactory(slug="gig", title="Zeppelinorama bookings", summary="Book the airship.")
    assert slugs("zepelinorama") == ["gig"]
    assert slugs("zepelinorama bookngs") == ["gig"]  # every corrected word
    with connection.cursor() as cursor:
        groups = search.corrected_words(cursor, ["zepelinorama", "bookings", "qwxzv"])
    assert groups == [["zepelinorama", "zeppelinorama"], ["bookings"], ["qwxzv"]]


@on_postgresql
def test_vocabulary_rebuild_drops_words_no_published_article_has(kb_content):
    article = ArticleFactory(title="Zeppelinorama bookings")
    Article.objects.filter(pk=article.pk).update(status=Article.Status.DRAFT)  # no trigger for removals
    assert SearchWord.objects.filter(word="zeppelinorama").exists()
    count = tasks.kb_vocabulary_rebuild()
    assert not SearchWord.objects.filter(word="zeppelinorama").exists()
    assert SearchWord.objects.get(word="collaboration").doc_count >= 2
    assert tasks.kb_vocabulary_rebuild() == count == SearchWord.objects.count()  # a rerun changes nothing


@on_postgresql
def test_corrections_from_internal_words_never_return_internal_articles(kb_content, make_user):
    secret = ArticleFactory(title="Zorbulax refund override", audience=Article.Audience.INTERNAL)
    assert SearchWord.objects.filter(word="zorbulax").exists()
    for user in (AnonymousUser(), make_user(None)):
        assert slugs("zorbulaks", user) == []
        assert selectors.kb_suggestions(query="zorbulaks", user=user) == []
    assert slugs("zorbulaks", make_user(Role.SUPPORT_REP)) == [secret.slug]


@on_postgresql
def test_snippet_finds_a_match_deep_in_a_long_body(kb_content):
    filler = " ".join(["Venues and crews travel between shows on the tour."] * 80)
    ArticleFactory(slug="deep", title="Long notes", body=f"{filler}\n\nThe **flamingo** rider is printed last.")
    hit = next(hit for hit in selectors.kb_search(query="flamingo", user=AnonymousUser()) if hit.slug == "deep")
    assert "<mark>flamingo</mark>" in hit.snippet.lower()
    assert "**" not in hit.snippet  # Markdown punctuation is left out


# --- SQLite: FTS5, and LIKE without it --------------------------------------------------------------------


@on_sqlite
def test_fts5_table_and_its_triggers_exist():
    # Django rebuilds a SQLite table a migration alters, dropping its triggers: recreate them if this fails.
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'knowledge_base_article' AND type = 'trigger'")
        triggers = {row[0] for row in cursor.fetchall()}
    assert search.fts5_ready()
    assert {
        "knowledge_base_article_fts_insert",
        "knowledge_base_article_fts_update",
        "knowledge_base_article_fts_delete",
    } <= triggers


@on_sqlite
def test_fts5_index_follows_inserts_edits_and_deletes(kb_content):
    article = ArticleFactory(slug="gig", title="Airship bookings", body="Book the zeppelin early.")
    assert slugs("zeppelin") == ["gig"]
    article.body = "Book the dirigible early."
    article.save()
    assert slugs("zeppelin") == []
    assert slugs("dirigible") == ["gig"]
    Article.objects.filter(pk=article.pk).update(title="Blimp bookings")  # not through save()
    assert slugs("blimp") == ["gig"]
    article.delete()
    assert slugs("dirigible") == []


@on_sqlite
def test_fts5_stems_ranks_titles_first_and_highlights(kb_content):
    assert "exports" in slugs("exporting")
    assert slugs("collaboration permissions")[0] == "collaboration"
    hit = selectors.kb_search(query="calendar feed", user=AnonymousUser())[0]
    assert "<mark>" in hit.snippet.lower()


@on_sqlite
@pytest.mark.parametrize("query", ['export OR "x', "NEAR(tour venue)", "title:export", "ex*", "-export", "^pdf"])
def test_fts5_query_syntax_typed_by_a_reader_is_just_text(kb_content, query):
    assert isinstance(selectors.kb_search(query=query, user=AnonymousUser()), list)


@on_sqlite
def test_fts5_internal_articles_only_for_staff(kb_content, make_user):
    secret = ArticleFactory(title="Refund override procedure", audience=Article.Audience.INTERNAL)
    for user in (AnonymousUser(), make_user(None)):
        assert slugs("refund override", user) == []
        assert selectors.kb_suggestions(query="refund", user=user) == []
    assert slugs("refund override", make_user(Role.SUPPORT_REP)) == [secret.slug]


def test_like_fallback_finds_every_word_then_any_word_and_keeps_the_audience(kb_content):
    # The search of a SQLite built without FTS5 (and of any other database).
    secret = ArticleFactory(title="Refund override procedure", audience=Article.Audience.INTERNAL)

    def like(query, include_internal=False, any_word=False):
        hits = search.search_like(query, include_internal=include_internal, limit=10, snippets=True, any_word=any_word)
        return [hit.slug for hit in hits]

    assert like("collaboration permissions")[0] == "collaboration"
    assert like("refund override") == []
    assert like("refund override", include_internal=True) == [secret.slug]
    assert "exports" in like("zzqx calendar")  # no article has every word: any word
    assert like("") == []
    snippet = search.search_like("calendar", include_internal=False, limit=1, snippets=True, any_word=False)[0].snippet
    assert "<mark>" in snippet.lower()
