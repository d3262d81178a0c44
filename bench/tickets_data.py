"""Scale data for the ticket benchmarks: `ensure_tickets(n)` tops the ticket table up to n rows, 20% open.

One set-based INSERT ... SELECT FROM generate_series (PostgreSQL), so a million rows take seconds, not
an hour of ORM saves. The rows are what the services and the sweep would have written: open tickets
have stored due times spread from two days overdue to five days ahead, with `sla_warning_at` and
`sla_state` consistent with them (so a sweep right after generation has nothing to do).
Reusable by other benchmarks: `from bench.tickets_data import ensure_tickets, ensure`.
"""

from __future__ import annotations

import os
import time

DEFAULT_TICKETS = 1_000_000


def people(count: int, prefix: str, role: str | None = None) -> list[int]:
    """Ids of `count` users named `<prefix><n>@example.test` (created once), holding `role` if given."""
    from django.contrib.auth import get_user_model

    from tourbrain_support.roles import assign_roles

    User = get_user_model()
    emails = [f"{prefix}{index}@example.test" for index in range(count)]
    existing = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
    User.objects.bulk_create(
        [
            User(email=email, name=email.split("@")[0], is_beta=index % 4 == 0)
            for index, email in enumerate(emails)
            if email not in existing
        ]
    )
    users = list(User.objects.filter(email__in=emails).order_by("pk"))
    if role:
        for user in users:
            assign_roles(user, [role])
    return [user.pk for user in users]


INSERT_SQL = """
INSERT INTO tickets_ticket (
    id, reference, user_id, organization_id, type, priority, description, reproduction_steps, browser_info,
    url, created_at, subject, channel, status, team, assignee_id, tier, priority_queue, sla_policy_id,
    first_response_due_at, next_response_due_at, resolution_due_at, next_due_at, sla_warning_at, sla_state,
    first_responded_at, last_customer_message_at, solved_at, closed_at, paused_at,
    first_response_elapsed_minutes, next_response_elapsed_minutes, resolution_elapsed_minutes,
    escalated_at, warning_notified_at, version, updated_at
)
SELECT
    i,
    'TB-' || CASE WHEN i < 1000000 THEN lpad(i::text, 6, '0') ELSE i::text END,
    (%(customers)s::bigint[])[1 + i %% array_length(%(customers)s::bigint[], 1)],
    (%(orgs)s::bigint[])[1 + i %% array_length(%(orgs)s::bigint[], 1)],
    (ARRAY['bug','feature_request','question','billing'])[1 + i %% 4],
    (ARRAY['low','medium','high','critical'])[1 + (i / 4) %% 4],
    'Generated ticket ' || i || ': the export of tour ' || (i %% 997) || ' fails.', '', 'Chrome 126', '',
    d.created_at,
    'Generated ticket subject ' || i, (ARRAY['widget','email','portal','api'])[1 + (i / 7) %% 4],
    d.status,
    (ARRAY['engineering','product','billing','support'])[1 + i %% 4],
    CASE WHEN i %% 3 = 0 THEN NULL ELSE (%(reps)s::bigint[])[1 + i %% array_length(%(reps)s::bigint[], 1)] END,
    (ARRAY['general','beta','enterprise'])[1 + (i / 16) %% 3],
    (i / 4) %% 4 = 3 AND (i / 16) %% 3 > 0,
    %(policy)s,
    CASE WHEN d.running THEN d.due ELSE d.created_at + interval '8 hours' END,
    NULL,
    d.created_at + interval '5 days',
    CASE WHEN d.running THEN d.due END,
    CASE WHEN d.running THEN d.due - interval '2 hours' END,
    CASE WHEN NOT d.running THEN 'ok' WHEN d.due <= %(now)s THEN 'breached'
         WHEN d.due - interval '2 hours' <= %(now)s THEN 'warning' ELSE 'ok' END,
    CASE WHEN d.status IN ('new', 'pending', 'on_hold') AND d.running THEN NULL
         WHEN d.running THEN NULL ELSE d.created_at + interval '1 hour' END,
    NULL,
    CASE WHEN d.status IN ('solved', 'closed') THEN d.created_at + interval '1 day' END,
    CASE WHEN d.status = 'closed' THEN d.created_at + interval '8 days' END,
    CASE WHEN d.status IN ('pending', 'on_hold') THEN d.created_at + interval '2 hours' END,
    0, 0, 0,
    CASE WHEN d.running AND d.due <= %(now)s THEN d.due END,
    CASE WHEN d.running AND d.due - interval '2 hours' <= %(now)s THEN d.due - interval '2 hours' END,
    0, d.created_at
FROM generate_series(%(start)s, %(end)s) AS i
CROSS JOIN LATERAL (
    SELECT
        %(now)s - ((%(end)s - i) * interval '30 seconds') AS created_at,
        CASE WHEN i %% 5 <> 0 THEN CASE WHEN i %% 25 = 1 THEN 'solved' ELSE 'closed' END
             ELSE (ARRAY['new','open','pending','on_hold'])[1 + (i / 5) %% 4] END AS status,
        i %% 5 = 0 AND (i / 5) %% 4 < 2 AS running,
        %(now)s + (((i::bigint * 7919) %% 10080) - 2880) * interval '1 minute' AS due
) AS d
"""


def ensure_tickets(total: int) -> int:
    """Top the ticket table up to `total` rows (PostgreSQL); returns how many were generated."""
    from django.db import connection
    from django.utils import timezone

    from tickets.models import SLAPolicy, Team, Ticket
    from tourbrain_support.models import Organization
    from tourbrain_support.roles import Role

    if connection.vendor != "postgresql":
        raise SystemExit("The ticket benchmarks need PostgreSQL (make bench sets DATABASE_URL).")
    current = Ticket.objects.count()
    if current >= total:
        return 0
    customers = people(500, "bench-customer-")
    reps = people(20, "bench-agent-", Role.SUPPORT_REP)
    leads = people(1, "bench-lead-", Role.SUPPORT_LEAD)
    Team.objects.filter(lead__isnull=True).update(lead_id=leads[0])
    Organization.objects.bulk_create(
        [
            Organization(name=f"Bench org {i}", slug=f"bench-org-{i}", plan="enterprise" if i % 10 == 0 else "starter")
            for i in range(300)
        ],
        ignore_conflicts=True,
    )
    orgs = list(Organization.objects.filter(slug__startswith="bench-org-").values_list("pk", flat=True))
    policy = SLAPolicy.objects.filter(is_active=True).values_list("pk", flat=True).first()
    start = (Ticket.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    end = start + (total - current) - 1
    print(f"generating tickets {start:,}..{end:,} (one INSERT ... SELECT generate_series)", flush=True)
    started = time.perf_counter()
    params = {
        "customers": customers,
        "orgs": orgs,
        "reps": reps,
        "policy": policy,
        "start": start,
        "end": end,
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute(INSERT_SQL, params)
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('tickets_ticket', 'id'), (SELECT max(id) FROM tickets_ticket))"
        )
        cursor.execute("VACUUM ANALYZE tickets_ticket" if connection.get_autocommit() else "ANALYZE tickets_ticket")
    print(f"generated {end - start + 1:,} tickets in {time.perf_counter() - started:.1f} s", flush=True)
    return end - start + 1


def ensure() -> int:
    """`ensure_tickets` with BENCH_TICKETS (default 1,000,000)."""
    return ensure_tickets(int(os.environ.get("BENCH_TICKETS", DEFAULT_TICKETS)))
