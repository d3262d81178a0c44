"""Satisfaction surveys by email: one-click CSAT links on the solve email, NPS surveys, beta feedback.

Every link is `django.core.signing` (salted per survey, timestamped, checked with a max age), so nobody
needs to sign in to answer and a tampered or expired link is refused with a clear page. The emails are
outbox rows written in the caller's transaction (one row per event, keyed by it).

- CSAT: the solve email carries five links, one per score, signed with the ticket and the solve they rate.
  Opening one records the rating through `customer_services.ticket_rate` (its rules: once per solve,
  changeable for 7 days); the same score again changes nothing. A link from an earlier solve is refused.
- NPS: `nps_surveys_send` (daily beat task, `manage.py send_surveys`) writes one survey per due customer:
  active customers NPS_FIRST_DAYS after signup, then every NPS_INTERVAL_DAYS, never twice within it.
  An admin may send one now (`nps_survey_send`, the NPS admin's action), still once per period.
- Beta feedback: `beta_feedback_request` emails a beta user a link to the form (conversion intent, plan,
  a testimonial with consent to publish); one answer per person per ISO week, changeable that week.
  Leads approve testimonials in the admin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.services import audit_record
from tickets import customer_selectors, customer_services, services
from tickets.customer_emails import UNDELIVERABLE_SUFFIXES, deliverable
from tickets.models import BetaFeedback, BouncingAddress, NpsSurvey, Team, Ticket, TicketSatisfaction
from tickets.notifications import ticket_url
from tourbrain_support.api import ApplicationError
from tourbrain_support.models import Membership, User
from tourbrain_support.notifications.builders import email_item
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import OutboxItem, outbox_enqueue_many
from tourbrain_support.roles import Role

logger = logging.getLogger(__name__)

# Outbox kinds (free text: no migration for a new one).
KIND_CSAT_LOW = "csat.low"  # to the team lead: a customer rated a ticket 1 or 2
KIND_NPS_SURVEY = "survey.nps"  # to a customer: the NPS survey
KIND_BETA_FEEDBACK = "survey.beta_feedback"  # to a beta user: the feedback form

CSAT_SALT = "tickets.csat"
NPS_SALT = "tickets.nps"
BETA_FEEDBACK_SALT = "tickets.beta_feedback"
LOW_RATING = 2
SCORE_LABELS = {5: "Excellent", 4: "Good", 3: "OK", 2: "Poor", 1: "Very poor"}
# NPS periods are counted from this day, NPS_INTERVAL_DAYS each: the period names the survey round.
PERIOD_EPOCH = date(2026, 1, 1)

# What a refused link says (the page shows it; the status is 400 for a bad link, 410 for one that is over).
LINK_PROBLEMS = {
    "bad": "This link is not valid. Please use the link from the email exactly as it was sent.",
    "expired": "This link has expired.",
    "stale": "This link belongs to an earlier email about this request. Please use the latest one.",
    "gone": "This link is no longer valid.",
}


class LinkProblem(Exception):
    """A survey link that cannot be used; `code` is a key of LINK_PROBLEMS."""

    def __init__(self, code: str):
        super().__init__(LINK_PROBLEMS[code])
        self.code = code
        self.message = LINK_PROBLEMS[code]


def _loads(token: str, *, salt: str, days: int):
    try:
        return signing.loads(token, salt=salt, max_age=timedelta(days=days))
    except signing.SignatureExpired:
        raise LinkProblem("expired") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise LinkProblem("bad") from None


def _stamp(instant: datetime | None) -> int:
    return int(instant.timestamp() * 1_000_000) if instant else 0


# --- CSAT ------------------------------------------------------------------------------------------


def csat_link(ticket: Ticket, score: int) -> str:
    token = signing.dumps([ticket.pk, score, _stamp(ticket.solved_at)], salt=CSAT_SALT)
    return settings.SITE_URL + reverse("tickets:csat_rate", args=[token])


def csat_links(ticket: Ticket) -> list[dict]:
    """The solve email's one-click links, best score first."""
    return [{"score": score, "label": label, "url": csat_link(ticket, score)} for score, label in SCORE_LABELS.items()]


