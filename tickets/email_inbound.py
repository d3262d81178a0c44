"""Inbound email: one raw RFC 5322 message becomes a new ticket, a reply on an existing one, or nothing.

`email_ingest(raw)` is the single entry point (fed by `manage.py ingest_email`). In order it:

1. parses the bytes (stdlib `email`, `policy.default`: charsets and encoded headers decoded); a message
   it cannot read or store goes to the quarantine (`QuarantinedEmail`, raw bytes kept, reason shown);
2. recognises a message it already has (same Message-ID) and creates nothing;
3. refuses, without answering, our own outgoing mail, bounces (a delivery report of our mail marks the
   recipient's address as bouncing), auto-replies and bulk mail, and senders over the hourly rate limit;
4. finds the ticket: our Message-ID in In-Reply-To/References, then the per-ticket plus-address, then a
   reference in the subject; a sender who is neither the requester nor in the ticket's organization,
   or a ticket that can no longer take replies, gets a new ticket instead;
5. keeps only the new text of a reply (quoted history stripped by `mail-parser-reply`), converts
   HTML-only mail to text, keeps attachments within the ticket limits and notes the refused ones
   (winmail.dat, oversize, types not allowed) on the ticket. The full original stays on `TicketEmail.raw`.

An unknown sender becomes a customer; one whose address is at an organization's verified email domain
(`OrganizationEmailDomain`) joins that organization, so its tier and SLA apply from the first message.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import functools
import hashlib
import html
import io
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage

import nh3
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Upper
from django.utils import timezone
from mailparser_reply import EmailReplyParser

from audit.services import audit_record
from tickets import services
from tickets.batch_scope import batch_known, batch_prime, batch_scope
from tickets.customer_emails import deliverable, notify_customer_ticket_created
from tickets.models import (
    BouncingAddress,
    OrganizationEmailDomain,
    QuarantinedEmail,
    Ticket,
    TicketEmail,
    TicketMessage,
)
from tickets.models.tickets import reference_for
from tourbrain_support.api import ApplicationError
from tourbrain_support.models import Membership, User
from tourbrain_support.notifications.outbox import outbox_deferred_delivery

logger = logging.getLogger(__name__)

REFERENCE_RE = re.compile(r"\bTB-(\d{1,9})\b", re.IGNORECASE)
MESSAGE_ID_RE = re.compile(r"<([^<>\s]+)>")
AUTO_PRECEDENCE = {"bulk", "junk", "list"}
# Transport-neutral encapsulated format: Outlook's private attachment wrapper, unreadable elsewhere.
TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "ja", "sv", "pl"]
NO_TEXT = "(The email had no text.)"
# Outlook's separator line above the quoted message ("-----Original Message-----" in the sender's
# language), left behind when the parser cuts at the header block under it.
ORIGINAL_MESSAGE_RE = re.compile(r"\n-{3,}\s*[^\n-][^\n]{0,60}?\s*-{3,}\s*$")


@dataclass
class IngestResult:
    """What became of one message: `ticket`, `reply`, `duplicate`, `refused` or `quarantined`."""

    outcome: str
    reason: str = ""
    ticket: Ticket | None = None
    notes: list[str] = field(default_factory=list)


class _RepeatedHeadersPolicy(email.policy.EmailPolicy):
    """`policy.default` that parses each distinct MIME structure header once. The stdlib parses a header
    again on every read, and finding a multipart message's body and attachments reads each part's
    Content-Type and Content-Disposition a dozen times; parsed headers are immutable, so equal values
    share one."""

    def header_fetch_parse(self, name, value):
        if hasattr(value, "name") or name.lower() not in _REPEATED_HEADERS:
            return super().header_fetch_parse(name, value)
        return _parsed_header(self.header_factory, name, value)


# The MIME structure headers read over and over (and alike across messages); no personal data among them.
_REPEATED_HEADERS = {"content-type", "content-disposition", "content-transfer-encoding"}


@functools.lru_cache(maxsize=1024)
def _parsed_header(factory, name: str, value: str):
    return factory(name, "".join(email.policy.linesep_splitter.split(value)))


INBOUND_POLICY = _RepeatedHeadersPolicy()


class Quarantine(Exception):
    """The message cannot become a ticket or a reply; kept for an admin with this reason."""


_UNKNOWN = object()


# --- entry point -------------------------------------------------------------------------------------


def email_ingest(raw: bytes, *, quarantine: bool = True) -> IngestResult:
    """Turn one raw message into a ticket or a reply (see the module docstring); never raises for bad mail."""
    try:
        if len(raw) > settings.EMAIL_INBOUND_MAX_BYTES:
            raise Quarantine(f"The message is {len(raw)} bytes; the limit is {settings.EMAIL_INBOUND_MAX_BYTES}.")
        message = email.message_from_bytes(raw, policy=INBOUND_POLICY)
        return _ingest(message, raw)
    except Quarantine as error:
        return _quarantine(raw, str(error), keep=quarantine)
    except IntegrityError:
        # The same message stored concurrently by another ingest: it exists now.
        return IngestResult("duplicate", "already ingested")
    except Exception as error:  # a malformed message must never stop the intake of the next one
        logger.exception("email intake: message could not be ingested")
        return _quarantine(raw, f"{type(error).__name__}: {error}", keep=quarantine)


def _quarantine(raw: bytes, reason: str, *, keep: bool) -> IngestResult:
    if keep:
        message_id, sender, subject = _summary(raw)
        QuarantinedEmail.objects.create(
            raw=raw, message_id=message_id[:255], sender=sender[:254], subject=subject[:255], reason=reason
        )
    logger.warning("email intake: quarantined", extra={"reason": reason[:300]})
    return IngestResult("quarantined", reason)


def _summary(raw: bytes) -> tuple[str, str, str]:
    """Best-effort headers of a message that failed (the admin list shows them)."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        return tuple(str(message.get(name, "") or "") for name in ("Message-ID", "From", "Subject"))  # type: ignore[return-value]
    except Exception:
        return "", "", ""


