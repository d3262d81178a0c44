"""Paging the on-call: SMS, email and Slack `alerts`, climbing primary -> secondary -> escalation contacts.

`page_oncall` writes the page and its notifications (outbox rows) in one transaction and is a no-op for a
key already paged. Escalation is set-based and idempotent: the beat task takes pages whose `escalate_at`
has passed under `FOR UPDATE SKIP LOCKED` and moves each one level up with a conditional UPDATE, so two
beats at once page each level once. Every notification's idempotency key names the page, level and
recipient, so a rerun after a crash sends nothing twice.

Each email and SMS carries a signed, expiring link (django.core.signing) naming the page and the person
paged; opening it shows Acknowledge / Resolve buttons (a mail scanner's GET changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from tourbrain_support.api import ApplicationError
from tourbrain_support.notifications.builders import slack_enabled
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import OutboxItem, outbox_enqueue_many
from tourbrain_support.oncall.models import EscalationContact, Page
from tourbrain_support.oncall.rotation import active_rotations, rotations_for_labels
from tourbrain_support.oncall.selectors import oncall_now
from tourbrain_support.recorders import record_action

LINK_SALT = "oncall.page-link"
SLACK_ALERTS = "alerts"
KIND_PAGE = "oncall.page"
KIND_PAGE_STATE = "oncall.page_state"
SMS_LIMIT = 320  # two SMS segments; the link must fit


@dataclass(frozen=True)
class Target:
    """One person paged at a level."""

    name: str
    email: str
    phone: str
    user_id: int | None
    support_url: str = ""


def escalate_after() -> timedelta:
    return timedelta(minutes=settings.ONCALL_ESCALATE_MINUTES)


def sms_enabled() -> bool:
    return bool(settings.SMS_API_URL and settings.SMS_ACCOUNT_SID and settings.SMS_FROM)


# --- signed links ----------------------------------------------------------------------------------------


def page_link_token(page: Page, target: Target) -> str:
    return signing.dumps({"page": page.pk, "user": target.user_id, "name": target.name}, salt=LINK_SALT)


def page_link_url(page: Page, target: Target) -> str:
    return settings.SITE_URL + reverse("oncall:page_link", args=[page_link_token(page, target)])


def page_link_read(token: str) -> tuple[Page, dict]:
    """The page a link names and who it was sent to; ApplicationError when forged or expired."""
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=timedelta(hours=settings.ONCALL_LINK_HOURS))
    except signing.SignatureExpired as error:
        raise ApplicationError("This link has expired; open the page from the on-call page.", code="expired") from error
    except signing.BadSignature as error:
        raise ApplicationError("This link is not valid.", code="bad_link", status=404) from error
    page = Page.objects.filter(pk=data.get("page")).first()
    if page is None:
        raise ApplicationError("This page no longer exists.", code="not_found", status=404)
    return page, data


# --- targets ---------------------------------------------------------------------------------------------


def _person(responder) -> Target | None:
    if responder is None:
        return None
    user = responder.user
    return Target(name=str(responder), email=user.email, phone=responder.phone, user_id=user.pk)


def _loaded_rotation(page: Page):
    """The page's rotation with its members, if it is still active (an inactive one pages nobody more)."""
    if page.rotation_id is None:
        return None
    return next((rotation for rotation in active_rotations() if rotation.pk == page.rotation_id), None)


def targets_for_level(level: int, at: datetime, rotation=None) -> list[Target]:
    if level == Page.Level.ESCALATION:
        return [
            Target(
                name=contact.name,
                email=contact.email,
                phone=contact.phone,
                user_id=None,
                support_url=contact.support_url,
            )
            for contact in EscalationContact.objects.filter(is_active=True)
        ]
    if rotation is None:
        return []
    primary, secondary = oncall_now(at, rotation=rotation)
    person = _person(primary if level == Page.Level.PRIMARY else secondary)
    return [person] if person else []


# --- notifications ---------------------------------------------------------------------------------------


