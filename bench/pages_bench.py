"""Server time of the staff pages and API at scale: first queue page, ticket page, API list and detail.

Runs through Django's test client against the bench database (PostgreSQL via `make bench`), after
`bench/tickets_data.py` has generated the tickets (1,000,000 by default, 20% open; set
BENCH_TICKETS to change). Prints p50/p95 per page; the target is p95 < 50 ms.
"""

import os
import random
import statistics
import time

TARGET_P95_MS = 50.0
ROUNDS = int(os.environ.get("BENCH_PAGE_ROUNDS", "60"))
# On a shared machine other processes' CPU use shows up as server time; BENCH_NICE=-15 (root only) gives
# the measuring process the priority a dedicated web worker would have.
NICE = int(os.environ.get("BENCH_NICE", "0"))


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _time(client, urls: list[str]) -> tuple[list[float], list[float]]:
    """Wall time and this thread's CPU time per request (CPU excludes waiting for PostgreSQL and for
    other processes: on a shared, loaded machine it shows what the page itself costs)."""
    wall, cpu = [], []
    for url in urls:
        started, started_cpu = time.perf_counter(), time.thread_time()
        response = client.get(url)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return wall, cpu


def _report(name: str, samples: tuple[list[float], list[float]]) -> bool:
    wall, cpu = samples
    p95 = _percentile(wall, 0.95)
    ok = p95 < TARGET_P95_MS
    print(
        f"{name:<42} n={len(wall):<3} wall p50={statistics.median(wall):6.1f} p95={p95:6.1f} ms  "
        f"cpu p50={statistics.median(cpu):6.1f} p95={_percentile(cpu, 0.95):6.1f} ms  "
        f"{'OK' if ok else 'OVER'} (target wall p95 < {TARGET_P95_MS:.0f} ms)",
        flush=True,
    )
    return ok


def _rep():
    from django.contrib.auth import get_user_model

    from tourbrain_support.roles import Role, assign_roles

    user, created = get_user_model().objects.get_or_create(
        email="bench-rep@example.test", defaults={"name": "Bench Rep"}
    )
    if created:
        assign_roles(user, [Role.SUPPORT_REP])
    return user


def _people(count: int, prefix: str, role: str | None = None) -> list[int]:
    from django.contrib.auth import get_user_model

    from tourbrain_support.roles import assign_roles

    User = get_user_model()
    emails = [f"{prefix}{index}@example.test" for index in range(count)]
    existing = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
    User.objects.bulk_create([User(email=email, name=email.split("@")[0]) for email in emails if email not in existing])
    users = list(User.objects.filter(email__in=emails).order_by("pk"))
    if role:
        for user in users:
            assign_roles(user, [role])
    return [user.pk for user in users]


