"""Knowledge base writes: articles (draft, review, publish, restore), votes, views, empty searches, deflection.

Article services are keyword-only and atomic, check the role rules, save, and record an audit event
(`resource_type="kb_article"`); django-simple-history keeps every version (diff and restore read it).

Views are not written per page view: `kb_view_record` adds one to a cache counter (Redis in production)
and `kb_view_counts_flush` (a beat task) moves the counters into `Article.view_count`, subtracting exactly
what it moved, so views that arrive during a flush are kept for the next one.

Deflection: `kb_suggestion_opened` notes that a person opened a suggested article (once per person, draft
and article); `kb_ticket_filed` marks that person's recent opens as followed by a ticket; and
`kb_deflections_count` (a beat task) decides every open older than `DEFLECTION_WINDOW` still pending as
deflected. Each open is decided once, so reruns count nothing twice.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from audit.services import audit_record
from knowledge_base.access import can_edit, can_publish
from knowledge_base.models import Article, EmptySearch, Feedback, SuggestionOpen
from knowledge_base.search import clean_query, vocabulary_rebuild
from tourbrain_support.api import ApplicationError

DEFLECTION_WINDOW = timedelta(minutes=30)
COMMENT_MAX_LENGTH = 2000
VIEW_KEY = "kb:views:{}"
EDITABLE_FIELDS = (
    "title", "slug", "summary", "body", "category", "audience", "video_provider", "video_ref",
    "duration_seconds", "chapters",
)  # fmt: skip


def _person_key(*, user, reader_id: str, linked_user_id: int | None = None) -> str:
    if getattr(user, "is_authenticated", False):
        return f"u:{user.pk}"
    if linked_user_id:
        return f"u:{linked_user_id}"
    return f"r:{reader_id}" if reader_id else ""


# --- articles ---------------------------------------------------------------------------------------------


def _audit(*, actor, article: Article, operation: str, changes: dict | None = None) -> None:
    audit_record(
        actor=actor,
        action="create" if operation == "create" else "update",
        resource_type="kb_article",
        resource_id=article.pk,
        changes={"operation": operation, "slug": article.slug, **(changes or {})},
    )


def _check_slug_free(*, kind: str, slug: str, exclude_pk: int | None = None) -> None:
    taken = Article.objects.filter(kind=kind, slug=slug).exclude(pk=exclude_pk).exists()
    if taken:
        raise ApplicationError(
            "Another article already uses this slug.", code="slug_taken", fields={"slug": ["Taken."]}
        )


@transaction.atomic
def article_create(*, actor, kind: str = Article.Kind.ARTICLE, **fields) -> Article:
    """A new draft by a rep, lead or admin."""
    if not can_edit(actor):
        raise ApplicationError("You may not write articles.", code="forbidden", status=403)
    _check_slug_free(kind=kind, slug=fields["slug"])
    article = Article(kind=kind, author=actor, status=Article.Status.DRAFT, **fields)
    article._change_reason = "created"
    article.save()
    _audit(actor=actor, article=article, operation="create", changes={"title": article.title})
    return article


@transaction.atomic
def article_update(*, article: Article, actor, **fields) -> Article:
    """Edit the content. A rep's edit of a published article sends it back to review (leads publish)."""
    if not can_edit(actor):
        raise ApplicationError("You may not edit articles.", code="forbidden", status=403)
    article = Article.objects.select_for_update().get(pk=article.pk)
    if "slug" in fields:
        _check_slug_free(kind=article.kind, slug=fields["slug"], exclude_pk=article.pk)
    changed = sorted(name for name, value in fields.items() if getattr(article, name) != value)
    if not changed:
        return article
    for name, value in fields.items():
        setattr(article, name, value)
    if article.status == Article.Status.PUBLISHED and not can_publish(actor):
        article.status = Article.Status.REVIEW
        changed.append("status")
    article.updated_at = timezone.now()
    article._change_reason = "edited"
    article.save()
    _audit(actor=actor, article=article, operation="edit", changes={"fields": changed, "status": article.status})
    return article