def _page_items(page: Page, level: int, targets: list[Target]) -> list[OutboxItem]:
    items = []
    level_name = Page.Level(level).label.lower()
    for target in targets:
        link = page_link_url(page, target)
        key = f"oncall-page:{page.pk}:{level}:{target.user_id or target.name}"
        payload = {"page_id": page.pk, "level": level}
        lines = [page.title, "", page.body, "", f"Severity: {page.severity}. You are paged as {level_name}."]
        if page.url:
            lines.append(f"Alert: {page.url}")
        if target.support_url:
            lines.append(f"Provider support: {target.support_url}")
        lines += [
            "",
            f"Acknowledge or resolve: {link}",
            f"Unacknowledged pages go to the next person after {settings.ONCALL_ESCALATE_MINUTES} minutes.",
        ]
        if target.email:
            items.append(
                OutboxItem(
                    kind=KIND_PAGE,
                    channel=OutboxMessage.Channel.EMAIL,
                    recipient=target.email,
                    subject=f"[PAGE {page.severity.upper()}] {page.title}",
                    body="\n".join(lines),
                    idempotency_key=f"{key}:email",
                    payload=payload,
                )
            )
        if target.phone and sms_enabled():
            head = f"TourBrain {page.severity.upper()}: {page.title}"
            room = SMS_LIMIT - len(link) - 6
            items.append(
                OutboxItem(
                    kind=KIND_PAGE,
                    channel=OutboxMessage.Channel.SMS,
                    recipient=target.phone,
                    subject="",
                    body=f"{head[:room]} Ack: {link}",
                    idempotency_key=f"{key}:sms",
                    payload=payload,
                )
            )
    if slack_enabled(SLACK_ALERTS):
        names = ", ".join(target.name for target in targets) or "nobody (no one configured)"
        items.append(
            OutboxItem(
                kind=KIND_PAGE,
                channel=OutboxMessage.Channel.SLACK,
                recipient=SLACK_ALERTS,
                subject=f"[{page.severity.upper()}] {page.title}",
                body=f"Paging {level_name}: {names}.\n{page.body}\n{_page_url(page)}".strip(),
                idempotency_key=f"oncall-page:{page.pk}:{level}:slack",
                payload={"page_id": page.pk, "level": level},
            )
        )
    return items


def _page_url(page: Page) -> str:
    return settings.SITE_URL + reverse("oncall:page_detail", args=[page.pk])


def _state_slack(page: Page, text: str) -> None:
    if slack_enabled(SLACK_ALERTS):
        outbox_enqueue_many(
            [
                OutboxItem(
                    kind=KIND_PAGE_STATE,
                    channel=OutboxMessage.Channel.SLACK,
                    recipient=SLACK_ALERTS,
                    subject=f"{page.title}: {page.get_status_display().lower()}",
                    body=f"{text}\n{_page_url(page)}",
                    idempotency_key=f"oncall-page:{page.pk}:{page.status}:slack",
                    payload={"page_id": page.pk},
                )
            ]
        )


def _page_level(page: Page, level: int, now: datetime, rotation=None) -> None:
    """Notify one level of the page's rotation; a level with nobody configured is skipped at once."""
    if rotation is None and level < Page.Level.ESCALATION:
        rotation = _loaded_rotation(page)
    while True:
        targets = targets_for_level(level, now, rotation)
        if targets or level == Page.Level.ESCALATION:
            break
        level += 1
    page.level = level
    page.escalate_at = now + escalate_after() if level < Page.Level.ESCALATION else None
    page.paged = [*page.paged, *({"level": level, "name": t.name, "email": t.email, "phone": t.phone} for t in targets)]
    page.save(update_fields=["level", "escalate_at", "paged"])
    outbox_enqueue_many(_page_items(page, level, targets))


# --- services --------------------------------------------------------------------------------------------


