"""Editor pages: reps draft, leads review and publish, preview = reader rendering, history diff and restore, audit."""

import pytest

from audit.models import AuditEvent
from knowledge_base.models import Article
from tests.knowledge_base.factories import ArticleFactory, CategoryFactory, VideoFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def _form(**overrides):
    data = {
        "title": "Printing day sheets",
        "slug": "printing-day-sheets",
        "summary": "How to print day sheets.",
        "body": "## Steps\n\n1. Open the tour\n2. Click **Export**",
        "audience": "public",
        "category": "",
        "video_provider": "",
        "video_ref": "",
        "duration_seconds": "",
        "chapters_text": "",
        "save": "1",
    }
    data.update(overrides)
    return data


def _events(article):
    return list(
        AuditEvent.objects.filter(resource_type="kb_article", resource_id=str(article.pk))
        .order_by("id")
        .values_list("changes__operation", flat=True)
    )


def test_rep_drafts_and_sends_for_review_lead_publishes(client, make_user):
    rep, lead = make_user(Role.SUPPORT_REP), make_user(Role.SUPPORT_LEAD)
    client.force_login(rep)
    response = client.post("/docs/manage/new/", _form())
    article = Article.objects.get(slug="printing-day-sheets")
    assert response.status_code == 302
    assert (article.status, article.author) == (Article.Status.DRAFT, rep)
    assert client.get("/docs/printing-day-sheets/").status_code == 404
    client.post(f"/docs/manage/{article.pk}/status/", {"action": "submit"})
    assert client.post(f"/docs/manage/{article.pk}/status/", {"action": "publish"}).status_code == 403
    article.refresh_from_db()
    assert article.status == Article.Status.REVIEW
    client.force_login(lead)
    client.post(f"/docs/manage/{article.pk}/status/", {"action": "publish"})
    article.refresh_from_db()
    assert article.status == Article.Status.PUBLISHED
    assert "<strong>Export</strong>" in client.get("/docs/printing-day-sheets/").content.decode()
    assert _events(article) == ["create", "submit_for_review", "publish"]


def test_rep_edit_of_published_article_goes_back_to_review(client, make_user):
    article = ArticleFactory()
    client.force_login(make_user(Role.SUPPORT_REP))
    client.post(f"/docs/manage/{article.pk}/", _form(slug=article.slug, title="Changed title"))
    article.refresh_from_db()
    assert (article.title, article.status) == ("Changed title", Article.Status.REVIEW)
    assert _events(article) == ["edit"]


def test_preview_renders_what_readers_see_and_saves_nothing(client, make_user):
    article = ArticleFactory(body="Old body")
    client.force_login(make_user(Role.SUPPORT_LEAD))
    body = "Hello **reader** <script>alert(1)</script> [x](javascript:alert(1))"
    response = client.post(f"/docs/manage/{article.pk}/", _form(slug=article.slug, body=body, preview="1"))
    page = response.content.decode()
    preview = page[page.index('data-testid="preview"') : page.index('<form method="post" class="card"')]
    assert "Hello <strong>reader</strong> &lt;script&gt;alert(1)&lt;/script&gt;" in preview
    assert "javascript:" not in preview
    article.refresh_from_db()
    assert article.body == "Old body"
    article.body = body
    article.save()
    assert article.body_html in client.get(article.get_absolute_url()).content.decode()
    assert article.body_html in preview


def _layout(page: str) -> str:
    start = page.index('<div class="kb-video-layout">')
    return page[start : page.index('data-testid="transcript"', start)]


def test_video_preview_shows_the_readers_player_chapters_and_transcript(client, make_user):
    video = VideoFactory(slug="day-sheets-video", chapters=[])
    client.force_login(make_user(Role.SUPPORT_LEAD))
    fields = {
        "slug": video.slug,
        "video_provider": "file",
        "video_ref": "https://cdn.example.com/day-sheets.mp4",
        "chapters_text": "0:00 | Intro | Hello there\n1:30 | Printing | Now we print the day sheet",
    }
    response = client.post(f"/docs/manage/{video.pk}/", _form(**fields, preview="1"))
    page = response.content.decode()
    preview = page[page.index('data-testid="preview"') : page.index('<form method="post" class="card"')]
    assert 'src="https://cdn.example.com/day-sheets.mp4"' in preview
    assert preview.count('class="link kb-chapter"') == 2
    assert "Now we print the day sheet" in preview
    assert "knowledge_base/video.js" in page
    assert "media-src 'self' https://cdn.example.com" in response["Content-Security-Policy"]
    video.refresh_from_db()
    assert video.chapters == []  # nothing saved
    # once saved, the reader's page shows the same player and chapters
    client.post(f"/docs/manage/{video.pk}/", _form(**fields))
    assert _layout(client.get("/docs/videos/day-sheets-video/").content.decode()) == _layout(page)


