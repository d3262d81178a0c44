"""Queue text search (`q`): a ticket reference, or words in the subject or the requester's email or name.

A reference (`TB-000123`, `tb-123`, `123`) is an exact primary-key hit. Any other term needs a run of
at least three letters or digits: on PostgreSQL the search is served by trigram indexes
(`tickets/migrations/0005_search_trigram_indexes.py`), and a term without a single trigram would make
them read every entry. The term is matched with Django's `icontains`, which escapes `%`, `_` and `\\`
(they are literal characters, never wildcards) and compiles to `UPPER(col::text) LIKE UPPER(...)` on
PostgreSQL: exactly the expression the indexes are built on.

The requester is a user row, so the people whose email or name match are looked up first (one query,
trigram-indexed) and the tickets are then filtered by `user_id IN (...)`: PostgreSQL combines that and
the subject's trigram index in one bitmap scan for a rare term, which a join or a subquery under OR
cannot do; for a common term it walks the queue order and stops after a page.
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from tickets.models import Ticket

MIN_TERM_LENGTH = 3
MAX_TERM_LENGTH = 200
# Beyond this many matching people the term is common: the ids stay in a subquery that the database
# checks row by row while it walks the queue order (it finds a page of matches quickly).
MAX_REQUESTER_IDS = 1000

_REFERENCE = re.compile(r"^(?:TB-)?(\d{1,18})$", re.IGNORECASE)
# pg_trgm builds trigrams from letters and digits only; a term needs one run of three to use an index.
_TRIGRAM_RUN = re.compile(r"[^\W_]{3}")

TERM_HELP = (
    "A ticket number (TB-000123 or 123), or at least 3 letters or digits in a row from the subject or the "
    "requester's email or name."
)


def reference_id(text: str) -> int | None:
    """The ticket id a reference-like term names (`TB-000123`, `tb-123`, `123`), else None."""
    match = _REFERENCE.match(text.strip())
    return int(match.group(1)) if match else None


def term_error(text: str) -> str | None:
    """Why `text` cannot be searched (a message for the form or API), or None when it can."""
    text = text.strip()
    if not text or reference_id(text) is not None:
        return None
    if "\x00" in text:
        return "Null characters are not allowed."
    if len(text) > MAX_TERM_LENGTH:
        return f"Search for at most {MAX_TERM_LENGTH} characters."
    if len(text) < MIN_TERM_LENGTH or not _TRIGRAM_RUN.search(text):
        return f"Search for at least {MIN_TERM_LENGTH} letters or digits in a row, or a ticket number (TB-000123)."
    return None


def requesters(text: str) -> QuerySet:
    """People who filed a ticket and whose email or name contains `text`.

    Only people who filed a ticket: the planner estimates `user_id IN (...)` from the average tickets per
    person, so staff whose name matches (and who file nothing) would make a rare term look common.
    """
    return (
        get_user_model()
        .objects.filter(Q(email__icontains=text) | Q(name__icontains=text))
        .filter(Exists(Ticket.objects.filter(user_id=OuterRef("pk"))))
        .order_by()
    )


def ticket_search_q(text: str) -> Q:
    """The ticket filter for a valid term (see `term_error`); a text term runs one query (the requesters)."""
    text = text.strip()
    ticket_id = reference_id(text)
    if ticket_id is not None:
        return Q(pk=ticket_id)
    people = requesters(text)
    requester_ids = list(people.values_list("pk", flat=True)[: MAX_REQUESTER_IDS + 1])
    matches = Q(subject__icontains=text)
    if len(requester_ids) > MAX_REQUESTER_IDS:
        return matches | Q(user_id__in=people.values("pk"))
    if requester_ids:
        return matches | Q(user_id__in=requester_ids)
    return matches