@transaction.atomic
def page_oncall(
    *, key: str, severity: str, title: str, body: str, url: str, labels: dict[str, str] | None = None
) -> Page:
    """Page the primary (SMS, email, Slack `alerts`) of every active rotation the alert's labels select (all
    active rotations when none is selected), each page escalating on its own; returns the first page. Paging
    the same key again pages nobody twice (each rotation's page is keyed `<key>@<rotation id>`)."""
    if not key:
        raise ApplicationError("A page needs a key.", fields={"key": ["This field is required."]})
    now = timezone.now()
    alert_key = key[:180]
    earlier = Page.objects.filter(key=alert_key).first()
    if earlier is not None:  # paged before pages had rotations, or when there was none: nobody is paged twice
        return earlier
    rotations = rotations_for_labels(active_rotations(), labels or {}) or [None]
    pages = []
    for rotation in rotations:
        page, created = Page.objects.get_or_create(
            key=alert_key if rotation is None else f"{alert_key}@{rotation.pk}",
            defaults={
                "alert_key": alert_key,
                "rotation": rotation,
                "severity": severity,
                "title": title[:200],
                "body": body,
                "url": url[:500],
                "created_at": now,
            },
        )
        pages.append(page)
        if not created:
            continue
        # A concurrent caller with the same key waited on the unique index and found this page above.
        _page_level(page, Page.Level.PRIMARY, now, rotation)
        record_action(
            actor=None,
            action="create",
            resource_type="oncall_page",
            resource_id=page.pk,
            changes={"key": page.key, "severity": severity, "rotation": str(rotation or ""), "paged": page.paged},
        )
    return pages[0]


def pages_escalate_due(now: datetime | None = None) -> int:
    """Page the next level of every open page past its `escalate_at`; returns how many moved up."""
    now = now or timezone.now()
    moved = 0
    with transaction.atomic():
        due = list(
            Page.objects.select_for_update(skip_locked=True)
            .filter(status=Page.Status.OPEN, escalate_at__lte=now)
            .order_by("escalate_at")[:100]
        )
        for page in due:
            _page_level(page, page.level + 1, now)
            record_action(
                actor=None,
                action="update",
                resource_type="oncall_page",
                resource_id=page.pk,
                changes={"escalated_to": Page.Level(page.level).label},
            )
            moved += 1
    return moved


@transaction.atomic
def page_acknowledge(page: Page, by, *, via: str = "page", name: str = "", request=None) -> Page:
    """Stop the escalation; the person who acknowledged is recorded and audited. No-op unless open."""
    page = Page.objects.select_for_update().get(pk=page.pk)
    if page.status != Page.Status.OPEN:
        return page
    who = str(by) if by is not None else (name or "someone")
    return _page_close_step(page, Page.Status.ACKNOWLEDGED, "acknowledged", by, who=who, via=via, request=request)


@transaction.atomic
def page_resolve(key: str, *, by=None, via: str = "alert", name: str = "", request=None) -> Page | None:
    """Close the page of `key`, or every rotation's page of the alert `key` (the alert resolved, or someone
    resolved it); no-op for pages absent or resolved. Returns the first of them."""
    pages = list(Page.objects.select_for_update().filter(Q(key=key) | Q(alert_key=key)).order_by("pk"))
    who = str(by) if by is not None else (name or "the alert")
    for page in pages:
        if page.status != Page.Status.RESOLVED:
            _page_close_step(page, Page.Status.RESOLVED, "resolved", by, who=who, via=via, request=request)
    return pages[0] if pages else None


def _page_close_step(page: Page, status: str, step: str, by, *, who: str, via: str, request) -> Page:
    """Acknowledge or resolve a locked page: stop its escalation, record who and when, audit, tell Slack."""
    page.status = status
    setattr(page, f"{step}_at", timezone.now())
    setattr(page, f"{step}_by", by if getattr(by, "pk", None) else None)
    page.escalate_at = None
    page.save(update_fields=["status", f"{step}_at", f"{step}_by", "escalate_at"])
    record_action(
        actor=getattr(page, f"{step}_by"),
        action="update",
        resource_type="oncall_page",
        resource_id=page.pk,
        changes={"status": page.status, "via": via, "by": who},
        request=request,
    )
    _state_slack(page, f"{step.capitalize()} by {who}.")
    return page
