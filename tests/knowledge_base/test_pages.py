"""Help center pages and the suggestions API: content, audience, query counts that do not grow with rows."""

import pytest

from knowledge_base.models import Article
from tests.knowledge_base.factories import ArticleFactory, VideoFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

DOCS = ["getting-started", "ai-routing", "collaboration", "exports", "integrations", "troubleshooting", "api-reference"]
VIDEOS = ["quick-start", "tour-creation", "ai-routing", "collaboration", "export-features", "advanced-features"]


@pytest.mark.parametrize("slug", DOCS)
def test_every_docs_page_is_live_for_anonymous_readers(client, kb_content, slug):
    response = client.get(f"/docs/{slug}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Was this helpful?" in body
    assert len(Article.objects.get(kind="article", slug=slug).body.split()) > 250  # real content


@pytest.mark.parametrize("slug", VIDEOS)
def test_every_video_page_has_player_chapters_and_transcript(client, kb_content, slug):
    response = client.get(f"/docs/videos/{slug}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'src="https://www.youtube-nocookie.com/embed/' in body
    assert "enablejsapi=1" in body
    video = Article.objects.get(kind="video", slug=slug)
    assert body.count('class="link kb-chapter"') == len(video.chapters) >= 4
    assert video.chapters[1]["transcript"][:40] in body


def test_vimeo_embed_uses_the_player_domain(client, db):
    VideoFactory(slug="vimeo-one", video_provider=Article.VideoProvider.VIMEO, video_ref="123456")
    body = client.get("/docs/videos/vimeo-one/").content.decode()
    assert 'src="https://player.vimeo.com/video/123456?dnt=1"' in body


def test_video_file_on_another_host_is_allowed_by_the_page_csp_only(client, db):
    # given a video file on a CDN, and a YouTube video
    VideoFactory(
        slug="file-one", video_provider=Article.VideoProvider.FILE, video_ref="https://cdn.example.com:8443/v/a.mp4"
    )
    VideoFactory(slug="youtube-one")
    # then the file's page plays it: its CSP names the file's origin (and ours) in media-src
    response = client.get("/docs/videos/file-one/")
    assert 'src="https://cdn.example.com:8443/v/a.mp4"' in response.content.decode()
    directives = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert directives["media-src"] == "'self' https://cdn.example.com:8443"
    assert directives["frame-src"] == "https://www.youtube-nocookie.com https://player.vimeo.com"
    # and no other page allows it
    for url in ["/docs/videos/youtube-one/", "/docs/exports/"]:
        assert "media-src" not in client.get(url)["Content-Security-Policy"]


@pytest.mark.parametrize("ref", ["https://cdn.example.com;script-src *", "https://a b.example/v.mp4", "http://x.y/v"])
def test_video_file_url_that_csp_could_not_name_is_not_played(client, db, ref):
    VideoFactory(slug="odd-file", video_provider=Article.VideoProvider.FILE, video_ref=ref)
    response = client.get("/docs/videos/odd-file/")
    assert "<video" not in response.content.decode()
    assert "media-src" not in response["Content-Security-Policy"]
    assert "*" not in response["Content-Security-Policy"]


def test_pages_use_no_inline_script_or_style(client, kb_content):
    for url in ["/docs/", "/docs/exports/", "/docs/videos/", "/docs/videos/quick-start/", "/docs/search/?q=pdf"]:
        body = client.get(url).content.decode()
        assert "<script>" not in body
        assert " style=" not in body
        assert " onclick=" not in body


def test_docs_home_query_count_does_not_grow(client, kb_content, django_assert_max_num_queries):
    ArticleFactory.create_batch(30)
    VideoFactory.create_batch(5)
    with django_assert_max_num_queries(6):
        response = client.get("/docs/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Getting started: account setup" in body
    assert "Most viewed" in body
    assert "Article number" in body


@pytest.mark.parametrize("url", ["/docs/exports/", "/docs/videos/quick-start/"])
def test_article_pages_have_a_constant_query_count(client, kb_content, url, django_assert_max_num_queries):
    kind = "video" if "videos" in url else "article"
    article = Article.objects.get(slug=url.rstrip("/").rsplit("/", 1)[1], kind=kind)
    article.related.add(*ArticleFactory.create_batch(10))
    with django_assert_max_num_queries(4):
        response = client.get(url)
    assert response.status_code == 200
    assert response.content.decode().count("Article number") == 10


def test_search_page_query_count_and_rendering(client, kb_content, django_assert_max_num_queries):
    ArticleFactory.create_batch(25, body="Guest list handling for every show.")
    with django_assert_max_num_queries(4):
        response = client.get("/docs/search/?q=guest+list")
    assert response.status_code == 200
    assert response.content.decode().count('class="kb-snippet"') == 20


def test_internal_article_is_404_for_customers_and_shown_to_staff(client, make_user, db):
    ArticleFactory(slug="escalation-runbook", title="Escalation runbook", audience=Article.Audience.INTERNAL)
    assert client.get("/docs/escalation-runbook/").status_code == 404
    client.force_login(make_user(None))
    assert client.get("/docs/escalation-runbook/").status_code == 404
    assert "Escalation runbook" not in client.get("/docs/").content.decode()
    assert "Escalation runbook" not in client.get("/docs/search/?q=escalation").content.decode()
    client.force_login(make_user(Role.SUPPORT_REP))
    assert client.get("/docs/escalation-runbook/").status_code == 200
    assert "Escalation runbook" in client.get("/docs/search/?q=escalation").content.decode()


def test_draft_is_not_readable(client, db):
    ArticleFactory(slug="unfinished", status=Article.Status.DRAFT)
    assert client.get("/docs/unfinished/").status_code == 404


def test_hostile_search_queries_render(client, kb_content):
    for query in ["<script>alert(1)</script>", "a & | ! :*", "%00", "x" * 10_000, "🎸"]:
        response = client.get("/docs/search/", {"q": query})
        assert response.status_code == 200
        assert "<script>alert(1)</script>" not in response.content.decode()


def test_suggestions_api(client, kb_content, django_assert_max_num_queries):
    ArticleFactory.create_batch(20, title="Export presets", audience=Article.Audience.INTERNAL)
    with django_assert_max_num_queries(2):
        response = client.get("/api/v1/kb/suggestions/", {"q": "export"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert 1 <= len(results) <= 5
    assert all(item["title"] != "Export presets" for item in results)
    assert results[0] == {
        "slug": "exports",
        "title": "Exports: PDF itineraries, CSV and iCal calendar feeds",
        "summary": Article.objects.get(kind="article", slug="exports").summary,
        "url": "/docs/exports/?src=suggestion",
        "kind": "article",
    }


@pytest.mark.parametrize("query", ["", "'", "a & | ! :*", "x" * 10_000, "nul\x00", "🎸"])
def test_suggestions_api_never_fails_on_text(client, kb_content, query):
    response = client.get("/api/v1/kb/suggestions/", {"q": query})
    assert response.status_code == 200
    assert isinstance(response.json()["results"], list)


@pytest.mark.parametrize("limit", ["abc", "0", "11", "-1"])
def test_suggestions_api_rejects_bad_limit(client, db, limit):
    response = client.get("/api/v1/kb/suggestions/", {"q": "pdf", "limit": limit})
    assert response.status_code == 400
    assert "limit" in response.json()["error"]["fields"]


def test_empty_search_is_recorded_for_the_report(client, kb_content):
    from knowledge_base.models import EmptySearch

    client.get("/docs/search/", {"q": "Setlist  Printing"})
    client.get("/docs/search/", {"q": "setlist printing"})
    client.get("/docs/search/", {"q": "exports"})
    assert list(EmptySearch.objects.values_list("query", "count")) == [("setlist printing", 2)]