@dataclass
class CsatLink:
    ticket: Ticket
    score: int


def csat_link_read(token: str) -> CsatLink:
    """The ticket and score a CSAT link names; LinkProblem when it is bad, expired or from an earlier solve."""
    value = _loads(token, salt=CSAT_SALT, days=settings.CSAT_LINK_DAYS)
    if not (isinstance(value, list) and len(value) == 3 and all(type(item) is int for item in value)):
        raise LinkProblem("bad")
    ticket_id, score, solved = value
    if score not in SCORE_LABELS:
        raise LinkProblem("bad")
    ticket = Ticket.objects.select_related("user", "satisfaction").filter(pk=ticket_id).first()
    if ticket is None or ticket.user is None or not ticket.user.is_active:
        raise LinkProblem("gone")
    if _stamp(ticket.solved_at) != solved:
        raise LinkProblem("stale")
    return CsatLink(ticket=ticket, score=score)


def csat_rate_from_link(*, link: CsatLink, score: int | None = None, comment: str | None = None) -> TicketSatisfaction:
    """Record the rating a link (or its page's form) gives, as the ticket's requester.

    The same score again, without a new comment, writes nothing (a second click, a mail scanner); any
    change goes through `ticket_rate`'s rules (ApplicationError 409 once the change window is over).
    """
    ticket = link.ticket
    score = link.score if score is None else score
    current = customer_selectors.ticket_rating(ticket)
    same_solve = current is not None and current.solved_at == ticket.solved_at
    if same_solve and current.score == score and (comment is None or comment.strip() == current.comment):
        return current
    keep = current.comment if same_solve and comment is None else (comment or "")
    return customer_services.ticket_rate(ticket=ticket, actor=ticket.user, score=score, comment=keep)


def notify_low_rating(ticket: Ticket, rating: TicketSatisfaction) -> list[OutboxMessage]:
    """A rating of 1-2: email the ticket's team lead (else every support lead), once per solve."""
    if rating.score > LOW_RATING:
        return []
    team = Team.objects.filter(slug=ticket.team).select_related("lead").first()
    leads = [team.lead] if team is not None and team.lead is not None and team.lead.is_active else []
    if not leads:
        leads = list(User.objects.filter(is_active=True, groups__name=Role.SUPPORT_LEAD).distinct().order_by("pk"))
    subject = f"[{ticket.reference}] Low satisfaction rating: {rating.score}/5"
    body = "\n".join(
        [
            f"{ticket.user.name or ticket.user.email if ticket.user else 'The customer'} rated "
            f"{ticket.reference} {rating.score}/5 ({SCORE_LABELS[rating.score].lower()}).",
            f"Comment: {rating.comment}" if rating.comment else "No comment (yet).",
            "",
            f"Ticket:    {ticket.reference} — {ticket.subject}",
            f"Assignee:  {ticket.assignee.name or ticket.assignee.email if ticket.assignee else 'nobody'}",
            f"Link:      {ticket_url(ticket)}",
            "",
            "— TourBrain Support",
        ]
    )
    stamp = _stamp(rating.solved_at)
    about = {"ticket": ticket.pk, "reference": ticket.reference}
    items = [
        email_item(KIND_CSAT_LOW, f"{KIND_CSAT_LOW}:{ticket.pk}:{stamp}:{lead.pk}", lead, subject, body, about)
        for lead in leads
        if lead.email
    ]
    return outbox_enqueue_many(items)


# --- NPS -------------------------------------------------------------------------------------------


