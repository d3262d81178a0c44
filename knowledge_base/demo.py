"""Demo data for the help center: the help content (if a flush removed it), an internal runbook for staff,
a draft waiting for review, a few votes and searches that found nothing, so the lead's report has rows.
Idempotent: each piece is created only when missing.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from knowledge_base.help_content import load_help_content
from knowledge_base.models import Article, Category, EmptySearch, Feedback, SuggestionOpen
from tourbrain_support.models import User

RUNBOOK = """Use this when a customer asks for a refund or a plan change that the billing page cannot do.

1. Check the organization's plan and renewal date in the billing system.
2. Refunds within 14 days of a renewal: approve, note the ticket reference in the refund reason.
3. Later refunds and plan downgrades mid-term: assign the ticket to the **billing** team; do not promise dates.
4. Reply with the public [troubleshooting](/docs/troubleshooting/) link only for sign-in or access problems.
"""

DRAFT = """Setlists are planned per show. This page is being written: screenshots and the print layout follow."""


@transaction.atomic
def seed(stdout=None) -> None:
    added = load_help_content(Article, Category)
    lead = User.objects.filter(email="lead@tourbrain.test").first()
    rep = User.objects.filter(email="rep@tourbrain.test").first()
    internal_category = Category.objects.get(slug="help")
    Article.objects.get_or_create(
        kind=Article.Kind.ARTICLE,
        slug="refund-and-plan-change-runbook",
        defaults={
            "title": "Refund and plan change runbook (staff)",
            "summary": "What a rep may approve, and when billing takes over.",
            "body": RUNBOOK,
            "category": internal_category,
            "audience": Article.Audience.INTERNAL,
            "status": Article.Status.PUBLISHED,
            "author": lead,
            "published_at": timezone.now(),
        },
    )
    Article.objects.get_or_create(
        kind=Article.Kind.ARTICLE,
        slug="setlists",
        defaults={
            "title": "Setlists: plan and print the set for each show",
            "summary": "Draft: planning setlists per show.",
            "body": DRAFT,
            "category": Category.objects.get(slug="features"),
            "status": Article.Status.REVIEW,
            "author": rep,
        },
    )
    customers = list(User.objects.filter(email__in=["customer@backline.test", "beta@roadcase.test"]))
    exports = Article.objects.get(kind=Article.Kind.ARTICLE, slug="exports")
    for customer, helpful, comment in zip(customers, [False, True], ["Outlook steps are missing.", ""], strict=False):
        Feedback.objects.get_or_create(
            article=exports, user=customer, defaults={"helpful": helpful, "comment": comment}
        )
    for query, count in [("setlist printing", 4), ("two-factor codes", 2)]:
        EmptySearch.objects.get_or_create(query=query, day=timezone.now().date(), defaults={"count": count})
    # Suggestions customers opened an hour ago without filing a ticket: deflections in the lead's report.
    opened_at = timezone.now() - timedelta(hours=1)
    for customer, slug, source in zip(customers, ["troubleshooting", "exports"], ["widget", "portal"], strict=False):
        SuggestionOpen.objects.get_or_create(
            article=Article.objects.get(kind=Article.Kind.ARTICLE, slug=slug),
            person_key=f"u:{customer.pk}",
            draft_key="demo",
            defaults={
                "user": customer,
                "source": source,
                "opened_at": opened_at,
                "outcome": SuggestionOpen.Outcome.DEFLECTED,
                "decided_at": opened_at + timedelta(minutes=30),
            },
        )
    if stdout is not None:
        stdout.write(f"Help center: {Article.objects.count()} articles ({added} added now).")
