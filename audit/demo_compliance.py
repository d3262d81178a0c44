"""Demo data for the GDPR pages: policy versions, consents, open requests, transfers (idempotent)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit.models import ConsentRecord, CrossBorderTransfer, DataSubjectRequest, PrivacyPolicyVersion

DEMO_CUSTOMERS = ["customer@backline.test", "beta@roadcase.test", "enterprise@arena.test"]
DEMO_TRANSFERS = [
    ("slack", "US", "dpf", ["contact", "ticket_content"], "Escalation alert to #beta-support"),
    ("sentry", "US", "scc", ["technical", "contact"], "Error report"),
    ("email_provider", "US", "scc", ["contact", "ticket_content"], "Reply to a ticket"),
    ("openai", "US", "scc", ["ticket_content"], "Suggested reply draft"),
]


@transaction.atomic
def seed(stdout=None) -> None:
    now = timezone.now()
    old, _ = PrivacyPolicyVersion.objects.get_or_create(
        version="2025-09", defaults={"published_at": now - timedelta(days=90), "url": "https://tourbrain.ai/privacy"}
    )
    current, _ = PrivacyPolicyVersion.objects.get_or_create(
        version="2026-01", defaults={"published_at": now - timedelta(days=10), "url": "https://tourbrain.ai/privacy"}
    )
    users = list(get_user_model().objects.filter(email__in=DEMO_CUSTOMERS).order_by("email"))
    if not ConsentRecord.objects.exists():
        for index, user in enumerate(users):
            ConsentRecord.objects.create(
                user=user,
                purpose="privacy_policy",
                policy_version=old,
                granted=True,
                source="signup",
                recorded_at=now - timedelta(days=80),
            )
            if index < 2:  # two of three have accepted the current version so far
                ConsentRecord.objects.create(
                    user=user,
                    purpose="privacy_policy",
                    policy_version=current,
                    granted=True,
                    source="portal",
                    recorded_at=now - timedelta(days=5),
                )
    if not DataSubjectRequest.objects.exists() and users:
        DataSubjectRequest.objects.create(
            kind="access",
            subject=users[0],
            subject_email=users[0].email,
            received_at=now - timedelta(days=5),
            notes="Asked by email for a copy of their data.",
        )
        DataSubjectRequest.objects.create(
            kind="erasure",
            subject=users[-1],
            subject_email=users[-1].email,
            status="verifying",
            received_at=now - timedelta(days=27),
            notes="Account closed; asked to be forgotten.",
        )
    if not CrossBorderTransfer.objects.exists():
        for hours, (recipient, country, basis, categories, purpose) in enumerate(DEMO_TRANSFERS, start=1):
            CrossBorderTransfer.objects.create(
                recipient=recipient,
                country=country,
                legal_basis=basis,
                data_categories=categories,
                purpose=purpose,
                reference=f"ticket:{hours}",
                transferred_at=now - timedelta(hours=hours),
            )
    if stdout is not None:
        stdout.write("GDPR demo data: policy versions, consents, two open requests, transfers.")