# --- many messages (an mbox, a maildir) --------------------------------------------------------------


def email_ingest_many(raws: Iterable[bytes], *, batch_size: int | None = None) -> Iterator[IngestResult]:
    """`email_ingest` for each message, `batch_size` messages (EMAIL_INGEST_BATCH) per transaction.

    A batch reads what its messages need in a few queries (which Message-IDs exist, each sender's count of
    the last hour, the senders' accounts, organizations, email domains and bounces, the tickets named in
    subjects), files them in one transaction and hands the acknowledgements to delivery at its commit.
    The outcomes are those of `email_ingest` one by one: a message seen twice (even within the batch)
    creates nothing, and when any message fails in a way that spoils the transaction (a database error,
    a sender refused after the intake started writing), the batch is rolled back and its messages are
    ingested again one per transaction, so the bad one is quarantined and none of the others is lost.
    """
    size = max(1, batch_size or settings.EMAIL_INGEST_BATCH)
    batch: list[bytes] = []
    for raw in raws:
        batch.append(raw)
        if len(batch) >= size:
            yield from _ingest_batch(batch)
            batch = []
    if batch:
        yield from _ingest_batch(batch)


class _BatchSpoiled(Exception):
    """A message failed inside the batch's transaction: roll it back, go one by one."""


def _ingest_batch(raws: list[bytes]) -> list[IngestResult]:
    if len(raws) == 1:
        return [email_ingest(raws[0])]
    try:
        # Inside a caller's transaction, a savepoint: rolled back alone when the batch goes one by one.
        with transaction.atomic(), batch_scope(), outbox_deferred_delivery():
            batch_prime("intake_batch", True)
            batch_prime("sla_batch", True)
            parsed = [_parse_for_batch(raw) for raw in raws]
            _prefetch_batch([(raw, message) for raw, message in zip(raws, parsed, strict=True) if message is not None])
            batch_prime("pending_emails", [])
            results = [_ingest_in_batch(raw, message) for raw, message in zip(raws, parsed, strict=True)]
            # A Message-ID stored meanwhile by a concurrent intake fails here: the batch goes one by one.
            TicketEmail.objects.bulk_create(batch_known("pending_emails"))
            return results
    except Exception as error:
        logger.info(
            "email intake: batch rolled back, its messages ingested one by one",
            extra={"messages": len(raws), "error": f"{type(error).__name__}: {error}"[:300]},
        )
        return [email_ingest(raw) for raw in raws]