@transaction.atomic
def article_submit_for_review(*, article: Article, actor) -> Article:
    if not can_edit(actor):
        raise ApplicationError("You may not edit articles.", code="forbidden", status=403)
    if article.status != Article.Status.DRAFT:
        raise ApplicationError("Only a draft can be sent for review.", code="invalid_status")
    return _set_status(article=article, actor=actor, status=Article.Status.REVIEW, operation="submit_for_review")


@transaction.atomic
def article_publish(*, article: Article, actor) -> Article:
    if not can_publish(actor):
        raise ApplicationError("Only support leads and admins publish articles.", code="forbidden", status=403)
    if article.status == Article.Status.PUBLISHED:
        raise ApplicationError("The article is already published.", code="invalid_status")
    return _set_status(article=article, actor=actor, status=Article.Status.PUBLISHED, operation="publish")


@transaction.atomic
def article_unpublish(*, article: Article, actor) -> Article:
    if not can_publish(actor):
        raise ApplicationError("Only support leads and admins unpublish articles.", code="forbidden", status=403)
    if article.status != Article.Status.PUBLISHED:
        raise ApplicationError("The article is not published.", code="invalid_status")
    return _set_status(article=article, actor=actor, status=Article.Status.DRAFT, operation="unpublish")


def _set_status(*, article: Article, actor, status: str, operation: str) -> Article:
    article = Article.objects.select_for_update().get(pk=article.pk)
    previous = article.status
    article.status = status
    now = timezone.now()
    article.updated_at = now
    if status == Article.Status.PUBLISHED:
        article.published_at = now
    article._change_reason = operation
    article.save(update_fields=["status", "updated_at", "published_at"])
    _audit(actor=actor, article=article, operation=operation, changes={"status": [previous, status]})
    return article


@transaction.atomic
def article_restore(*, article: Article, history_id: int, actor) -> Article:
    """Bring back the content of an earlier version (as a new version; a rep's restore goes to review)."""
    version = article.history.filter(history_id=history_id).first()
    if version is None:
        raise ApplicationError("No such version of this article.", code="not_found", status=404)
    fields = {name: getattr(version, name) for name in EDITABLE_FIELDS if name != "category"}
    fields["category"] = version.category
    article = article_update(article=article, actor=actor, **fields)
    _audit(actor=actor, article=article, operation="restore", changes={"history_id": history_id})
    return article


# --- feedback ---------------------------------------------------------------------------------------------


@transaction.atomic
def kb_feedback_submit(*, article: Article, user, reader_id: str, helpful: bool, comment: str = "") -> Feedback:
    """One vote per person: a second vote replaces the first. A comment is kept only with "not helpful"."""
    comment = (comment or "").replace("\x00", "").strip()
    if len(comment) > COMMENT_MAX_LENGTH:
        raise ApplicationError(
            f"Keep the comment under {COMMENT_MAX_LENGTH} characters.", fields={"comment": ["Too long."]}
        )
    comment = "" if helpful else comment
    signed_in = getattr(user, "is_authenticated", False)
    if not signed_in and not reader_id:
        raise ApplicationError("Enable cookies to vote.", code="no_reader")
    lookup = {"article": article, "user": user} if signed_in else {"article": article, "reader_id": reader_id}
    now = timezone.now()
    values = {"helpful": helpful, "comment": comment, "updated_at": now}
    try:
        with transaction.atomic():
            feedback, _ = Feedback.objects.update_or_create(**lookup, defaults=values)
    except IntegrityError:  # two votes of one person at once: the other one created the row
        feedback = Feedback.objects.get(**lookup)
        Feedback.objects.filter(pk=feedback.pk).update(**values)
    return feedback


# --- views ------------------------------------------------------------------------------------------------


def kb_view_record(*, article_id: int) -> None:
    """Count one page view in the cache (no database write on the page view)."""
    key = VIEW_KEY.format(article_id)
    try:
        cache.incr(key)
    except ValueError:  # not there yet
        if not cache.add(key, 1, timeout=None):
            cache.incr(key)


