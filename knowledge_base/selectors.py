"""Knowledge base reads: pages, search, suggestions for the widget/portal/API, the ticket panel, the lead report.

Everything a reader sees starts from `Article.objects.visible_to(user)`: customers and anonymous readers get
published public articles only, staff also internal ones. `kb_suggestions` is the one entry point for every
"suggest while typing" box (widget, portal, `/api/v1/kb/suggestions/`).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core import signing
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from knowledge_base import search
from knowledge_base.access import can_read_internal
from knowledge_base.models import Article, Category, EmptySearch, Feedback, SuggestionOpen

SUGGESTION_LIMIT_MAX = 10
# A suggestion link names its signed-in reader (`who`): the widget's links open in a tab without the widget's
# token, and a ticket filed from the widget must still cancel that person's deflection.
SUGGESTION_PERSON_SALT = "knowledge_base.suggestion_person"
SUGGESTION_PERSON_MAX_AGE = 24 * 3600


def article_visible_get(*, user, slug: str, kind: str) -> Article | None:
    return Article.objects.visible_to(user).select_related("category", "author").filter(kind=kind, slug=slug).first()


def article_related(*, article: Article, user) -> list[Article]:
    return list(
        Article.objects.visible_to(user)
        .filter(pk__in=article.related.values("pk"))
        .only("slug", "title", "kind", "summary")
    )


def docs_home(*, user) -> dict:
    """Categories with their articles, the most viewed and the recently updated: a fixed number of queries."""
    visible = Article.objects.visible_to(user).filter(kind=Article.Kind.ARTICLE)
    articles = list(visible.only("slug", "title", "summary", "kind", "category_id", "audience", "position"))
    categories = []
    by_category: dict[int | None, list[Article]] = {}
    for article in articles:
        by_category.setdefault(article.category_id, []).append(article)
    for category in Category.objects.all():
        if by_category.get(category.pk):
            categories.append({"category": category, "articles": by_category[category.pk]})
    if by_category.get(None):
        categories.append({"category": None, "articles": by_category[None]})
    fields = ("slug", "title", "kind", "updated_at", "view_count")
    all_visible = Article.objects.visible_to(user)
    return {
        "categories": categories,
        "most_viewed": list(all_visible.order_by("-view_count", "title").only(*fields)[:5]),
        "recently_updated": list(all_visible.order_by("-updated_at", "title").only(*fields)[:5]),
        "videos": list(all_visible.filter(kind=Article.Kind.VIDEO).only(*fields, "duration_seconds")[:6]),
    }


def video_list(*, user) -> QuerySet[Article]:
    return (
        Article.objects.visible_to(user)
        .filter(kind=Article.Kind.VIDEO)
        .only("slug", "title", "summary", "kind", "duration_seconds", "chapters")
    )


def kb_search(*, query: str, user, limit: int = 20) -> list[search.Hit]:
    return search.search(query, include_internal=can_read_internal(user), limit=limit)


def kb_suggestions(*, query: str, user, limit: int = 5, source: str = "") -> list[dict]:
    """The best matches for what a customer is typing: public articles for customers and anonymous users.

    Each item: {"slug", "title", "summary", "url", "kind": "article" | "video"}. `url` carries
    `?src=suggestion`, which the article page uses to count the open for deflection; with a `source`
    ("widget", "portal") also `&from=<source>` and, for a signed-in user, `&who=<signed user id>`, so the
    open counts for that person even in a browser tab where they are not signed in. The caller may add
    `&draft=` with its draft or session id.
    """
    limit = max(1, min(int(limit), SUGGESTION_LIMIT_MAX))
    hits = search.search(query, include_internal=can_read_internal(user), limit=limit, snippets=False)
    suffix = "?src=suggestion"
    if source:
        suffix += f"&from={source}"
        if getattr(user, "is_authenticated", False):
            suffix += f"&who={suggestion_person_token(user)}"
    return [
        {
            "slug": hit.slug,
            "title": hit.title,
            "summary": hit.summary,
            "url": f"{hit.url}{suffix}",
            "kind": hit.kind,
        }
        for hit in hits
    ]


def suggestion_person_token(user) -> str:
    return signing.TimestampSigner(salt=SUGGESTION_PERSON_SALT).sign(str(user.pk))


def suggestion_person_id(token: str) -> int | None:
    """The user a suggestion link was made for (a valid signature, under a day old, an active user), else None."""
    try:
        value = signing.TimestampSigner(salt=SUGGESTION_PERSON_SALT).unsign(
            (token or "")[:200], max_age=SUGGESTION_PERSON_MAX_AGE
        )
    except signing.BadSignature:  # also expired
        return None
    if not value.isdigit() or not value.isascii():
        return None
    user_id = int(value)
    return user_id if get_user_model().objects.filter(pk=user_id, is_active=True).exists() else None


def kb_articles_for_ticket(*, ticket, user, limit: int = 5) -> list[search.Hit]:
    """Articles matching a ticket's subject, for the staff ticket page (staff see internal articles too)."""
    return search.search(
        ticket.subject, include_internal=can_read_internal(user), limit=limit, snippets=False, any_word=True
    )