def _parse_for_batch(raw: bytes) -> EmailMessage | None:
    if len(raw) > settings.EMAIL_INBOUND_MAX_BYTES:
        return None
    try:
        return email.message_from_bytes(raw, policy=INBOUND_POLICY)
    except Exception:
        return None  # quarantined by the one-message path, which says why


def _ingest_in_batch(raw: bytes, message: EmailMessage | None) -> IngestResult:
    if message is None:
        raise _BatchSpoiled("a message is too large or cannot be parsed")
    try:
        return _ingest(message, raw)
    except Quarantine as error:
        if connection.needs_rollback:
            raise _BatchSpoiled(str(error)) from error
        return _quarantine(raw, str(error), keep=True)


def _prefetch_batch(pairs: list[tuple[bytes, EmailMessage]]) -> None:
    """What the batch's messages would each look up, read at once and kept in the batch scope."""
    messages = [message for _raw, message in pairs]
    message_ids = [_message_id(message, raw) for raw, message in pairs]
    addresses = set()
    for message in messages:
        with contextlib.suppress(Quarantine):  # a sender without an address is quarantined on its turn
            addresses.add(_sender(message)[1])
    seen = set(TicketEmail.objects.filter(message_id__in=message_ids).values_list("message_id", flat=True))
    for message_id in message_ids:
        batch_prime(("seen", message_id), message_id in seen)
    sent = (
        TicketEmail.objects.filter(
            direction=TicketEmail.Direction.INBOUND,
            sender__in=addresses,
            created_at__gte=timezone.now() - timedelta(hours=1),
        )
        .values("sender")
        .annotate(count=Count("pk"))
    )
    for row in sent:
        batch_prime(("sent", row["sender"]), row["count"])
    upper = [address.upper() for address in addresses]
    people = {address: None for address in addresses}
    for person in _people_query().annotate(email_upper=Upper("email")).filter(email_upper__in=upper):
        _known_roles(person)
        people[person.email.lower()] = person
    for address, person in people.items():
        batch_prime(("person", address), person)
    organizations: dict[int, list] = {person.pk: [] for person in people.values() if person is not None}
    memberships = Membership.objects.filter(user_id__in=list(organizations)).select_related("organization")
    for membership in memberships.order_by("pk"):
        organizations[membership.user_id].append(membership.organization)
    for user_id, found in organizations.items():
        batch_prime(("organizations", user_id), found[:2])
    new_senders = [address for address, person in people.items() if person is None]
    candidates = {domain for address in new_senders for domain in _candidate_domains(address)}
    domains = OrganizationEmailDomain.objects.filter(domain__in=candidates, verified_at__isnull=False)
    batch_prime("verified_domains", {row.domain: row.organization for row in domains.select_related("organization")})
    bouncing = set(
        BouncingAddress.objects.annotate(address_upper=Upper("address"))
        .filter(address_upper__in=upper)
        .values_list("address", flat=True)
    )
    bouncing = {address.lower() for address in bouncing}
    for address in addresses:
        batch_prime(("bouncing", address), address in bouncing)
    references = set()
    for message in messages:
        if found := REFERENCE_RE.search(_subject(message)):
            references.add(reference_for(int(found.group(1))))
    for ticket in Ticket.objects.filter(reference__in=references):
        batch_prime(("ticket", ticket.reference), ticket)


def _batch_recorded(message_id: str, address: str) -> None:
    """The batch's own view of what it wrote: this Message-ID is now known, the sender sent one more."""
    if batch_known("intake_batch", False):
        batch_prime(("seen", message_id), True)
        batch_prime(("sent", address), batch_known(("sent", address), 0) + 1)