def ensure_tickets(total: int) -> None:
    """Top the ticket table up to `total` rows with one set-based INSERT (PostgreSQL), 20% open.

    Used when `bench/tickets_data.py` is absent. Open tickets get due times spread from two days
    overdue to five days ahead, with the SLA state the sweep would have set.
    """
    from django.db import connection

    from tickets.models import SLAPolicy, Ticket
    from tourbrain_support.models import Organization
    from tourbrain_support.roles import Role

    current = Ticket.objects.count()
    if current >= total:
        return
    customers = _people(500, "bench-customer-")
    reps = _people(20, "bench-agent-", Role.SUPPORT_REP)
    Organization.objects.bulk_create(
        [Organization(name=f"Bench org {i}", slug=f"bench-org-{i}") for i in range(300)], ignore_conflicts=True
    )
    orgs = list(Organization.objects.filter(slug__startswith="bench-org-").values_list("pk", flat=True))
    policy = SLAPolicy.objects.filter(is_active=True).values_list("pk", flat=True).first()
    start = (Ticket.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    end = start + (total - current) - 1
    print(f"generating tickets {start:,}..{end:,} (set-based insert)", flush=True)
    started = time.perf_counter()
    sql = """
    INSERT INTO tickets_ticket (
        id, reference, user_id, organization_id, type, priority, description, reproduction_steps, browser_info,
        url, created_at, subject, channel, status, team, assignee_id, tier, priority_queue, sla_policy_id,
        first_response_due_at, next_response_due_at, resolution_due_at, next_due_at, sla_warning_at, sla_state,
        first_responded_at, solved_at, closed_at, first_response_elapsed_minutes, next_response_elapsed_minutes,
        resolution_elapsed_minutes, version, updated_at
    )
    SELECT
        i,
        'TB-' || CASE WHEN i < 1000000 THEN lpad(i::text, 6, '0') ELSE i::text END,
        (%(customers)s::bigint[])[1 + i %% array_length(%(customers)s::bigint[], 1)],
        (%(orgs)s::bigint[])[1 + i %% array_length(%(orgs)s::bigint[], 1)],
        (ARRAY['bug','feature_request','question','billing'])[1 + i %% 4],
        (ARRAY['low','medium','high','critical'])[1 + (i / 4) %% 4],
        'Generated ticket ' || i, '', 'Chrome 120', '', d.created_at,
        'Generated ticket subject ' || i, 'portal',
        CASE WHEN d.open THEN (ARRAY['new','open','pending','on_hold'])[1 + (i / 5) %% 4]
             WHEN i %% 5 = 1 THEN 'solved' ELSE 'closed' END,
        (ARRAY['engineering','product','support','billing'])[1 + i %% 4],
        CASE WHEN i %% 3 = 0 THEN NULL ELSE (%(reps)s::bigint[])[1 + i %% array_length(%(reps)s::bigint[], 1)] END,
        (ARRAY['general','beta','enterprise'])[1 + (i / 16) %% 3], false, %(policy)s,
        CASE WHEN d.open THEN d.due ELSE d.created_at + interval '8 hours' END, NULL,
        CASE WHEN d.open THEN d.due + interval '2 days' ELSE d.created_at + interval '3 days' END,
        CASE WHEN d.running THEN d.due END, CASE WHEN d.running THEN d.due - interval '2 hours' END,
        CASE WHEN NOT d.running THEN 'ok' WHEN d.due < now() THEN 'breached'
             WHEN d.due < now() + interval '2 hours' THEN 'warning' ELSE 'ok' END,
        CASE WHEN d.open THEN NULL ELSE d.created_at + interval '1 hour' END,
        CASE WHEN d.open THEN NULL ELSE d.created_at + interval '1 day' END,
        CASE WHEN d.open OR i %% 5 = 1 THEN NULL ELSE d.created_at + interval '8 days' END,
        0, 0, 0, 0, d.created_at
    FROM generate_series(%(start)s, %(end)s) AS i
    CROSS JOIN LATERAL (
        SELECT
            now() - ((%(end)s - i) * interval '30 seconds') AS created_at,
            i %% 5 = 0 AS open,
            i %% 5 = 0 AND (i / 5) %% 4 < 2 AS running,
            now() + (((i::bigint * 7919) %% 10080) - 2880) * interval '1 minute' AS due
    ) AS d
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql, {"customers": customers, "orgs": orgs, "reps": reps, "policy": policy, "start": start, "end": end}
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('tickets_ticket', 'id'), (SELECT max(id) FROM tickets_ticket))"
        )
        cursor.execute("ANALYZE tickets_ticket")
    print(f"generated {end - start + 1:,} tickets in {time.perf_counter() - started:.1f} s", flush=True)


def _conversations(references: list[str]) -> None:
    """Give the sampled tickets a real conversation and history (through the services) once."""
    from django.contrib.auth import get_user_model

    from tickets import services
    from tickets.models import Ticket, TicketMessage
    from tourbrain_support.roles import Role

    reps = _people(3, "bench-agent-", Role.SUPPORT_REP)

    agents = list(get_user_model().objects.filter(pk__in=reps))
    lead = _lead()
    for ticket in Ticket.objects.filter(reference__in=references).exclude(status="closed"):
        if TicketMessage.objects.filter(ticket=ticket).exists():
            continue
        for index in range(10):
            services.ticket_add_note(ticket=ticket, author=agents[index % 3], body=f"Bench note {index}")
        for index in range(6):
            ticket = services.ticket_assign(ticket=ticket, assignee=agents[index % 3], actor=lead)


def _lead():
    from django.contrib.auth import get_user_model

    from tourbrain_support.roles import Role, assign_roles

    user, created = get_user_model().objects.get_or_create(
        email="bench-lead@example.test", defaults={"name": "Bench Lead"}
    )
    if created:
        assign_roles(user, [Role.SUPPORT_LEAD])
    return user


def main() -> None:
    from django.test import Client

    from tickets.models import Ticket

    try:
        from bench import tickets_data
    except ImportError:  # the generator lives with the ticket benchmarks
        tickets_data = None
    if tickets_data is not None and hasattr(tickets_data, "ensure"):
        tickets_data.ensure()
    else:
        ensure_tickets(int(os.environ.get("BENCH_TICKETS", "1000000")))

    # No setup_test_environment(): its template instrumentation would be timed too.
    if NICE:
        try:
            os.nice(NICE)
        except PermissionError:
            print(f"BENCH_NICE={NICE} needs root; measuring at normal priority", flush=True)
    total = Ticket.objects.count()
    open_count = Ticket.objects.exclude(status__in=[Ticket.Status.SOLVED, Ticket.Status.CLOSED]).count()
    print(f"data: {total:,} tickets, {open_count:,} not solved/closed", flush=True)
    if not total:
        print("no tickets: run the ticket data generator first")
        return

    client = Client()
    client.force_login(_rep())
    client.get("/queue/")  # warm connections, template caches

    max_id = Ticket.objects.order_by("-pk").values_list("pk", flat=True).first()
    rng = random.Random(7)
    sample_ids = [rng.randint(1, max_id) for _ in range(ROUNDS * 3)]
    references = list(Ticket.objects.filter(pk__in=sample_ids).values_list("reference", flat=True)[:ROUNDS])
    _conversations(references)

    results = [
        _report("GET /queue/ (first page)", _time(client, ["/queue/"] * ROUNDS)),
        _report("GET /queue/?sla_state=breached", _time(client, ["/queue/?sla_state=breached"] * ROUNDS)),
        _report(
            "GET /queue/?assignee=unassigned&tier=beta",
            _time(client, ["/queue/?assignee=unassigned&tier=beta"] * ROUNDS),
        ),
        _report("GET /queue/<reference>/", _time(client, [f"/queue/{ref}/" for ref in references])),
        _report("GET /api/v1/tickets/", _time(client, ["/api/v1/tickets/"] * ROUNDS)),
        _report("GET /api/v1/tickets/<reference>/", _time(client, [f"/api/v1/tickets/{ref}/" for ref in references])),
    ]
    print(f"pages: {'all within target' if all(results) else 'some over target'}", flush=True)
    print(
        f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, nice {os.nice(0)}",
        flush=True,
    )