def nps_period(day: date) -> date:
    """The first day of the NPS period `day` falls in."""
    interval = settings.NPS_INTERVAL_DAYS
    return PERIOD_EPOCH + timedelta(days=((day - PERIOD_EPOCH).days // interval) * interval)


def nps_link(survey: NpsSurvey) -> str:
    return settings.SITE_URL + reverse("tickets:nps_answer", args=[signing.dumps(survey.pk, salt=NPS_SALT)])


def nps_survey_read(token: str) -> NpsSurvey:
    value = _loads(token, salt=NPS_SALT, days=settings.NPS_LINK_DAYS)
    if type(value) is not int:
        raise LinkProblem("bad")
    survey = NpsSurvey.objects.select_related("user").filter(pk=value).first()
    if survey is None or not survey.user.is_active:
        raise LinkProblem("gone")
    return survey


def _customers() -> QuerySet[User]:
    """Active customers who can receive mail: no staff role, no bounced address."""
    bounced = BouncingAddress.objects.filter(address__iexact=OuterRef("email"))
    # The reserved names `deliverable` refuses, in SQL: a daily batch must not fill up with people it skips.
    reserved = Q()
    for suffix in UNDELIVERABLE_SUFFIXES:
        reserved |= Q(email__iendswith=suffix)
    return (
        User.objects.filter(is_active=True, is_staff=False, groups__isnull=True)
        .exclude(reserved)
        .exclude(Exists(bounced))
    )


def nps_due_customers(now: datetime | None = None) -> QuerySet[User]:
    """Customers due a survey: signed up NPS_FIRST_DAYS ago or more, none sent within NPS_INTERVAL_DAYS."""
    return _due(_customers(), now or timezone.now()).order_by("pk")


def _due(people: QuerySet[User], now: datetime) -> QuerySet[User]:
    recent = NpsSurvey.objects.filter(user=OuterRef("pk"), sent_at__gt=now - timedelta(days=settings.NPS_INTERVAL_DAYS))
    return people.filter(date_joined__lte=now - timedelta(days=settings.NPS_FIRST_DAYS)).exclude(Exists(recent))


def _due_in_widget(user: User, now: datetime) -> bool:
    """Due on the schedule, asked in the widget: any active customer (the address need not take mail)."""
    customer = User.objects.filter(pk=user.pk, is_active=True, is_staff=False, groups__isnull=True)
    return _due(customer, now).exists()


def nps_surveys_send(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send the survey to every due customer (up to `limit` a run; the next run takes the rest). Idempotent."""
    now = now or timezone.now()
    sent = 0
    for person in nps_due_customers(now)[:limit]:
        if nps_survey_send(user=person, now=now) is not None:
            sent += 1
    return sent


@transaction.atomic
def nps_survey_send(
    *, user: User, now: datetime | None = None, source: str = NpsSurvey.Source.SCHEDULE, actor: User | None = None
) -> NpsSurvey | None:
    """One survey for the person's current period and its email; None when they already have this period's
    survey or cannot receive mail."""
    now = now or timezone.now()
    if not user.is_active or not deliverable(user.email):
        return None
    period = nps_period(now.date())
    membership = Membership.objects.filter(user=user).order_by("pk").first()
    try:
        with transaction.atomic():
            survey = NpsSurvey.objects.create(
                user=user,
                organization_id=membership.organization_id if membership else None,
                period=period,
                source=source,
                sent_at=now,
            )
    except IntegrityError:
        return None  # this period's survey exists (a rerun, or a concurrent send)
    context = {"name": user.get_short_name() if user.name else "", "link": nps_link(survey), "scores": range(11)}
    _survey_email(
        user,
        kind=KIND_NPS_SURVEY,
        key=f"{KIND_NPS_SURVEY}:{survey.pk}",
        template="survey_nps",
        context=context,
        subject="How likely are you to recommend TourBrain?",
    )
    if actor is not None:
        audit_record(
            actor=actor,
            action="create",
            resource_type="nps_survey",
            resource_id=survey.pk,
            changes={"operation": "nps_send", "user": user.pk},
        )
    return survey


@transaction.atomic
def nps_answer(*, survey: NpsSurvey, score: int, comment: str = "") -> NpsSurvey:
    """Store the answer (0-10 and why); answering again within the link's life replaces it."""
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10:
        message = "A whole number from 0 to 10."
        raise ApplicationError("The score must be from 0 to 10.", code="invalid", fields={"score": [message]})
    comment = services._check_text(comment, "comment", max_length=5000, required=False)
    survey = NpsSurvey.objects.select_for_update().get(pk=survey.pk)
    survey.score, survey.comment, survey.answered_at = score, comment, timezone.now()
    survey.save(update_fields=["score", "comment", "answered_at"])
    return survey


NPS_QUESTION = "How likely are you to recommend TourBrain to a friend or colleague?"


def nps_open_survey(*, user: User, now: datetime | None = None) -> NpsSurvey | None:
    """The survey the person may answer now: their latest unanswered one still within NPS_LINK_DAYS."""
    now = now or timezone.now()
    return (
        NpsSurvey.objects.filter(
            user=user, answered_at__isnull=True, sent_at__gte=now - timedelta(days=settings.NPS_LINK_DAYS)
        )
        .order_by("-sent_at", "-pk")
        .first()
    )


def nps_widget_offer(*, user: User, now: datetime | None = None) -> bool:
    """Whether the widget offers the survey: one is open (sent by email, unanswered), or the person is due
    one on the schedule (the widget then asks before the email goes out)."""
    now = now or timezone.now()
    return nps_open_survey(user=user, now=now) is not None or _due_in_widget(user, now)


@transaction.atomic
def nps_answer_in_widget(*, user: User, score: int, comment: str = "", now: datetime | None = None) -> NpsSurvey:
    """The widget's answer: stored on the open survey, or on this period's survey made now for a person
    who is due one (so the scheduled email is not sent after it). Stored by `nps_answer`, as from the email
    link. 409 `no_survey` when the person has none to answer."""
    now = now or timezone.now()
    survey = nps_open_survey(user=user, now=now)
    if survey is None and _due_in_widget(user, now):
        membership = Membership.objects.filter(user=user).order_by("pk").first()
        survey, _created = NpsSurvey.objects.get_or_create(
            user=user,
            period=nps_period(now.date()),
            defaults={
                "organization_id": membership.organization_id if membership else None,
                "source": NpsSurvey.Source.SCHEDULE,  # the schedule made it due; the widget delivered it
                "sent_at": now,
            },
        )
        if survey.answered_at is not None:
            survey = None
    if survey is None:
        raise ApplicationError("There is no survey for you to answer right now.", code="no_survey", status=409)
    return nps_answer(survey=survey, score=score, comment=comment)


# --- beta feedback ---------------------------------------------------------------------------------


def feedback_round(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def beta_feedback_link(user: User, round_name: str) -> str:
    token = signing.dumps([user.pk, round_name], salt=BETA_FEEDBACK_SALT)
    return settings.SITE_URL + reverse("tickets:beta_feedback", args=[token])


@dataclass
class FeedbackLink:
    user: User
    round: str


def beta_feedback_link_read(token: str) -> FeedbackLink:
    value = _loads(token, salt=BETA_FEEDBACK_SALT, days=settings.BETA_FEEDBACK_LINK_DAYS)
    if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int and isinstance(value[1], str)):
        raise LinkProblem("bad")
    user = User.objects.filter(pk=value[0], is_active=True).first()
    if user is None:
        raise LinkProblem("gone")
    return FeedbackLink(user=user, round=value[1])


def beta_feedback_request(*, users: list[User], now: datetime | None = None, actor: User | None = None) -> int:
    """Email each beta user the feedback form for this week (after the weekly call, or on demand); once a week."""
    now = now or timezone.now()
    round_name = feedback_round(now.date())
    items = []
    for person in users:
        if not person.is_active or not deliverable(person.email):
            continue
        context = {
            "name": person.get_short_name() if person.name else "",
            "link": beta_feedback_link(person, round_name),
        }
        items.append(
            _survey_item(
                person,
                kind=KIND_BETA_FEEDBACK,
                key=f"{KIND_BETA_FEEDBACK}:{person.pk}:{round_name}",
                template="survey_beta_feedback",
                context=context,
                subject="Your TourBrain beta: two quick questions",
            )
        )
    with transaction.atomic():
        created = outbox_enqueue_many(items)
        if actor is not None and created:
            audit_record(
                actor=actor,
                action="create",
                resource_type="beta_feedback_request",
                resource_id=None,
                changes={"round": round_name, "users": [item.payload.get("user") for item in created]},
            )
    return len(created)


@transaction.atomic
def beta_feedback_submit(
    *, link: FeedbackLink, conversion_intent: str, plan: str = "", testimonial: str = "", publish_consent: bool = False
) -> BetaFeedback:
    """Store (or, the same week, replace) a beta user's feedback. A changed testimonial needs approving again."""
    services._check_choice(conversion_intent, BetaFeedback.Intent, "conversion_intent")
    plan = services._check_text(plan, "plan", max_length=20, required=False)
    testimonial = services._check_text(testimonial, "testimonial", max_length=5000, required=False)
    membership = Membership.objects.filter(user=link.user).order_by("pk").first()
    now = timezone.now()
    feedback, created = BetaFeedback.objects.select_for_update().get_or_create(
        user=link.user,
        round=link.round,
        defaults={"conversion_intent": conversion_intent, "created_at": now},
    )
    if not created and (feedback.testimonial != testimonial or feedback.publish_consent != publish_consent):
        feedback.approved_at, feedback.approved_by = None, None
    feedback.organization_id = membership.organization_id if membership else None
    feedback.conversion_intent, feedback.plan = conversion_intent, plan
    feedback.testimonial, feedback.publish_consent = testimonial, bool(publish_consent and testimonial)
    feedback.updated_at = now
    feedback.save()
    return feedback


@transaction.atomic
def testimonial_approve(*, feedback: BetaFeedback, actor: User) -> BetaFeedback:
    """A lead approves a testimonial for publishing; only one given with consent can be approved. Audited."""
    if not feedback.testimonial or not feedback.publish_consent:
        raise ApplicationError("Only a testimonial given with consent to publish can be approved.", code="no_consent")
    if feedback.approved_at is None:
        feedback.approved_at, feedback.approved_by = timezone.now(), actor
        feedback.save(update_fields=["approved_at", "approved_by"])
        audit_record(
            actor=actor,
            action="update",
            resource_type="beta_feedback",
            resource_id=feedback.pk,
            changes={"operation": "testimonial_approve"},
        )
    return feedback


# --- composing -------------------------------------------------------------------------------------


def _survey_item(person: User, *, kind: str, key: str, template: str, context: dict, subject: str) -> OutboxItem:
    return OutboxItem(
        kind=kind,
        channel=OutboxMessage.Channel.EMAIL,
        recipient=person.email,
        subject=subject,
        body=render_to_string(f"tickets/email/{template}.txt", context),
        html_body=render_to_string(f"tickets/email/{template}.html", context),
        idempotency_key=key,
        # Automatic mail: autoresponders must not answer it (RFC 3834).
        payload={"user": person.pk, "email_headers": {"Auto-Submitted": "auto-generated"}},
    )


def _survey_email(person: User, **kwargs) -> list[OutboxMessage]:
    return outbox_enqueue_many([_survey_item(person, **kwargs)])


def beta_users(organization_ids: list[int] | None = None) -> QuerySet[User]:
    """Active beta users who can get mail (the cohort, or members of the given beta organizations)."""
    people = _customers()
    if organization_ids is not None:
        return people.filter(memberships__organization_id__in=organization_ids).distinct()
    return people.filter(Q(is_beta=True) | Q(memberships__organization__beta_profile__is_active=True)).distinct()