def _ingest(message: EmailMessage, raw: bytes) -> IngestResult:
    message_id = _message_id(message, raw)
    try:
        known_sender = _sender(message)[1]
    except Quarantine:
        known_sender = None  # decided below, after the checks that come first
    duplicate, sent = _seen_and_sent(message_id, known_sender)
    if duplicate:
        return IngestResult("duplicate", "already ingested")
    if refusal := _refusal(message):
        return IngestResult("refused", refusal)
    name, address = _sender(message)
    if sent >= settings.EMAIL_INBOUND_RATE_LIMIT:
        return IngestResult("refused", f"{address} sent more than {settings.EMAIL_INBOUND_RATE_LIMIT} messages an hour")
    text, is_html = _body_text(message)
    uploads, notes = _attachments(message)
    subject = _subject(message)
    # In a batch (`email_ingest_many`) the batch's transaction is the only one: no savepoint per message.
    with transaction.atomic(savepoint=not batch_known("intake_batch", False)):
        person = _customer(address, name)
        ticket = _thread_ticket(message, person)
        if ticket is not None:
            try:
                # Atomic itself: a refusal rolls back to its savepoint and this transaction carries on.
                entry = services.ticket_reply(
                    ticket=ticket, author=person, body=_new_text(text) or NO_TEXT, attachments=uploads
                )
            except ApplicationError as error:
                # Closed, or solved beyond the reopen window: the customer gets a fresh ticket.
                notes.append(f"Sent as a reply to {ticket.reference}, which could not take it: {error.message}")
                ticket = None
            else:
                _record(ticket, entry, message_id, address, subject, raw)
                _add_notes(ticket, notes)
                _batch_recorded(message_id, address)
                return IngestResult("reply", ticket=ticket, notes=notes)
        ticket = services.ticket_create(
            requester=person,
            organization=_organization_of(person),
            type=Ticket.Type.QUESTION,
            priority=Ticket.Priority.MEDIUM,
            subject=subject or "(no subject)",
            description=text.strip() or NO_TEXT,
            channel=Ticket.Channel.EMAIL,
            actor=person,
            acknowledge=False,
        )
        entry = None
        if uploads:
            entry = services._add_message(
                ticket=ticket,
                author=person,
                body="Files sent with the email.",
                internal=False,
                staff=False,
                attachments=uploads,
                now=ticket.created_at,
            )
        _record(ticket, entry, message_id, address, subject, raw)
        _add_notes(ticket, notes + (["The email had no plain-text part; its HTML was converted."] if is_html else []))
        _batch_recorded(message_id, address)
        # The acknowledgement's thread is this one message (In-Reply-To): no need to read it back.
        batch_prime(("thread_ids", ticket.pk), [message_id])
        # After the inbound row: the acknowledgement answers the customer's message (In-Reply-To).
        notify_customer_ticket_created(ticket)
        return IngestResult("ticket", ticket=ticket, notes=notes)


# --- headers -----------------------------------------------------------------------------------------


def _message_id(message: EmailMessage, raw: bytes) -> str:
    header = _header(message, "Message-ID")
    found = MESSAGE_ID_RE.search(header)
    if found:
        return found.group(1)[:255]
    if header and not any(char.isspace() for char in header):
        return header[:255]  # an identifier without its angle brackets (broken clients)
    # No usable Message-ID: the content's digest still recognises the same message ingested twice.
    return f"sha256-{hashlib.sha256(raw).hexdigest()}@inbound.invalid"


def _header(message: EmailMessage, name: str) -> str:
    """The header's decoded text. `policy.default` parses a header again on every read, and intake reads
    some several times (From, Subject): each is parsed once per message."""
    texts = message.__dict__.setdefault("_header_texts", {})
    key = name.lower()
    if key not in texts:
        texts[key] = str(message.get(name, "") or "").strip()
    return texts[key]


def _refusal(message: EmailMessage) -> str:
    """Why this message gets no ticket and no answer ("" when it may)."""
    if "X-TourBrain-Notification" in message:  # presence only: `in` does not parse the header
        return "our own outgoing mail"
    if _is_bounce(message):
        _record_bounce(message)
        return "bounce (delivery status notification)"
    auto_submitted = _header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return f"automatic message (Auto-Submitted: {auto_submitted})"
    if _header(message, "Precedence").lower() in AUTO_PRECEDENCE:
        return f"bulk mail (Precedence: {_header(message, 'Precedence')})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
        if name in message:
            return f"automatic message ({name})"
    _name, address = _sender(message)
    if address.lower() in {settings.SUPPORT_EMAIL.lower(), settings.DEFAULT_FROM_EMAIL.lower()}:
        return "our own address"
    return ""


