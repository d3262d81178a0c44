"""'Was this helpful?': one vote per person (user or signed browser id), a comment with 'no'."""

import pytest

from knowledge_base.models import Article, Feedback
from knowledge_base.views import READER_COOKIE
from tests.knowledge_base.factories import ArticleFactory

pytestmark = pytest.mark.django_db


def test_signed_in_reader_votes_once_and_can_change_it(client, make_user, kb_content):
    client.force_login(make_user(None))
    assert client.post("/docs/exports/feedback/", {"helpful": "yes"}).status_code == 302
    client.post("/docs/exports/feedback/", {"helpful": "no", "comment": "Missing Outlook steps"})
    vote = Feedback.objects.get()
    assert (vote.helpful, vote.comment) == (False, "Missing Outlook steps")
    page = client.get("/docs/exports/").content.decode()
    assert "You said: No" in page


def test_comment_is_dropped_with_a_yes(client, make_user, kb_content):
    client.force_login(make_user(None))
    client.post("/docs/videos/quick-start/feedback/", {"helpful": "yes", "comment": "spam"})
    assert Feedback.objects.get().comment == ""
    assert Feedback.objects.get().article.kind == Article.Kind.VIDEO


def test_anonymous_reader_votes_once_per_browser(client, kb_content):
    client.get("/docs/exports/")  # sets the signed reader cookie
    assert READER_COOKIE in client.cookies
    client.post("/docs/exports/feedback/", {"helpful": "no"})
    client.post("/docs/exports/feedback/", {"helpful": "no"})
    assert Feedback.objects.count() == 1
    client.cookies.pop(READER_COOKIE)
    client.get("/docs/exports/")
    client.post("/docs/exports/feedback/", {"helpful": "yes"})
    assert Feedback.objects.count() == 2


def test_forged_reader_cookie_is_not_a_reader(client, kb_content):
    client.cookies[READER_COOKIE] = "a" * 32
    response = client.post("/docs/exports/feedback/", {"helpful": "yes"})
    assert response.status_code == 302
    assert Feedback.objects.count() == 0


@pytest.mark.parametrize("data", [{}, {"helpful": "maybe"}, {"helpful": "no", "comment": "x" * 2001}])
def test_bad_vote_changes_nothing(client, make_user, kb_content, data):
    client.force_login(make_user(None))
    response = client.post("/docs/exports/feedback/", data)
    assert response.status_code == 302
    assert Feedback.objects.count() == 0


def test_customer_cannot_vote_on_internal_article(client, make_user, db):
    ArticleFactory(slug="internal-only", audience=Article.Audience.INTERNAL)
    client.force_login(make_user(None))
    assert client.post("/docs/internal-only/feedback/", {"helpful": "yes"}).status_code == 404
