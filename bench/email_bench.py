"""Inbound email: `manage.py ingest_email` over a 2,000-message mbox (target: 100 messages/s or more).

Half the messages open tickets (400 senders, plain and multipart with HTML), half answer them by the
reference in the subject with a quoted history to strip; filed in batches (EMAIL_INGEST_BATCH messages per
transaction, the command's default). Printed beside the same intake one transaction per message
(`--batch 1`, on 300 + 300 messages) and the 2,000 messages only parsed (stdlib email + the reply parser, no
database): the part of the time the database and services take.
Rows it writes (tickets, customers, emails) carry a run-specific domain and are deleted at the end.
"""

import io
import mailbox
import tempfile
import time
import uuid
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from tickets.email_inbound import _new_text  # the reply parser step, timed alone for the reference
from tickets.models import Ticket
from tourbrain_support.models import User

MESSAGES = 2000
# The same intake one transaction per message (`--batch 1`), on fewer messages: the before of the batches.
ONE_BY_ONE = 300
SENDERS = 400


def _message(domain: str, number: int, reference: str | None) -> bytes:
    message = EmailMessage()
    sender = f"fan{number % SENDERS}@{domain}"
    message["From"] = f"Fan {number % SENDERS} <{sender}>"
    message["To"] = "support@tourbrain.ai"
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = make_msgid(domain=domain)
    if reference is None:
        message["Subject"] = f"Tour {number}: the itinerary export misses the load-in times"
        message.set_content(f"Hello,\n\nThe PDF export of tour {number} has no load-in times.\n\nThanks,\nFan\n")
        message.add_alternative(f"<p>Hello,</p><p>The PDF export of tour <b>{number}</b> has no load-in times.</p>")
    else:
        message["Subject"] = f"Re: [{reference}] Tour {number}: the itinerary export misses the load-in times"
        quoted = "\n".join(f"> line {n} of the earlier message" for n in range(20))
        message.set_content(
            f"It happens on every export since Monday.\n\nOn Mon, 2 Mar 2026 at 10:00, TourBrain Support "
            f"<support@tourbrain.ai> wrote:\n{quoted}\n"
        )
    return message.as_bytes(policy=default_policy)


def main() -> None:
    print(f"  database: {connection.vendor}; tickets before: {Ticket.objects.count():,}")
    domains = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            # One transaction per message, as `ingest_email --batch 1` (and every intake before batches) files them.
            domains.append(f"bench-{uuid.uuid4().hex[:8]}.example.com")
            _ingest_both(Path(folder) / "single", domains[-1], ONE_BY_ONE, batch=1)
            domains.append(f"bench-{uuid.uuid4().hex[:8]}.example.com")
            raws = _ingest_both(Path(folder) / "batched", domains[-1], MESSAGES // 2, batch=None)
            started = time.perf_counter()
            for raw in raws:
                parsed = message_from_bytes(raw, policy=default_policy)
                _new_text(parsed.get_body(preferencelist=("plain", "html")).get_content())
            _rate("  reference: the same messages parsed only (no database)", MESSAGES, started)
    finally:
        for domain in domains:
            Ticket.objects.filter(user__email__endswith=domain).delete()
            User.objects.filter(email__endswith=domain).delete()


def _ingest_both(folder: Path, domain: str, count: int, *, batch: int | None) -> list[bytes]:
    """`count` new-ticket messages, then as many replies; returns the raw messages."""
    folder.mkdir()
    how = "one transaction each" if batch == 1 else f"batches of {settings.EMAIL_INGEST_BATCH}"
    new_box, reply_box = folder / "new.mbox", folder / "replies.mbox"
    box = mailbox.mbox(new_box)
    for number in range(count):
        box.add(_message(domain, number, None))
    box.flush()
    options = {"batch": batch} if batch else {}
    started = time.perf_counter()
    call_command("ingest_email", str(new_box), verbosity=0, stdout=io.StringIO(), **options)
    _rate(f"ingest_email, new tickets ({how})", count, started)

    references = list(
        Ticket.objects.filter(user__email__endswith=domain).order_by("pk").values_list("reference", flat=True)
    )
    assert len(references) == count, len(references)
    box = mailbox.mbox(reply_box)
    for number, reference in enumerate(references):
        box.add(_message(domain, number, reference))
    box.flush()
    started = time.perf_counter()
    call_command("ingest_email", str(reply_box), verbosity=0, stdout=io.StringIO(), **options)
    _rate(f"ingest_email, replies by the subject's reference ({how})", count, started)
    boxes = [mailbox.mbox(path) for path in (new_box, reply_box)]
    return [box.get_bytes(key) for box in boxes for key in box.iterkeys()]


def _rate(label: str, count: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    print(f"  {label:<58} {count:>6,} in {elapsed:6.2f} s = {count / elapsed:>7,.0f} /s", flush=True)