def _is_bounce(message: EmailMessage) -> bool:
    if message.get_content_type() == "multipart/report":
        return True
    # An empty return path (MAIL FROM:<>) is what MTAs use for delivery reports.
    return _header(message, "Return-Path") == "<>"


def _record_bounce(message: EmailMessage) -> None:
    """Mark the failed recipients of a delivery report as bouncing (staff see them; we stop mailing them)."""
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        # The report's fields come as header blocks (one per message, one per recipient).
        for block in part.get_payload() if part.is_multipart() else []:
            action = str(block.get("Action", "")).strip().lower()
            recipient = str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
            address = recipient.rpartition(";")[2].strip().strip("<>").lower()
            if action == "failed" and "@" in address:
                status = str(block.get("Status", "")).strip()
                diagnostic = str(block.get("Diagnostic-Code", "")).strip()
                BouncingAddress.objects.update_or_create(
                    address=address,
                    defaults={"reason": f"{status} {diagnostic}".strip()[:1000], "bounced_at": timezone.now()},
                )
                batch_prime(("bouncing", address), True)


def _sender(message: EmailMessage) -> tuple[str, str]:
    """(display name, lower-cased address) of From; Quarantine when there is no usable address."""
    found = message.__dict__.get("_sender")
    if found is None:
        found = message.__dict__["_sender"] = _parse_sender(message)
    return found


def _parse_sender(message: EmailMessage) -> tuple[str, str]:
    try:
        header = message.get("From")
        addresses = header.addresses if header is not None else ()
    except Exception:  # a From header too malformed to parse
        addresses = ()
    if addresses and addresses[0].addr_spec and "@" in addresses[0].addr_spec:
        return addresses[0].display_name, addresses[0].addr_spec.lower()
    name, address = email.utils.parseaddr(_header(message, "From"))
    if "@" not in address:
        raise Quarantine(f"No usable sender address (From: {_header(message, 'From')[:200]!r}).")
    return name, address.lower()


def _subject(message: EmailMessage) -> str:
    return " ".join(_header(message, "Subject").split())[:200]


def _seen_and_sent(message_id: str, address: str | None) -> tuple[bool, int]:
    """Whether this Message-ID was ingested already, and how many messages the sender sent in the last hour
    (for the rate limit): one query for both (none in a batch, which read them for all its messages)."""
    if batch_known("intake_batch", False):
        return batch_known(("seen", message_id), False), batch_known(("sent", address), 0) if address else 0
    seen = Q(message_id=message_id)
    if address is None:
        return TicketEmail.objects.filter(seen).exists(), 0
    recent = Q(
        direction=TicketEmail.Direction.INBOUND, sender=address, created_at__gte=timezone.now() - timedelta(hours=1)
    )
    counts = TicketEmail.objects.filter(seen | recent).aggregate(
        seen=Count("pk", filter=seen), sent=Count("pk", filter=recent)
    )
    return counts["seen"] > 0, counts["sent"]


# --- who and which ticket ----------------------------------------------------------------------------


def _customer(address: str, name: str) -> User:
    """The person behind the address; an unknown address becomes a customer (no roles, no password)."""
    person = batch_known(("person", address), _UNKNOWN)
    if person is _UNKNOWN:
        person = _people_query().filter(email__iexact=address).first()
        if person is not None:
            _known_roles(person)
    if person is None:
        if not deliverable(address):
            raise Quarantine(f"The sender address {address!r} cannot receive mail.")
        person = User.objects.create_user(email=address, password=None, name=name[:200])
        # A new customer is in no group and has no audit pseudonym yet: nothing to look up for either.
        person._role_cache = set()
        User.audit_subject.related.set_cached_value(person, None)
        person._account_created_now = True  # no knowledge-base opens to settle when it files its ticket
        organization = organization_for_address(address)
        if organization is not None:
            # A new sender from an organization's verified domain is one of its people: its tier and SLA apply.
            Membership.objects.create(user=person, organization=organization, role=Membership.Role.MEMBER)
        batch_prime(("person", address), person)
        batch_prime(("organizations", person.pk), [organization] if organization is not None else [])
    if person.is_staff:
        raise Quarantine(f"{address} is a staff account; staff answer in the queue, not by email.")
    if not person.is_active:
        raise Quarantine(f"{address} belongs to an inactive account.")
    return person


