"""Ticket factories: tickets are created through `ticket_create`, so tier, routing and due times are real."""

from __future__ import annotations

import factory

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tickets import services
from tickets.models import Ticket, TicketMessage

# Fields `ticket_create` takes; anything else passed to the factory is written afterwards (test setup only).
CREATE_FIELDS = {
    "requester",
    "organization",
    "type",
    "priority",
    "subject",
    "description",
    "reproduction_steps",
    "browser_info",
    "url",
    "channel",
    "actor",
    "created_at",
}


class TicketFactory(factory.django.DjangoModelFactory):
    """TicketFactory(type="bug", priority="high", requester=..., status="pending", assignee=...)."""

    class Meta:
        model = Ticket

    requester = factory.SubFactory(UserFactory)
    organization = factory.LazyAttribute(
        lambda o: (
            MembershipFactory(user=o.requester, organization=OrganizationFactory()).organization
            if o.requester is not None
            else None
        )
    )
    type = Ticket.Type.QUESTION
    priority = Ticket.Priority.MEDIUM
    subject = factory.Sequence(lambda n: f"Ticket subject {n}")
    description = "Something does not work as expected."
    channel = Ticket.Channel.PORTAL

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        create_kwargs = {key: value for key, value in kwargs.items() if key in CREATE_FIELDS}
        extra = {key: value for key, value in kwargs.items() if key not in CREATE_FIELDS}
        ticket = services.ticket_create(**create_kwargs)
        if extra:
            Ticket.objects.filter(pk=ticket.pk).update(**extra)
            ticket.refresh_from_db()
        return ticket


class TicketMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketMessage

    ticket = factory.SubFactory(TicketFactory)
    author = factory.SelfAttribute("ticket.user")
    body = factory.Sequence(lambda n: f"Message {n}")
