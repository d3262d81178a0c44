"""Beta program (the seed's BetaSupport): who answers a beta organization, its Slack channel, its weekly call.

Reads: `beta_profile_of_organization` (the active profile, with its rep), `beta_profile_for_user` (the block
the portal and the widget's `me/` show), `beta_dedicated_rep` (routing), `beta_next_call` (next weekly call
in the customer's time zone, DST-exact through zoneinfo).
Writes: `beta_call_invites_send` (an `.ics` calendar invite, made with icalendar, emailed to the rep and the
organization's people through the outbox; keyed by the call's settings, so re-saving sends nothing twice
and a changed call sends an update). The Slack posts for beta tickets and replies are built in
`tickets.notifications`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from icalendar import Calendar, Event, vCalAddress, vText

from audit.services import audit_record
from tickets.models import BetaSupportProfile
from tickets.models.beta import WEEKDAYS
from tourbrain_support.models import Organization, User
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import OutboxItem, outbox_enqueue_many
from tourbrain_support.roles import QUEUE_ROLES, has_role

ICAL_WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
WEEKDAY_NAMES = dict(WEEKDAYS)
CALL_ICS_PATH = "/portal/beta/call.ics"


# --- reads ---------------------------------------------------------------------------------------


_HAS_ACTIVE_PROFILE_SQL = "SELECT 1 FROM tickets_betasupportprofile WHERE organization_id = %s AND is_active"


def beta_profile_of_organization(organization: Organization | int | None) -> BetaSupportProfile | None:
    """The organization's active beta profile with its rep (one query; two for a beta organization), or None."""
    if organization is None:
        return None
    organization_id = organization if isinstance(organization, int) else organization.pk
    # Most organizations have no profile: a raw check (one cheap statement, no ORM compilation) answers
    # them; only a beta organization's profile is then loaded with its rep.
    with connection.cursor() as cursor:
        cursor.execute(_HAS_ACTIVE_PROFILE_SQL, [organization_id])
        if cursor.fetchone() is None:
            return None
    return (
        BetaSupportProfile.objects.filter(organization_id=organization_id, is_active=True)
        .select_related("organization", "dedicated_rep")
        .first()
    )


def beta_profile_of_user(user: User) -> BetaSupportProfile | None:
    """The active beta profile of the first of the user's organizations that has one (one query)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        BetaSupportProfile.objects.filter(is_active=True, organization__memberships__user=user)
        .select_related("organization", "dedicated_rep")
        .order_by("organization__name", "pk")
        .first()
    )


def beta_dedicated_rep(profile: BetaSupportProfile | None) -> User | None:
    """The profile's rep when they can take the ticket now (active, available, working the queue)."""
    rep = profile.dedicated_rep if profile is not None else None
    if rep is None or not rep.is_active or not rep.is_available or not has_role(rep, *QUEUE_ROLES):
        return None
    return rep


def beta_next_call(profile: BetaSupportProfile, *, now: datetime | None = None) -> datetime | None:
    """Start of the next weekly call (aware, in the customer's time zone), or None without a call."""
    if not profile.has_weekly_call:
        return None
    zone = ZoneInfo(profile.call_timezone)
    local_now = (now or timezone.now()).astimezone(zone)
    days_ahead = (profile.call_weekday - local_now.weekday()) % 7
    for extra_weeks in (0, 1):
        day = local_now.date() + timedelta(days=days_ahead + 7 * extra_weeks)
        start = datetime.combine(day, profile.call_time, tzinfo=zone)
        # Still upcoming until it has ended: a call in progress is "the next call".
        if start + timedelta(minutes=profile.call_duration_minutes) > local_now:
            return start
    return None  # unreachable: a week later is always ahead


def beta_profile_block(profile: BetaSupportProfile | None, *, now: datetime | None = None) -> dict | None:
    """What a customer sees of their organization's beta support (portal page, widget `me/`)."""
    if profile is None:
        return None
    rep = profile.dedicated_rep
    next_call = beta_next_call(profile, now=now)
    call = None
    if next_call is not None:
        call = {
            "weekday": WEEKDAY_NAMES[profile.call_weekday],
            "time": profile.call_time.strftime("%H:%M"),
            "timezone": profile.call_timezone,
            "duration_minutes": profile.call_duration_minutes,
            "next_at": next_call.isoformat(),
            "next_at_text": f"{next_call:%A} {next_call.day} {next_call:%B %Y, %H:%M} ({profile.call_timezone})",
            "ics_url": CALL_ICS_PATH,
        }
    return {
        "organization": profile.organization.name,
        "dedicated_rep": {"name": rep.name or rep.email, "email": rep.email} if rep is not None else None,
        "slack_channel": profile.slack_channel,
        "priority_queue": True,
        "screen_share_available": profile.screen_share_available,
        "weekly_call": call,
    }


def beta_profile_for_user(
    user: User, *, organization: Organization | None = None, now: datetime | None = None
) -> dict | None:
    """The beta block for the widget's `me/` and the portal (one query): the profile of `organization` (the
    token's active organization) when given, else of the user's first organization that has one; None
    when there is none."""
    if organization is not None:
        return beta_profile_block(beta_profile_of_organization(organization), now=now)
    return beta_profile_block(beta_profile_of_user(user), now=now)