def _people_query():
    # With the audit pseudonym (every ticket write is audited with it) and whether any group could give a
    # staff role: one query instead of three.
    return User.objects.select_related("audit_subject").annotate(
        has_groups=Exists(User.groups.through.objects.filter(user_id=OuterRef("pk")))
    )


def _known_roles(person: User) -> None:
    if not person.has_groups and not person.is_superuser:
        person._role_cache = set()  # no group, no staff role: the services' role checks need no query


def _candidate_domains(address: str) -> list[str]:
    domain = address.rpartition("@")[2].strip().lower()
    labels = domain.split(".")
    # "mail.band.example.com" matches band.example.com; the longest verified domain wins.
    return [".".join(labels[index:]) for index in range(len(labels) - 1)]


def organization_for_address(address: str):
    """The organization whose verified email domain the address is at (subdomains included), or None."""
    candidates = _candidate_domains(address)
    if not candidates:
        return None
    verified = batch_known("verified_domains")  # a batch read the domains of all its senders at once
    if verified is not None:
        found = max((domain for domain in candidates if domain in verified), key=len, default=None)
        return verified[found] if found is not None else None
    rows = OrganizationEmailDomain.objects.filter(domain__in=candidates, verified_at__isnull=False)
    found = max(rows.select_related("organization"), key=lambda row: len(row.domain), default=None)
    return found.organization if found is not None else None


def _organization_of(person: User):
    organizations = batch_known(("organizations", person.pk))
    if organizations is None:
        memberships = Membership.objects.filter(user=person).select_related("organization")[:2]
        organizations = [membership.organization for membership in memberships]
    # Only an unambiguous organization: a person in two would otherwise file under a guess.
    return organizations[0] if len(organizations) == 1 else None


def _thread_ticket(message: EmailMessage, person: User) -> Ticket | None:
    """The ticket this message answers, if the sender may write on it (else None: a new ticket)."""
    ticket = _ticket_by_message_ids(message) or _ticket_by_plus_address(message) or _ticket_by_subject(message)
    if ticket is None or not services._is_customer_of(ticket, person):
        return None
    return ticket


def _ticket_by_message_ids(message: EmailMessage) -> Ticket | None:
    ids = MESSAGE_ID_RE.findall(f"{_header(message, 'In-Reply-To')} {_header(message, 'References')}")
    if not ids:
        return None
    ids = ids[-50:]
    for row in reversed(batch_known("pending_emails") or []):  # stored by this batch, not yet written
        if row.message_id in ids:
            return row.ticket
    row = TicketEmail.objects.filter(message_id__in=ids).select_related("ticket").order_by("-id").first()
    return row.ticket if row is not None else None


def _plus_address_re() -> re.Pattern:
    before, _, after = settings.SUPPORT_REPLY_TO_TEMPLATE.partition("{reference}")
    return re.compile(re.escape(before) + r"(TB-\d{1,9})" + re.escape(after), re.IGNORECASE)


def _ticket_by_plus_address(message: EmailMessage) -> Ticket | None:
    pattern = _plus_address_re()
    headers = " ".join(_header(message, name) for name in ("To", "Cc", "Delivered-To", "X-Original-To"))
    found = pattern.search(headers)
    return Ticket.objects.filter(reference=found.group(1).upper()).first() if found else None


def _ticket_by_subject(message: EmailMessage) -> Ticket | None:
    found = REFERENCE_RE.search(_subject(message))
    if not found:
        return None
    reference = reference_for(int(found.group(1)))
    ticket = batch_known(("ticket", reference))
    return ticket if ticket is not None else Ticket.objects.filter(reference=reference).first()


# --- content -----------------------------------------------------------------------------------------


