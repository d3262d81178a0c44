"""Demo data for the ticket domain: teams, a realistic queue (~60 tickets of every tier, type, priority and
status, with conversations), some in warning and some breached; portal logins for every demo customer, the
beta organization's support profile and an open beta invitation. Idempotent: the queue is skipped once demo
tickets exist, the rest is created only where missing.

Tickets are created through the services with `created_at` in the past, chosen so that a given share of
the SLA target (in business time) is already used; then the SLA sweep marks warnings and escalates
breaches, exactly as in production.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from tickets import services, sla, sla_defaults, sla_policies
from tickets.beta_invitations import beta_invite
from tickets.models import BetaInvitation, BetaSupportProfile, Team, Ticket, TicketMessage
from tickets.sweep import sla_sweep
from tourbrain_support.demo import DEMO_PASSWORD
from tourbrain_support.models import Membership, Organization, User

# Extra customers so the queue spans several people per organization: (email, name, beta, organization slug).
DEMO_CUSTOMERS = [
    ("ops@backline.test", "Omar Ops", False, "backline-booking"),
    ("tm@backline.test", "Tia Tourmanager", True, "backline-booking"),
    ("agent@roadcase.test", "Alex Agent", False, "roadcase-touring"),
    ("promoter@arena.test", "Pia Promoter", False, "arena-live"),
]
CORE_CUSTOMERS = ["customer@backline.test", "beta@roadcase.test", "enterprise@arena.test"]

# team slug -> (lead email, member emails, round robin)
DEMO_TEAMS = {
    "support": ("lead@tourbrain.test", ["rep@tourbrain.test", "rep2@tourbrain.test"], True),
    "engineering": ("engineer@tourbrain.test", ["engineer@tourbrain.test"], False),
    "billing": ("billing@tourbrain.test", ["billing@tourbrain.test"], False),
    "product": ("lead@tourbrain.test", ["rep@tourbrain.test"], False),
}

SUBJECTS = {
    "bug": [
        ("PDF export of the tour book is blank", "Exporting the tour book for the spring run gives an empty PDF."),
        ("AI routing suggests a venue twice", "The routing scenario lists Brixton Academy on two consecutive nights."),
        ("iCal feed stopped updating", "Our calendar subscription has not picked up show changes since Friday."),
        ("Collaborator link shows 404", "The external link I shared with the promoter opens a 404 page."),
        ("CSV export drops accented names", "Venue names like 'Café Oto' come out garbled in the CSV."),
        ("Tour map does not load on Safari", "The map stays grey in Safari 17; Chrome works."),
        ("Duplicate shows after import", "Importing the routing sheet created every show twice."),
        ("Timezone wrong on show day sheet", "Doors time is one hour off for the Berlin show."),
    ],
    "feature_request": [
        ("Dark mode for the day sheet", "Crew read day sheets backstage; a dark mode would help."),
        ("Export to Google Sheets", "We would love a direct export of the routing to Google Sheets."),
        ("Per-show budget tracking", "Track costs per show next to the settlement."),
        ("Dark mode please", "Any plans for a dark theme?"),
        ("Bulk edit of show times", "Changing doors time for 20 shows one by one is slow."),
    ],
    "question": [
        ("How do I invite an external collaborator?", "Where do I set view-only access for a promoter?"),
        ("Can I merge two tours?", "We planned two legs separately and want one tour now."),
        ("Where is the API key?", "I want to connect our booking system."),
        ("How does AI routing choose dates?", "What does the routing optimise for?"),
        ("Offline access on the road?", "Does the app work without a connection on the bus?"),
    ],
    "billing": [
        ("Invoice shows the wrong VAT number", "Our VAT number changed in January."),
        ("Charged twice this month", "Two charges for the Professional plan on the 1st."),
        ("Upgrade to Enterprise mid-cycle", "How is an upgrade in the middle of the month billed?"),
        ("Need a PO number on invoices", "Our finance team requires a PO reference."),
    ],
}
REPLIES = [
    "Thanks for the report. We can reproduce it and are looking into it now.",
    "Could you send a screenshot and the tour name? That will help us narrow it down.",
    "A fix is on its way; it should be live later today.",
    "Here is how to do it: open the tour, choose Share, then pick 'view only'.",
]
CUSTOMER_REPLIES = [
    "Screenshot attached in the description, the tour is 'Spring 2026 UK'.",
    "Still happening this morning, unfortunately.",
    "Thanks, that worked!",
]
NOTES = [
    "Looks like the export worker timed out, checking the logs.",
    "Customer is on the beta cohort; keep engineering in the loop.",
    "Same root cause as the CDN issue last week.",
]

# (status, share of the first-response target already used when the demo runs)
PLAN = (
    [("new", 0.2)] * 10
    + [("new", 0.85)] * 6  # warning
    + [("new", 1.6)] * 6  # breached -> escalated by the sweep
    + [("open", 0.5)] * 14
    + [("pending", 0.4)] * 7
    + [("on_hold", 0.6)] * 4
    + [("solved", 3.0)] * 8
    + [("closed", 6.0)] * 5
)


def _created_for_elapsed(calendar, now: datetime, minutes: int) -> datetime:
    """The latest instant from which `minutes` business minutes have passed by now (binary search)."""
    low, high = 0, 60 * 24 * 60
    while low < high:
        middle = (low + high) // 2
        if sla.business_minutes_between(calendar, now - timedelta(minutes=middle), now) >= minutes:
            high = middle
        else:
            low = middle + 1
    return now - timedelta(minutes=low)


def _ensure_customers() -> list[User]:
    organizations = {org.slug: org for org in Organization.objects.all()}
    customers = list(User.objects.filter(email__in=CORE_CUSTOMERS))
    for email, name, is_beta, slug in DEMO_CUSTOMERS:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=None, name=name, is_beta=is_beta)
        if slug in organizations:
            Membership.objects.get_or_create(user=user, organization=organizations[slug])
        customers.append(user)
    return customers


def _ensure_teams() -> None:
    users = {user.email: user for user in User.objects.filter(email__endswith="@tourbrain.test")}
    for slug, (lead_email, member_emails, round_robin) in DEMO_TEAMS.items():
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            continue
        team.lead = users.get(lead_email)
        team.round_robin = round_robin
        team.save(update_fields=["lead", "round_robin"])
        team.members.set([users[email] for email in member_emails if email in users])


def _backdate(ticket: Ticket, message: TicketMessage, when: datetime) -> None:
    TicketMessage.objects.filter(pk=message.pk).update(created_at=when)
    if message.is_from_staff and not message.is_internal:
        Ticket.objects.filter(pk=ticket.pk, first_responded_at__isnull=False).update(first_responded_at=when)


# The beta organization's support profile (the seed's BetaSupport) and its dedicated rep.
BETA_ORGANIZATION = "roadcase-touring"
BETA_REP = "rep@tourbrain.test"
# Organization admins (see every ticket of their organization on the portal): (email, organization slug).
DEMO_ORG_ADMINS = [("customer@backline.test", "backline-booking")]
DEMO_INVITATION = ("newcomer@arena.test", "Nia Newcomer", "arena-live")


def _ensure_portal_logins() -> None:
    """Every demo customer can sign in to /portal/ with the demo password; organization admins are owners."""
    for email, _name, _beta, _slug in DEMO_CUSTOMERS:
        user = User.objects.filter(email=email).first()
        if user is not None and not user.has_usable_password():
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
    for email, slug in DEMO_ORG_ADMINS:
        Membership.objects.filter(user__email=email, organization__slug=slug).update(role=Membership.Role.OWNER)


def _ensure_beta_program() -> None:
    """The beta organization's support profile and one open invitation for the cohort page (once each)."""
    organization = Organization.objects.filter(slug=BETA_ORGANIZATION).first()
    rep = User.objects.filter(email=BETA_REP).first()
    if organization is not None:
        BetaSupportProfile.objects.get_or_create(
            organization=organization,
            defaults={
                "dedicated_rep": rep,
                "slack_channel": "#tourbrain-beta-users",
                "call_weekday": 1,
                "call_time": time(16, 0),
                "call_timezone": "America/New_York",
                "screen_share_available": True,
            },
        )
    lead = User.objects.filter(email="lead@tourbrain.test").first()
    email, name, slug = DEMO_INVITATION
    if lead is not None and not BetaInvitation.objects.exists() and not User.objects.filter(email=email).exists():
        beta_invite(
            email=email,
            name=name,
            organization=Organization.objects.filter(slug=slug).first(),
            personal_message="Your team's feedback on exports shaped the next release; we would love more of it.",
            actor=lead,
        )