def feedback_for(*, article: Article, user, reader_id: str) -> Feedback | None:
    if getattr(user, "is_authenticated", False):
        return Feedback.objects.filter(article=article, user=user).first()
    if reader_id:
        return Feedback.objects.filter(article=article, reader_id=reader_id, user__isnull=True).first()
    return None


# --- editors ---------------------------------------------------------------------------------------------


def editor_article_list() -> QuerySet[Article]:
    return Article.objects.select_related("author", "category").order_by("-updated_at")


def article_history(*, article: Article) -> QuerySet:
    return article.history.select_related("history_user").order_by("-history_date", "-history_id")


# --- lead report ------------------------------------------------------------------------------------------


def kb_report(*, days: int = 30, limit: int = 10) -> dict:
    """Least helpful articles, most viewed but unhelpful, searches that found nothing, deflections."""
    since = timezone.now() - timedelta(days=days)
    votes = Article.objects.annotate(
        yes=Count("feedback", filter=Q(feedback__helpful=True)),
        no=Count("feedback", filter=Q(feedback__helpful=False)),
    ).filter(no__gt=0)
    least_helpful = list(
        votes.annotate(total=F("yes") + F("no"))
        .order_by(F("yes") * 1.0 / F("total"), "-no", "title")
        .only("slug", "title", "kind", "view_count")[:limit]
    )
    unhelpful_popular = list(
        votes.filter(no__gte=F("yes"))
        .order_by("-view_count", "-no", "title")
        .only("slug", "title", "kind", "view_count")[:limit]
    )
    empty_searches = list(
        EmptySearch.objects.filter(day__gte=since.date())
        .values("query")
        .annotate(total=Sum("count"))
        .order_by("-total", "query")[:limit]
    )
    deflections = list(
        SuggestionOpen.objects.filter(outcome=SuggestionOpen.Outcome.DEFLECTED, opened_at__gte=since)
        .values("article__slug", "article__title", "article__kind")
        .annotate(total=Count("id"))
        .order_by("-total", "article__title")[:limit]
    )
    return {
        "days": days,
        "least_helpful": least_helpful,
        "unhelpful_popular": unhelpful_popular,
        "empty_searches": empty_searches,
        "deflections": deflections,
        "deflections_daily": kb_deflections_daily(since=since),
    }


def kb_deflections_daily(*, since, until=None) -> list[dict]:
    """Deflections per day of the open (UTC), of the opens in [since, until): [{"day": date, "total": n}], for
    the report and the KPI rollup (`kpis.metrics`, metric `kb_deflections`)."""
    opens = SuggestionOpen.objects.filter(outcome=SuggestionOpen.Outcome.DEFLECTED, opened_at__gte=since)
    if until is not None:
        opens = opens.filter(opened_at__lt=until)
    return list(opens.annotate(day=TruncDate("opened_at")).values("day").annotate(total=Count("id")).order_by("day"))


def kb_deflection_days_decided(*, since, until) -> set:
    """Days (of the open, UTC) of the deflections decided in (since, until]; all of them when `since` is None.

    A deflection is decided 30 minutes after its open at the earliest, so the KPI rollup of a day can run
    before all of that day's deflections are known: the nightly rollup recomputes these days.
    """
    opens = SuggestionOpen.objects.filter(outcome=SuggestionOpen.Outcome.DEFLECTED, decided_at__lte=until)
    if since is not None:
        opens = opens.filter(decided_at__gt=since)
    return set(opens.annotate(day=TruncDate("opened_at")).values_list("day", flat=True).distinct())