# --- the weekly call as a calendar invite ---------------------------------------------------------


def _call_signature(profile: BetaSupportProfile) -> str:
    """Changes when anything an invite says changes: a new signature sends an updated invite."""
    parts = [
        profile.pk,
        profile.call_weekday,
        profile.call_time,
        profile.call_timezone,
        profile.call_duration_minutes,
        profile.dedicated_rep_id,
    ]
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()[:16]


def beta_call_ics(profile: BetaSupportProfile, *, attendees: list[User], now: datetime | None = None) -> str:
    """The weekly feedback call as an iCalendar request: weekly RRULE in the customer's time zone (VTIMEZONE)."""
    now = now or timezone.now()
    start = beta_next_call(profile, now=now)
    if start is None:
        raise ValueError("The profile has no weekly call.")
    host = urlsplit(settings.SITE_URL).hostname or "tourbrain.support"
    calendar = Calendar()
    calendar.add("prodid", "-//TourBrain Support//Beta feedback call//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")
    event = Event()
    event.add("uid", f"beta-call-{profile.pk}@{host}")
    event.add("dtstamp", now.astimezone(ZoneInfo("UTC")))
    event.add("dtstart", start)
    event.add("duration", timedelta(minutes=profile.call_duration_minutes))
    event.add("rrule", {"freq": "weekly", "byday": ICAL_WEEKDAYS[profile.call_weekday]})
    # Calendars replace an invite with a higher sequence: the profile's last change orders them.
    event.add("sequence", int(profile.updated_at.timestamp()) if profile.updated_at else 0)
    event.add("summary", f"TourBrain beta feedback call: {profile.organization.name}")
    lines = [f"Weekly feedback call of the TourBrain beta with {profile.organization.name}."]
    if profile.slack_channel:
        lines.append(f"Between calls: {profile.slack_channel} on Slack.")
    if profile.screen_share_available:
        lines.append("Screen sharing is available.")
    event.add("description", "\n".join(lines))
    rep = profile.dedicated_rep
    if rep is not None:
        organizer = vCalAddress(f"mailto:{rep.email}")
        organizer.params["cn"] = vText(rep.name or rep.email)
        event.add("organizer", organizer)
    for person in attendees:
        attendee = vCalAddress(f"mailto:{person.email}")
        attendee.params["cn"] = vText(person.name or person.email)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["rsvp"] = vText("TRUE")
        event.add("attendee", attendee)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical().decode()


def _call_people(profile: BetaSupportProfile) -> list[User]:
    """The rep and the organization's active customers (one query for the members)."""
    people = [profile.dedicated_rep] if profile.dedicated_rep is not None else []
    # Customers hold no staff role (no group).
    people += User.objects.filter(
        memberships__organization_id=profile.organization_id, is_active=True, is_superuser=False, groups__isnull=True
    ).order_by("pk")
    unique: dict[int, User] = {}
    for person in people:
        if person.email:
            unique.setdefault(person.pk, person)
    return list(unique.values())


@transaction.atomic
def beta_call_invites_send(*, profile: BetaSupportProfile, actor: User | None = None) -> list[OutboxMessage]:
    """Email the weekly call's invite (.ics attached) to the rep and the organization's people; audited.

    Keyed by the call's settings: saving the profile again sends nothing, a changed call sends the update.
    """
    if not profile.is_active or not profile.has_weekly_call:
        return []
    people = _call_people(profile)
    if not people:
        return []
    now = timezone.now()
    ics = beta_call_ics(profile, attendees=people, now=now)
    next_call = beta_next_call(profile, now=now)
    signature = _call_signature(profile)
    subject = f"TourBrain beta feedback call, every {WEEKDAY_NAMES[profile.call_weekday]}"
    items = []
    for person in people:
        local = next_call.strftime("%A %d %B %Y, %H:%M")
        body = "\n".join(
            [
                f"Hello {person.name or person.email},",
                "",
                f"The weekly feedback call of the TourBrain beta with {profile.organization.name} is every "
                f"{WEEKDAY_NAMES[profile.call_weekday]} at {profile.call_time:%H:%M} ({profile.call_timezone}), "
                f"{profile.call_duration_minutes} minutes. Next call: {local} ({profile.call_timezone}).",
                "",
                "The calendar invite is attached (beta-call.ics); customers can also download it from "
                f"{settings.SITE_URL}{CALL_ICS_PATH}.",
                "",
                "— TourBrain Support",
            ]
        )
        items.append(
            OutboxItem(
                kind=OutboxMessage.Kind.BETA_CALL_INVITE,
                channel=OutboxMessage.Channel.EMAIL,
                recipient=person.email,
                subject=subject,
                body=body,
                idempotency_key=f"{OutboxMessage.Kind.BETA_CALL_INVITE}:{profile.pk}:{signature}:{person.pk}",
                payload={"beta_profile": profile.pk, "user": person.pk},
                attachments=({"filename": "beta-call.ics", "content_type": "text/calendar", "content": ics},),
            )
        )
    created = outbox_enqueue_many(items)
    if created:
        audit_record(
            actor=actor,
            action="share",
            resource_type="beta_support_profile",
            resource_id=profile.pk,
            organization=profile.organization_id,
            changes={"operation": "call_invites", "recipients": [message.payload["user"] for message in created]},
        )
    return created
