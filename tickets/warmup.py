"""The queue's warm-up step (run by `tourbrain_support.warmup` before a web worker takes traffic).

It runs the queries of `/queue/`'s default first page as a support rep sees it (every active ticket), and
builds its rows, so this process's connection has the tables' catalog and statistics loaded and the SLA
calendars are in memory. It reads only; no user is created (the rep exists only in memory).
"""

from tickets import page_selectors
from tickets.forms import staff_assignees
from tickets.views import QUEUE_PAGE_SIZE
from tourbrain_support.models import User
from tourbrain_support.roles import Role


def warm() -> int:
    """Fetch and build the default first queue page; returns how many rows it had."""
    rep = User(email="warm-up@localhost")
    rep._role_cache = {Role.SUPPORT_REP}  # the roles user_roles() would read from the database
    list(staff_assignees())
    rows, _has_next = page_selectors.queue_page(user=rep, filters={}, offset=0, limit=QUEUE_PAGE_SIZE)
    for row in rows:
        row.display()
    return len(rows)