def test_video_file_must_be_an_https_url_csp_can_name(client, make_user):
    client.force_login(make_user(Role.SUPPORT_LEAD))
    for ref in ["http://cdn.example.com/a.mp4", "https://cdn.example.com;script-src */a.mp4"]:
        response = client.post("/docs/manage/new/?kind=video", _form(video_provider="file", video_ref=ref))
        assert response.status_code == 400
        assert "A video file must be an https URL" in response.content.decode()
    assert not Article.objects.filter(slug="printing-day-sheets").exists()


def test_duplicate_or_reserved_slug_is_a_form_error(client, make_user):
    ArticleFactory(slug="taken")
    count = Article.objects.count()
    client.force_login(make_user(Role.SUPPORT_LEAD))
    assert client.post("/docs/manage/new/", _form(slug="taken")).status_code == 400
    assert client.post("/docs/manage/new/", _form(slug="videos")).status_code == 400
    assert client.post("/docs/manage/new/", _form(slug="bad slug!")).status_code == 400
    assert Article.objects.count() == count


def test_video_chapters_are_parsed_and_validated(client, make_user):
    client.force_login(make_user(Role.SUPPORT_LEAD))
    chapters = "0:00 | Intro | Hello there\n1:30 | Setup | Now we set up"
    fields = {"video_provider": "youtube", "video_ref": "abcDEF12345", "chapters_text": chapters}
    response = client.post("/docs/manage/new/?kind=video", _form(**fields))
    assert response.status_code == 302
    video = Article.objects.get(slug="printing-day-sheets")
    assert video.kind == Article.Kind.VIDEO
    assert video.chapters[1] == {"start": 90, "title": "Setup", "transcript": "Now we set up"}
    assert "Now we set up" in video.transcript
    bad = _form(slug="other", video_provider="youtube", video_ref="https://evil/x", chapters_text="9:99 | x")
    assert client.post("/docs/manage/new/?kind=video", bad).status_code == 400


def test_history_diff_and_restore(client, make_user):
    lead = make_user(Role.SUPPORT_LEAD)
    client.force_login(lead)
    client.post("/docs/manage/new/", _form(body="First line\nSecond line"))
    article = Article.objects.get(slug="printing-day-sheets")
    client.post(f"/docs/manage/{article.pk}/", _form(body="First line\nChanged line"))
    versions = list(article.history.order_by("history_id"))
    page = client.get(f"/docs/manage/{article.pk}/history/").content.decode()
    assert "-Second line" in page
    assert "+Changed line" in page
    client.post(f"/docs/manage/{article.pk}/restore/{versions[0].history_id}/")
    article.refresh_from_db()
    assert article.body == "First line\nSecond line"
    assert _events(article)[-2:] == ["edit", "restore"]
    assert client.post(f"/docs/manage/{article.pk}/restore/999999/").status_code == 404


@pytest.mark.parametrize("role", [None, Role.AUDITOR, Role.ENGINEER, Role.PRODUCT_MANAGER])
def test_non_editors_are_refused(client, make_user, role):
    article = ArticleFactory()
    client.force_login(make_user(role))
    for url in ["/docs/manage/", "/docs/manage/new/", f"/docs/manage/{article.pk}/", "/docs/manage/report/"]:
        assert client.get(url).status_code == 403
    assert client.post(f"/docs/manage/{article.pk}/status/", {"action": "unpublish"}).status_code == 403


def test_anonymous_is_sent_to_login(client, db):
    assert client.get("/docs/manage/").status_code == 302


def test_rep_cannot_open_the_report(client, make_user):
    client.force_login(make_user(Role.SUPPORT_REP))
    assert client.get("/docs/manage/report/").status_code == 403


def test_editor_pages_query_counts(client, make_user, django_assert_max_num_queries):
    category = CategoryFactory()
    articles = ArticleFactory.create_batch(25, category=category, author=make_user(Role.SUPPORT_REP))
    client.force_login(make_user(Role.SUPPORT_LEAD))
    with django_assert_max_num_queries(6):
        response = client.get("/docs/manage/")
    assert response.content.decode().count("Article number") == 25
    article = articles[0]
    for number in range(5):
        client.post(f"/docs/manage/{article.pk}/", _form(slug=article.slug, body=f"Version {number}"))
    with django_assert_max_num_queries(7):
        response = client.get(f"/docs/manage/{article.pk}/history/")
    assert response.content.decode().count('name="from"') == 6
    with django_assert_max_num_queries(8):
        assert client.get(f"/docs/manage/{article.pk}/").status_code == 200