def kb_view_counts_flush() -> int:
    """Move the cached view counters into `Article.view_count`; returns how many views were moved."""
    moved = 0
    ids = list(Article.objects.values_list("pk", flat=True))
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        counts = cache.get_many([VIEW_KEY.format(pk) for pk in chunk])
        for key, count in counts.items():
            if not count:
                continue
            article_id = int(key.rsplit(":", 1)[1])
            # Subtract what is written (not reset to 0): views counted meanwhile stay for the next flush.
            cache.decr(key, count)
            Article.objects.filter(pk=article_id).update(view_count=F("view_count") + count)
            moved += count
    return moved


# --- search vocabulary ------------------------------------------------------------------------------------


@transaction.atomic
def kb_vocabulary_rebuild() -> int:
    """Rebuild the typo-correction vocabulary from the published articles; returns how many words it holds."""
    return vocabulary_rebuild()


# --- searches that found nothing --------------------------------------------------------------------------


def kb_empty_search_record(*, query: str) -> None:
    query = clean_query(query).lower()[:200]
    if not query:
        return
    now = timezone.now()
    updated = EmptySearch.objects.filter(query=query, day=now.date()).update(count=F("count") + 1, last_searched_at=now)
    if not updated:
        try:
            with transaction.atomic():
                EmptySearch.objects.create(query=query, day=now.date(), count=1, last_searched_at=now)
        except IntegrityError:  # the same search at the same moment
            EmptySearch.objects.filter(query=query, day=now.date()).update(count=F("count") + 1)


# --- deflection -------------------------------------------------------------------------------------------


def kb_suggestion_opened(
    *,
    article: Article,
    user,
    reader_id: str = "",
    draft_key: str = "",
    source: str = "suggestion",
    linked_user_id: int | None = None,
) -> SuggestionOpen | None:
    """Note that a person opened a suggested article (once per person, draft and article).

    `linked_user_id`: the user a widget suggestion link was signed for (`selectors.suggestion_person_id`),
    when the reader is not signed in on this page.
    """
    person_key = _person_key(user=user, reader_id=reader_id, linked_user_id=linked_user_id)
    if not person_key:
        return None
    user_id = user.pk if getattr(user, "is_authenticated", False) else linked_user_id
    opened, _ = SuggestionOpen.objects.get_or_create(
        article=article,
        person_key=person_key,
        draft_key=(draft_key or "")[:80],
        defaults={"user_id": user_id, "source": source[:20]},
    )
    return opened


def kb_ticket_filed(*, user, reader_id: str = "", filed_at=None) -> int:
    """A person filed a ticket: their opens of the last `DEFLECTION_WINDOW` did not deflect it.

    Called by the ticket services when a ticket is created. Returns how many opens were decided.
    """
    person_key = _person_key(user=user, reader_id=reader_id)
    if not person_key:
        return 0
    filed_at = filed_at or timezone.now()
    # Plain SQL: it runs with every new ticket, and compiling the ORM's UPDATE cost more than running it.
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            _TICKET_FILED_SQL,
            [
                SuggestionOpen.Outcome.TICKET_FILED.value,
                adapt(filed_at),
                person_key,
                SuggestionOpen.Outcome.PENDING.value,
                adapt(filed_at - DEFLECTION_WINDOW),
                adapt(filed_at),
            ],
        )
        return cursor.rowcount


_TICKET_FILED_SQL = (
    "UPDATE knowledge_base_suggestionopen SET outcome = %s, decided_at = %s "
    "WHERE person_key = %s AND outcome = %s AND opened_at >= %s AND opened_at <= %s"
)


def kb_deflections_count(*, now=None) -> int:
    """Decide every pending open older than the window as deflected (idempotent); returns how many."""
    now = now or timezone.now()
    return SuggestionOpen.objects.filter(
        outcome=SuggestionOpen.Outcome.PENDING, opened_at__lt=now - DEFLECTION_WINDOW
    ).update(outcome=SuggestionOpen.Outcome.DEFLECTED, decided_at=now)
