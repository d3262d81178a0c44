"""Demo data: the beta on-call rotation, escalation contacts, status-page components, incidents and a page."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from tourbrain_support.models import User
from tourbrain_support.oncall import incidents, paging
from tourbrain_support.oncall.models import (
    Component,
    EscalationContact,
    Incident,
    Responder,
    Rotation,
    RotationMember,
)
from tourbrain_support.oncall.rotation import week_index

# The seed's rotation: founder/CTO primary, lead developer secondary (demo users stand in for them).
DEMO_ROTATION = [
    ("admin@tourbrain.test", "+15005550001"),
    ("engineer@tourbrain.test", "+15005550002"),
    ("lead@tourbrain.test", "+15005550003"),
]
DEMO_CONTACTS = [
    ("Vercel support", "support@vercel.test", "https://vercel.com/help"),
    ("Supabase support", "support@supabase.test", "https://supabase.com/support"),
    ("Clerk support", "support@clerk.test", "https://clerk.com/support"),
]
# (name, description, probe name of the alerting app's samples)
DEMO_COMPONENTS = [
    ("Web app", "tourbrain.ai on Vercel", "vercel"),
    ("Database", "Supabase PostgreSQL", "database"),
    ("Sign-in", "Clerk authentication", "clerk"),
    ("AI routing", "Route suggestions (OpenAI)", "openai"),
    ("Support portal", "This portal and the in-app widget", "portal"),
    ("Tour data sync", "The demo stand-in service (manage.py demo_service)", "demo-service"),
]


@transaction.atomic
def seed(stdout=None) -> None:
    rotation, created = Rotation.objects.get_or_create(
        name="Beta on-call", defaults={"starts_on": timezone.localdate()}
    )
    if created and week_index(rotation, timezone.now()) < 0:
        # Before this week's hand-over: start a week earlier, so the first member (the founder) is primary now.
        rotation.starts_on -= timedelta(days=7)
        rotation.save(update_fields=["starts_on"])
    for position, (email, phone) in enumerate(DEMO_ROTATION):
        user = User.objects.filter(email=email).first()
        if user is None:
            continue
        responder, _ = Responder.objects.get_or_create(user=user, defaults={"phone": phone})
        RotationMember.objects.get_or_create(rotation=rotation, responder=responder, defaults={"position": position})
    for position, (name, email, url) in enumerate(DEMO_CONTACTS):
        EscalationContact.objects.get_or_create(
            name=name, defaults={"email": email, "support_url": url, "position": position}
        )
    components = {}
    for position, (name, description, probe) in enumerate(DEMO_COMPONENTS):
        components[name], _ = Component.objects.get_or_create(
            name=name, defaults={"description": description, "probe_name": probe, "position": position}
        )
    if not Incident.objects.filter(title="Sign-in failures for some users").exists():
        past = incidents.incident_open(
            title="Sign-in failures for some users",
            severity=Incident.Severity.MAJOR,
            message="Some users cannot sign in; we are looking into it.",
            components=[components["Sign-in"]],
        )
        incidents.incident_update(
            incident=past, status=Incident.Status.RESOLVED, message="Clerk fixed a session bug; sign-in works."
        )
        # Place it 20 days back, lasting 95 minutes, so the status page's uptime shows it.
        opened = timezone.now() - timedelta(days=20)
        Incident.objects.filter(pk=past.pk).update(opened_at=opened, resolved_at=opened + timedelta(minutes=95))
        past.updates.update(created_at=opened)
        past.updates.filter(status=Incident.Status.RESOLVED).update(created_at=opened + timedelta(minutes=95))
        past.refresh_from_db()
        Incident.objects.filter(pk=past.pk).update(summary=incidents.incident_summary(past))
    if not Incident.objects.filter(title="Slow AI route suggestions").exists():
        incidents.incident_open(
            title="Slow AI route suggestions",
            severity=Incident.Severity.MINOR,
            message="Route suggestions take longer than usual; everything else works.",
            components=[components["AI routing"]],
        )
    paging.page_oncall(
        key="demo:openai-latency",
        severity="critical",
        title="OpenAI latency above 3 s for 5 min",
        body="Average response time of the AI routing calls is 4.2 s (threshold 3 s).",
        url="",
    )