@transaction.atomic
def seed(stdout=None) -> None:
    if User.objects.filter(email="rep@tourbrain.test").exists():
        _ensure_customers()
        _ensure_portal_logins()
        _ensure_beta_program()
    if Ticket.objects.filter(user__email__in=CORE_CUSTOMERS).exists():
        _ensure_email_and_surveys(stdout)
        if stdout:
            stdout.write("Tickets demo data already present.")
        return
    staff = {user.email: user for user in User.objects.filter(email__endswith="@tourbrain.test")}
    if "rep@tourbrain.test" not in staff:
        return  # the core demo data comes first
    sla_defaults.ensure_defaults()
    _ensure_teams()
    customers = _ensure_customers()
    rep, rep2, lead = staff["rep@tourbrain.test"], staff["rep2@tourbrain.test"], staff["lead@tourbrain.test"]
    randomness = random.Random(2026)  # noqa: S311 - demo data, not security
    now = timezone.now()
    policy = sla_policies.active_policy()
    calendar = sla_policies.calendar_of(policy.calendar)
    types = list(SUBJECTS)
    priorities = ["low", "medium", "medium", "high", "critical"]
    channels = ["widget", "widget", "email", "portal", "api"]
    feature_requests: list[Ticket] = []
    for index, (status, share) in enumerate(PLAN):
        type_ = types[index % len(types)]
        subject, description = SUBJECTS[type_][index % len(SUBJECTS[type_])]
        customer = customers[index % len(customers)]
        organization = customer.organizations.first()
        priority = priorities[(index * 7) % len(priorities)]
        tier = (
            "enterprise"
            if organization and organization.plan == "enterprise"
            else "beta"
            if customer.is_beta
            else "general"
        )
        target = sla_policies.targets_for(policy, tier=tier, priority=priority).first_response
        created_at = _created_for_elapsed(calendar, now, max(1, round(target * share)))
        ticket = services.ticket_create(
            requester=customer,
            organization=organization,
            type=type_,
            priority=priority,
            subject=subject,
            description=description,
            reproduction_steps="1. Open the tour\n2. Click Export\n3. See the error" if type_ == "bug" else "",
            browser_info="Chrome 126 on macOS 14" if index % 2 else "Safari 17 on iOS 17",
            url="https://app.tourbrain.ai/tours/spring-2026",
            channel=channels[index % len(channels)],
            created_at=created_at,
        )
        if type_ == "feature_request":
            feature_requests.append(ticket)
        team_worker = {"engineering": "engineer@tourbrain.test", "billing": "billing@tourbrain.test"}.get(ticket.team)
        worker = ticket.assignee or staff.get(team_worker or "") or (rep if index % 2 else rep2)
        if status == "new":
            if index % 3 == 0:
                services.ticket_add_note(ticket=ticket, author=worker, body=randomness.choice(NOTES))
            continue
        if ticket.assignee is None:
            services.ticket_assign(ticket=ticket, assignee=worker, actor=lead)
        spent = now - created_at
        reply = services.ticket_reply(ticket=ticket, author=worker, body=randomness.choice(REPLIES))
        _backdate(ticket, reply, created_at + spent * 0.3)
        if index % 2:
            answer = services.ticket_reply(ticket=ticket, author=customer, body=randomness.choice(CUSTOMER_REPLIES))
            _backdate(ticket, answer, created_at + spent * 0.6)
        if index % 4 == 0:
            note = services.ticket_add_note(ticket=ticket, author=worker, body=randomness.choice(NOTES))
            _backdate(ticket, note, created_at + spent * 0.4)
        if status != "open":
            services.ticket_set_status(ticket=ticket, status=status if status != "closed" else "solved", actor=worker)
            if status == "closed":
                services.ticket_set_status(ticket=ticket, status="closed", actor=worker)
    # Two duplicates of "Dark mode" for the roadmap.
    dark = [ticket for ticket in feature_requests if "ark mode" in ticket.subject]
    if len(dark) >= 2:
        pm = staff.get("pm@tourbrain.test") or lead
        for duplicate in dark[1:]:
            services.ticket_merge_duplicate(duplicate=duplicate, original=dark[0], actor=pm)
    result = sla_sweep()
    _ensure_email_and_surveys(stdout)
    if stdout:
        stdout.write(
            f"Tickets demo data: {len(PLAN)} tickets, {len(result.warned)} in warning, "
            f"{len(result.breached)} breached and escalated."
        )