def _body_text(message: EmailMessage) -> tuple[str, bool]:
    """The message's text: the plain part, else its HTML made safe text. Returns (text, came from HTML)."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return "", False
    content = _content(part)
    if part.get_content_type() == "text/html":
        return html_to_text(content), True
    return content.replace("\r\n", "\n"), False


def _content(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError):
        # An unknown or lying charset: decode what is there rather than lose the message.
        return (part.get_payload(decode=True) or b"").decode("utf-8", "replace")


BLOCK_END_RE = re.compile(r"(?i)<\s*(br\s*/?|/p|/div|/li|/tr|/h[1-6]|/blockquote)\s*>")


def html_to_text(markup: str) -> str:
    """HTML to plain text: line breaks where blocks end, every tag removed (nh3), entities decoded."""
    markup = re.sub(r"(?is)<(style|script|head)\b.*?</\1\s*>", "", markup)
    markup = BLOCK_END_RE.sub("\n", markup)
    text = html.unescape(nh3.clean(markup, tags=set()))
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _new_text(text: str) -> str:
    """Only what the sender wrote now: quoted history and signatures removed."""
    try:
        reply = EmailReplyParser(languages=REPLY_LANGUAGES).parse_reply(text=text)
    except Exception:  # the parser failing on odd text must not lose the reply
        logger.warning("email intake: reply parsing failed; keeping the whole text", exc_info=True)
        return text.strip()
    reply = ORIGINAL_MESSAGE_RE.sub("", _cut_attributed_quote((reply or "").strip())).strip()
    return reply or text.strip()


def _cut_attributed_quote(text: str) -> str:
    """Cut at an attribution line ("... wrote:" in any language) followed by a quoted block, for the
    clients and languages the parser's patterns miss (e.g. Thunderbird in Spanish)."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        following = [rest for rest in lines[index + 1 :] if rest.strip()]
        if line.rstrip().endswith(":") and following and following[0].lstrip().startswith(">"):
            return "\n".join(lines[:index])
    return text


def _attachments(message: EmailMessage) -> tuple[list[SimpleUploadedFile], list[str]]:
    """Files within the ticket limits; a note for each one refused."""
    uploads: list[SimpleUploadedFile] = []
    notes: list[str] = []
    allowed = set(settings.TICKET_ATTACHMENT_TYPES)
    for part in message.iter_attachments():
        name = (part.get_filename() or "attachment").replace("/", "_")[-255:]
        content_type = part.get_content_type()
        if content_type in TNEF_TYPES or name.lower() == "winmail.dat":
            notes.append(f"{name}: an Outlook winmail.dat attachment was not kept (ask for the files themselves).")
            continue
        data = part.get_payload(decode=True) or b""
        if len(data) > settings.TICKET_ATTACHMENT_MAX_BYTES:
            notes.append(f"{name}: not kept, {len(data)} bytes is over the limit.")
            continue
        if content_type not in allowed:
            notes.append(f"{name}: not kept, type {content_type} is not allowed.")
            continue
        if len(uploads) >= settings.TICKET_ATTACHMENT_MAX_COUNT:
            notes.append(f"{name}: not kept, more than {settings.TICKET_ATTACHMENT_MAX_COUNT} attachments.")
            continue
        upload = SimpleUploadedFile(name, data, content_type=content_type)
        try:
            services._validate_attachments([upload])
        except ApplicationError as error:
            notes.append(f"{name}: not kept, {error.message}")
            continue
        uploads.append(upload)
    return uploads, notes


# --- writing -----------------------------------------------------------------------------------------


def _record(
    ticket: Ticket, entry: TicketMessage | None, message_id: str, address: str, subject: str, raw: bytes
) -> None:
    row = TicketEmail(
        ticket=ticket,
        ticket_message=entry,
        direction=TicketEmail.Direction.INBOUND,
        message_id=message_id,
        sender=address,
        subject=subject[:255],
        raw=raw,
        created_at=timezone.now(),
    )
    pending = batch_known("pending_emails")
    if pending is not None:
        pending.append(row)  # a batch writes its inbound rows in one INSERT before it commits
    else:
        row.save(force_insert=True)


def _add_notes(ticket: Ticket, notes: list[str]) -> None:
    """What the intake left out, as an internal note staff see on the ticket."""
    if notes:
        TicketMessage.objects.create(
            ticket=ticket,
            author=None,
            body="Email intake:\n" + "\n".join(f"- {note}" for note in notes),
            is_internal=True,
            is_from_staff=True,
        )


