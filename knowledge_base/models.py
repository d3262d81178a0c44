"""Knowledge base: articles (docs pages and video tutorials), reader feedback, suggestion opens, empty searches.

One `Article` model holds both kinds: a video tutorial is an article whose `kind` is video and which has a
source (YouTube or Vimeo id, or a file URL), a duration and chapters; its transcript lives in the chapters
(one passage per chapter, so the page can highlight the passage of the current chapter) and is copied into
`transcript` on save, for search. `body_html` is the sanitized rendering of `body`, also set on save, so a
page view never renders Markdown. `search_vector` and `search_head` are kept current by a PostgreSQL
trigger (migrations 0002, 0004) on every insert or update, whichever path writes the row; so are the typo
vocabulary (`SearchWord`, PostgreSQL) and the FTS5 index (SQLite) of migration 0005.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from knowledge_base.rendering import render_markdown


class Category(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class ArticleQuerySet(models.QuerySet):
    def published(self):
        return self.filter(status=Article.Status.PUBLISHED)

    def visible_to(self, user):
        """Published articles this reader may see: customers and anonymous readers only public ones."""
        from knowledge_base.access import can_read_internal

        queryset = self.published()
        if not can_read_internal(user):
            queryset = queryset.filter(audience=Article.Audience.PUBLIC)
        return queryset


class Article(models.Model):
    class Kind(models.TextChoices):
        ARTICLE = "article", "Article"
        VIDEO = "video", "Video tutorial"

    class Audience(models.TextChoices):
        PUBLIC = "public", "Public (customers)"
        INTERNAL = "internal", "Internal (staff only)"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        REVIEW = "review", "In review"
        PUBLISHED = "published", "Published"

    class VideoProvider(models.TextChoices):
        NONE = "", "None"
        YOUTUBE = "youtube", "YouTube"
        VIMEO = "vimeo", "Vimeo"
        FILE = "file", "Video file"

    slug = models.SlugField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ARTICLE)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True, help_text="Markdown. Raw HTML is removed when rendered.")
    body_html = models.TextField(blank=True, editable=False)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="articles")
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.PUBLIC)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="kb_articles"
    )
    related = models.ManyToManyField("self", blank=True, symmetrical=False)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order inside the category.")

    video_provider = models.CharField(max_length=10, choices=VideoProvider.choices, blank=True, default="")
    video_ref = models.CharField(
        max_length=300, blank=True, help_text="YouTube or Vimeo video id, or an https URL of a video file."
    )
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    # [{"start": seconds, "title": str, "transcript": str}, ...] in playback order.
    chapters = models.JSONField(default=list, blank=True)
    transcript = models.TextField(blank=True, editable=False)

    view_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    search_vector = SearchVectorField(null=True, editable=False)
    # Title (A) and summary (B) only: small and stored in the row, so ranking many matches stays cheap.
    search_head = SearchVectorField(null=True, editable=False)
    # PostgreSQL: summary, body without Markdown punctuation, transcript (trigger): what search snippets are cut from.
    snippet_text = models.TextField(blank=True, default="", editable=False)

    history = HistoricalRecords(
        excluded_fields=["body_html", "transcript", "view_count", "search_vector", "search_head", "snippet_text"]
    )

    objects = ArticleQuerySet.as_manager()

    class Meta:
        ordering = ["position", "title"]
        # A video and a page may share a slug: they live under /docs/videos/<slug>/ and /docs/<slug>/.
        constraints = [models.UniqueConstraint(fields=["kind", "slug"], name="kb_article_slug_per_kind")]
        indexes = [
            models.Index(fields=["status", "audience", "-updated_at"], name="kb_article_recent"),
            models.Index(fields=["status", "-view_count"], name="kb_article_popular"),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        # Rendered and derived once per write, so reads never render Markdown.
        self.body_html = render_markdown(self.body)
        self.transcript = "\n\n".join(str(chapter.get("transcript", "")) for chapter in self.chapters or [])
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "body_html", "transcript"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        if self.kind == self.Kind.VIDEO:
            return f"/docs/videos/{self.slug}/"
        return f"/docs/{self.slug}/"

    @property
    def is_video(self) -> bool:
        return self.kind == self.Kind.VIDEO


class Feedback(models.Model):
    """One "Was this helpful?" vote per person (user, or signed browser id for anonymous readers)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    reader_id = models.CharField(max_length=64, blank=True, help_text="Signed browser id of an anonymous reader.")
    helpful = models.BooleanField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["article", "user"], condition=Q(user__isnull=False), name="kb_vote_user"),
            models.UniqueConstraint(fields=["article", "reader_id"], condition=~Q(reader_id=""), name="kb_vote_reader"),
            models.CheckConstraint(condition=Q(user__isnull=False) | ~Q(reader_id=""), name="kb_vote_has_person"),
        ]

    def __str__(self) -> str:
        return f"{'helpful' if self.helpful else 'not helpful'}: {self.article_id}"


class SuggestionOpen(models.Model):
    """A customer opened a suggested article from the widget or the portal's new-ticket form.

    Counted as a deflection by `knowledge_base.tasks.kb_count_deflections` once the window has passed
    without a ticket from that person; once per person, draft and article.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        DEFLECTED = "deflected", "Deflected"
        TICKET_FILED = "ticket_filed", "Ticket filed"

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="suggestion_opens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    person_key = models.CharField(max_length=80, help_text="u:<user id> or r:<signed reader id>.")
    draft_key = models.CharField(max_length=80, blank=True, help_text="The widget/portal draft or session.")
    source = models.CharField(max_length=20)
    opened_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=15, choices=Outcome.choices, default=Outcome.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["article", "person_key", "draft_key"], name="kb_open_once_per_draft"),
        ]
        indexes = [
            models.Index(fields=["outcome", "opened_at"], name="kb_open_pending"),
            models.Index(fields=["person_key", "opened_at"], name="kb_open_person"),
        ]

    def __str__(self) -> str:
        return f"{self.person_key} opened {self.article_id} ({self.outcome})"


class SearchWord(models.Model):
    """A word of the published articles (PostgreSQL): the vocabulary a misspelled search word is corrected to.

    Filled and kept by a trigger on every article write (new words only) and rebuilt by
    `knowledge_base.tasks.kb_vocabulary_rebuild` (drops words no published article has, refreshes
    `doc_count`); a GIN trigram index on `word` finds the close words (migration 0005).
    """

    word = models.CharField(max_length=40, primary_key=True)
    doc_count = models.PositiveIntegerField(default=1, help_text="Published articles with the word (last rebuild).")

    def __str__(self) -> str:
        return self.word


class EmptySearch(models.Model):
    """Searches that found nothing, per normalised query and day: what the team should write next."""

    query = models.CharField(max_length=200)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)
    last_searched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["query", "day"], name="kb_empty_search_once_per_day")]

    def __str__(self) -> str:
        return f"{self.query} ({self.day}: {self.count})"