# Organizations' email domains: (domain, organization slug, verified). A new sender at backline.example.com joins
# Backline Booking (try `ingest_email`); roadcase.example.com waits for verification in the admin.
DEMO_EMAIL_DOMAINS = [
    ("backline.example.com", "backline-booking", True),
    ("roadcase.example.com", "roadcase-touring", False),
]
# NPS answers of this period: (email, score, why); customer@backline.test's survey stays unanswered.
DEMO_NPS = [
    ("beta@roadcase.test", 10, "Routing saves me a day per tour."),
    ("enterprise@arena.test", 9, ""),
    ("ops@backline.test", 7, "Good, but exports are slow."),
    ("agent@roadcase.test", 4, "The iCal feed broke twice this month."),
    ("customer@backline.test", None, ""),
]
# Beta feedback: (email, intent, plan, testimonial, consent, approved).
DEMO_BETA_FEEDBACK = [
    ("beta@roadcase.test", "yes", "professional", "TourBrain turned our routing week into an afternoon.", True, True),
    ("tm@backline.test", "maybe", "", "The day sheets are what my crew actually reads.", True, False),
]


def _ensure_email_and_surveys(stdout=None) -> None:
    """Email domains, NPS answers, beta feedback and a low CSAT rating (once each), and survey links to try."""
    from django.conf import settings

    from tickets import surveys
    from tickets.models import BetaFeedback, NpsSurvey, OrganizationEmailDomain, TicketSatisfaction

    now = timezone.now()
    for domain, slug, verified in DEMO_EMAIL_DOMAINS:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is not None and not OrganizationEmailDomain.objects.filter(domain=domain).exists():
            OrganizationEmailDomain.objects.create(
                organization=organization, domain=domain, verified_at=now if verified else None
            )
    people = {
        user.email: user for user in User.objects.filter(email__in=[row[0] for row in DEMO_NPS + DEMO_BETA_FEEDBACK])
    }
    period = surveys.nps_period(now.date())
    for email, score, comment in DEMO_NPS:
        person = people.get(email)
        if person is None:
            continue
        membership = Membership.objects.filter(user=person).first()
        NpsSurvey.objects.get_or_create(
            user=person,
            period=period,
            defaults={
                "organization_id": membership.organization_id if membership else None,
                "sent_at": now - timedelta(days=3),
                "score": score,
                "comment": comment,
                "answered_at": now - timedelta(days=2) if score is not None else None,
            },
        )
    lead = User.objects.filter(email="lead@tourbrain.test").first()
    round_name = surveys.feedback_round(now.date())
    for email, intent, plan, testimonial, consent, approved in DEMO_BETA_FEEDBACK:
        person = people.get(email)
        if person is None:
            continue
        membership = Membership.objects.filter(user=person).first()
        BetaFeedback.objects.get_or_create(
            user=person,
            round=round_name,
            defaults={
                "organization_id": membership.organization_id if membership else None,
                "conversion_intent": intent,
                "plan": plan,
                "testimonial": testimonial,
                "publish_consent": consent,
                "approved_at": now if approved else None,
                "approved_by": lead if approved else None,
            },
        )
    solved = list(
        Ticket.objects.filter(status=Ticket.Status.SOLVED, user__email__in=CORE_CUSTOMERS, satisfaction__isnull=True)
        .select_related("user")
        .order_by("pk")[:2]
    )
    if solved and not TicketSatisfaction.objects.filter(score__lte=surveys.LOW_RATING).exists():
        # A poor rating: the team lead's notification is in the outbox (/admin/).
        surveys.csat_rate_from_link(link=surveys.CsatLink(ticket=solved[0], score=2), comment="Took three days.")
    if stdout:
        lines = ["Survey links (no sign-in; the emails carry them):"]
        unrated = [ticket for ticket in solved if not TicketSatisfaction.objects.filter(ticket=ticket).exists()]
        if unrated:
            lines.append(f"  CSAT, rate {unrated[0].reference} 5/5: {surveys.csat_link(unrated[0], 5)}")
        open_survey = NpsSurvey.objects.filter(period=period, score__isnull=True).select_related("user").first()
        if open_survey is not None:
            lines.append(f"  NPS ({open_survey.user.email}): {surveys.nps_link(open_survey)}")
        beta_person = people.get("tm@backline.test")
        if beta_person is not None:
            lines.append(
                f"  Beta feedback ({beta_person.email}): {surveys.beta_feedback_link(beta_person, round_name)}"
            )
        if len(lines) > 1 and settings.SITE_URL:
            stdout.write("\n".join(lines))