# --- quarantine --------------------------------------------------------------------------------------


def quarantine_retry_many(*, ids: list[int], actor=None, request=None) -> dict[str, int]:
    """The admin's "retry": ingest each held message again; audited. Returns the outcomes counted."""
    counts: dict[str, int] = {}
    for held in QuarantinedEmail.objects.filter(pk__in=ids, status=QuarantinedEmail.Status.HELD):
        outcome = quarantine_retry(held).outcome
        counts[outcome] = counts.get(outcome, 0) + 1
    audit_record(
        actor=actor,
        action="update",
        resource_type="quarantined_email",
        resource_id=ids[0] if len(ids) == 1 else None,
        changes={"operation": "retry", "messages": ids, "outcomes": counts},
        request=request,
    )
    return counts


@transaction.atomic
def quarantine_discard(*, ids: list[int], actor=None, request=None) -> int:
    """The admin's "discard": the message is given up (its bytes stay until the row is deleted); audited."""
    count = QuarantinedEmail.objects.filter(pk__in=ids, status=QuarantinedEmail.Status.HELD).update(
        status=QuarantinedEmail.Status.DISCARDED, updated_at=timezone.now()
    )
    audit_record(
        actor=actor,
        action="update",
        resource_type="quarantined_email",
        resource_id=ids[0] if len(ids) == 1 else None,
        changes={"operation": "discard", "messages": ids, "discarded": count},
        request=request,
    )
    return count


ERASED_REASON = "Erased with the person it named (data-subject erasure); the message is gone."


def quarantine_erase_person(*, user: User) -> dict[str, int]:
    """Erasure step (registered with `tourbrain_support.erasure`): every quarantined message from or naming the
    person loses its bytes, sender and subject and is discarded. Runs in the erasure's transaction."""
    address = (user.email or "").lower()
    if "@" not in address:
        return {}
    needle = address.encode()
    erased = []
    # The quarantine is small (an admin works it down); the raw bytes cannot be searched in SQL on every backend.
    for row in QuarantinedEmail.objects.exclude(raw=b"").only("pk", "sender", "raw").iterator(chunk_size=200):
        if address in row.sender.lower() or needle in bytes(row.raw).lower():
            erased.append(row.pk)
    erased += QuarantinedEmail.objects.filter(raw=b"", sender__icontains=address).values_list("pk", flat=True)
    count = QuarantinedEmail.objects.filter(pk__in=erased).update(
        raw=b"",
        sender="",
        subject="",
        message_id="",
        reason=ERASED_REASON,
        status=QuarantinedEmail.Status.DISCARDED,
        updated_at=timezone.now(),
    )
    return {"tickets.quarantinedemail": count} if count else {}


def quarantine_retry(quarantined: QuarantinedEmail) -> IngestResult:
    """Ingest a held message again (after a fix); it stays held, with the new reason, if it still fails."""
    result = email_ingest(bytes(quarantined.raw), quarantine=False)
    if result.outcome == "quarantined":
        quarantined.reason = result.reason
        quarantined.save(update_fields=["reason", "updated_at"])
    else:
        quarantined.status = QuarantinedEmail.Status.RETRIED
        quarantined.reason = f"{quarantined.reason}\nRetried: {result.outcome} {result.reason}".strip()
        quarantined.save(update_fields=["status", "reason", "updated_at"])
    return result


def read_messages(source: str, stdin: io.BufferedIOBase | None = None):
    """Raw messages from a file (one message or an mbox), a maildir, or stdin ("-")."""
    import mailbox
    import os

    if source == "-":
        yield (stdin.read() if stdin is not None else b"")
        return
    if os.path.isdir(source):
        box = mailbox.Maildir(source, factory=None, create=False)
        for key in box.iterkeys():
            yield box.get_bytes(key)
        return
    with open(source, "rb") as handle:
        head = handle.read(5)
    if head == b"From ":
        for key in (box := mailbox.mbox(source, create=False)).iterkeys():
            yield box.get_bytes(key)
        return
    with open(source, "rb") as handle:
        yield handle.read()
