"""Builders for on-call data: responders, a rotation with its members, overrides."""

from datetime import date, time

from tests.factories import UserFactory
from tourbrain_support.oncall.models import EscalationContact, Override, Responder, Rotation, RotationMember


def responder(name: str, *, phone: str = "", **user_fields) -> Responder:
    user = UserFactory(name=name, email=f"{name.lower()}@oncall.test", **user_fields)
    return Responder.objects.create(user=user, phone=phone)


def rotation(
    people: list[Responder],
    *,
    weekday: int = Rotation.Weekday.MONDAY,
    at: time = time(9, 0),
    starts_on: date = date(2026, 3, 2),
    time_zone: str = "Europe/London",
    name: str = "Primary rotation",
    match_labels: dict | None = None,
) -> Rotation:
    made = Rotation.objects.create(
        name=name,
        match_labels=match_labels or {},
        handover_weekday=weekday,
        handover_time=at,
        starts_on=starts_on,
        time_zone=time_zone,
    )
    for position, person in enumerate(people):
        RotationMember.objects.create(rotation=made, responder=person, position=position)
    return made


def override(rot: Rotation, person: Responder, starts_at, ends_at, *, role="primary", reason="holiday") -> Override:
    return Override.objects.create(
        rotation=rot, responder=person, starts_at=starts_at, ends_at=ends_at, role=role, reason=reason
    )


def contact(name: str = "Vercel support", **fields) -> EscalationContact:
    fields.setdefault("email", f"{name.split()[0].lower()}@provider.test")
    fields.setdefault("support_url", "https://vercel.com/help")
    return EscalationContact.objects.create(name=name, **fields)
