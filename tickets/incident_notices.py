"""When a public incident resolves, beta users with open tickets about one of its components are told by email:
one message per person (however many tickets), through the outbox, keyed by incident and person, so a rerun or
a second resolve path sends nothing twice. Registered with the on-call core at start-up."""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.urls import reverse

from tickets.models import Ticket
from tickets.models.tickets import OPEN_STATUSES
from tourbrain_support.identities import PLACEHOLDER_EMAIL_DOMAIN
from tourbrain_support.notifications.builders import email_item
from tourbrain_support.notifications.outbox import outbox_enqueue_many

KIND = "incident.resolved_beta"


def beta_tickets_for_components(component_ids: list[int]):
    """Open tickets of active beta users with a real address about these components; 1 query."""
    return (
        Ticket.objects.filter(
            component_id__in=component_ids,
            status__in=OPEN_STATUSES,
            user__is_beta=True,
            user__is_active=True,
        )
        .exclude(user__email="")
        .exclude(user__email__endswith="@" + PLACEHOLDER_EMAIL_DOMAIN)
        .select_related("user", "component")
        .order_by("user_id", "pk")
    )


def incident_resolved_notify(incident) -> int:
    """Enqueue one email per affected beta user; returns how many rows were written (0 for internal incidents)."""
    if not incident.is_public:
        return 0
    component_ids = [component.pk for component in incident.components.all()]
    if not component_ids:
        return 0
    by_user: dict[int, list[Ticket]] = defaultdict(list)
    for ticket in beta_tickets_for_components(component_ids):
        by_user[ticket.user_id].append(ticket)
    site = settings.SITE_URL.rstrip("/")
    items = []
    for tickets in by_user.values():
        person = tickets[0].user
        components = ", ".join(dict.fromkeys(ticket.component.name for ticket in tickets))
        lines = [
            f"Hello {person.name or ''}".rstrip() + ",",
            "",
            f"The problem with {components} is resolved: {incident.title}.",
            "Your open request(s) about it:",
            *(f"- {ticket.reference} {ticket.subject}: {site}{_portal_path(ticket)}" for ticket in tickets),
            "",
            "If it still happens to you, reply on the request and we will look again.",
            f"Status page: {site}{reverse('oncall:status')}",
            "",
            "— TourBrain Support",
        ]
        items.append(
            email_item(
                KIND,
                f"incident-resolved:{incident.pk}:{person.pk}",
                person,
                f"Resolved: {incident.title}",
                "\n".join(lines),
                {"incident_id": incident.pk, "tickets": [ticket.pk for ticket in tickets]},
            )
        )
    return len(outbox_enqueue_many(items))


def _portal_path(ticket: Ticket) -> str:
    return reverse("tickets:portal_detail", args=[ticket.reference])
