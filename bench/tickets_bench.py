"""Ticket domain at scale (PostgreSQL): the SLA sweep and the queue/detail selectors.

`python -m bench tickets` (or `python -m bench.tickets_bench [N]`): generates N tickets (default
BENCH_TICKETS or 1,000,000, 20% open) with `bench/tickets_data.py`, then prints
- the sweep over the open tickets when nothing changes (target < 2 s; it is two index probes),
- a sweep that escalates 1,000 fresh breaches (set-based: a few statements per batch of 2,000),
- p50/p95 of `ticket_queue(...)[:50]` for common filters and of `ticket_detail` + its conversation
  (target p95 < 50 ms).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import timedelta

SWEEP_TARGET_S = 2.0
SELECTOR_TARGET_MS = 50.0
ROUNDS = 40


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _report(name: str, samples_ms: list[float], target_ms: float) -> None:
    p95 = _percentile(samples_ms, 0.95)
    verdict = "OK" if p95 < target_ms else "OVER"
    print(
        f"{name:<44} n={len(samples_ms):<3} p50={statistics.median(samples_ms):8.2f} ms  p95={p95:8.2f} ms  "
        f"{verdict} (target p95 < {target_ms:.0f} ms)",
        flush=True,
    )


def bench_sweep() -> None:
    from django.db.models import F
    from django.utils import timezone

    from tickets.models import Ticket
    from tickets.sweep import sla_sweep

    sla_sweep()  # settle whatever became due since the data was generated
    open_count = Ticket.objects.open().count()
    running = Ticket.objects.running().count()
    samples = [_timed(sla_sweep) for _ in range(5)]
    worst = max(samples)
    print(
        f"sweep, nothing to change ({open_count:,} open, {running:,} with running clocks): "
        f"median {statistics.median(samples) * 1000:.1f} ms, max {worst * 1000:.1f} ms  "
        f"{'OK' if worst < SWEEP_TARGET_S else 'OVER'} (target < {SWEEP_TARGET_S:.0f} s)",
        flush=True,
    )
    now = timezone.now()
    ids = list(Ticket.objects.running().filter(sla_state="ok", next_due_at__gt=now).values_list("id", flat=True)[:1000])
    Ticket.objects.filter(pk__in=ids).update(
        next_due_at=now - timedelta(minutes=1), first_response_due_at=F("next_due_at")
    )
    started = time.perf_counter()
    result = sla_sweep()
    elapsed = time.perf_counter() - started
    print(
        f"sweep escalating {len(result.breached):,} breaches (+{len(result.warned):,} warnings): "
        f"{elapsed * 1000:.0f} ms (history rows, outbox rows and one audit event per batch included)",
        flush=True,
    )


def bench_selectors() -> None:
    from django.contrib.auth import get_user_model

    from bench.tickets_data import people
    from tickets import selectors
    from tickets.models import Ticket
    from tourbrain_support.roles import Role

    rep = get_user_model().objects.get(pk=people(1, "bench-agent-", Role.SUPPORT_REP)[0])
    engineer = get_user_model().objects.get(pk=people(1, "bench-engineer-", Role.ENGINEER)[0])
    cases = {
        "queue: default (active)": (rep, {}),
        "queue: status=open team=billing": (rep, {"status": "open", "team": "billing"}),
        "queue: breached": (rep, {"sla_state": "breached"}),
        "queue: assignee=none tier=enterprise": (rep, {"assignee": "none", "tier": "enterprise"}),
        "queue: view=breaching_soon": (rep, {"view": "breaching_soon"}),
        "queue: q=reference": (rep, {"q": "TB-000105"}),
        "queue: engineer (own team only)": (engineer, {}),
        "queue: status=any priority=critical": (rep, {"status": "any", "priority": "critical"}),
    }
    for name, (user, filters) in cases.items():
        list(selectors.ticket_queue(user=user, filters=filters)[:50])  # warm
        samples = [
            _timed(lambda user=user, filters=filters: list(selectors.ticket_queue(user=user, filters=filters)[:50]))
            * 1000
            for _ in range(ROUNDS)
        ]
        _report(name, samples, SELECTOR_TARGET_MS)

    top = Ticket.objects.order_by("-pk").values_list("pk", flat=True).first() or 1
    picks = random.Random(7).sample(range(1, top + 1), min(ROUNDS, top))

    def detail(pk: int) -> None:
        ticket = selectors.ticket_detail(user=rep, reference_or_id=f"TB-{pk:06d}")
        for message in selectors.ticket_messages(ticket=ticket):
            list(message.attachments.all())
        selectors.ticket_calendar(ticket)

    samples = [_timed(lambda pk=pk: detail(pk)) * 1000 for pk in picks]
    _report("ticket_detail + conversation (random ids)", samples, SELECTOR_TARGET_MS)


def main(argv: list[str] | None = None) -> None:
    from bench.tickets_data import ensure, ensure_tickets

    argv = argv if argv is not None else []
    if argv:
        ensure_tickets(int(argv[0]))
    else:
        ensure()
    bench_sweep()
    bench_selectors()


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tourbrain_support.settings")
    django.setup()
    main(sys.argv[1:])
