"""Speed of the immutable audit trail on PostgreSQL.

`python -m bench audit` (PostgreSQL for `make bench`). Measures, with 8 writer processes (own connections):
- plain single-row INSERTs into the audit table (autocommit; the stamping trigger runs), for reference;
- audited writes through `audit_record` while the sealer runs beside them every half second, twice: as a
  service or task writes them (no request: one row), and as a page or API request writes them (the client's
  IP and user agent go to a personal-data row in the same statement); afterwards every row must be sealed
  within 5 s of being written;
- `verify_trail` over the whole trail (rows/s, two hashing processes), which must pass.
Target: >= 5,000 audited writes/s and >= 100,000 rows/s verified. Audit rows cannot be deleted: the bench
database keeps growing run after run (archive and purge it with `audit_archive --purge` if needed).
"""

import multiprocessing
import os
import time

from django.db import connection, connections

WRITERS = 8
SECONDS = 10.0
TARGET_WRITES = 5000
TARGET_VERIFY = 100_000
MAX_SEAL_LAG = 5.0
VERIFY_ROWS = 1_000_000


def _session(synchronous_commit: bool) -> None:
    if not synchronous_commit:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")


def _plain_writer(deadline: float, synchronous_commit: bool, queue) -> None:
    connections.close_all()
    _session(synchronous_commit)
    done = 0
    with connection.cursor() as cursor:
        while time.time() < deadline:
            cursor.execute(
                "INSERT INTO audit_auditevent (occurred_at, action, resource_type, resource_id, success, request_id, "
                "changes, personal_digests, format_version) VALUES (now(), 'update', 'bench', %s, true, '', '{}', "
                "'[]', 1)",
                [str(done)],
            )
            done += 1
    connections.close_all()
    queue.put(done)


def _audited_writer(deadline: float, user_id: int, synchronous_commit: bool, with_request: bool, queue) -> None:
    connections.close_all()
    _session(synchronous_commit)
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from audit.services import audit_record

    user = get_user_model().objects.get(pk=user_id)
    request = None
    if with_request:
        request = RequestFactory().post(
            "/tickets/", REMOTE_ADDR=f"198.51.100.{user_id % 250 + 1}", HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux)"
        )
    done = 0
    while time.time() < deadline:
        audit_record(
            actor=user,
            action="update",
            resource_type="ticket",
            resource_id=done,
            changes={"status": ["open", "pending"], "priority": 2},
            request=request,
        )
        done += 1
    connections.close_all()
    queue.put(done)


def _sealer(stop, queue) -> None:
    connections.close_all()
    from audit.sealing import seal_all

    sealed = 0
    while not stop.is_set():
        sealed += seal_all(wait_seconds=5)["events"]
        stop.wait(0.5)
    sealed += seal_all(wait_seconds=5)["events"]
    connections.close_all()
    queue.put(sealed)


def _run(target, args_for) -> int:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    connections.close_all()
    deadline = time.time() + SECONDS
    processes = [context.Process(target=target, args=(deadline, *args_for(i), queue)) for i in range(WRITERS)]
    for process in processes:
        process.start()
    # A writer that dies puts nothing: give up after a generous wait instead of hanging.
    total = sum(queue.get(timeout=SECONDS + 120) for _ in processes)
    for process in processes:
        process.join()
    return total


def _report_lag(first_id: int) -> None:
    from audit.models import AuditEvent

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), max(lag) FROM ("
            "SELECT extract(epoch FROM c.sealed_at - e.occurred_at) AS lag FROM audit_auditevent e "
            "JOIN audit_auditcheckpoint c ON c.stream = 'events' AND e.id BETWEEN c.first_id AND c.last_id "
            "WHERE e.id >= %s) AS lags",
            [first_id],
        )
        sealed_rows, median, p99, max_lag = cursor.fetchone()
    unsealed = AuditEvent.objects.filter(id__gte=first_id).count() - sealed_rows
    flag = "" if max_lag is not None and max_lag <= MAX_SEAL_LAG and unsealed == 0 else "  (over target)"
    print(
        f"    sealed {sealed_rows:,} rows, {unsealed} unsealed; write-to-seal lag median {float(median or 0):.2f} s, "
        f"p99 {float(p99 or 0):.2f} s, max {float(max_lag or 0):.2f} s{flag}"
    )


def main() -> None:
    if connection.vendor != "postgresql":
        print("  audit bench needs PostgreSQL (DATABASE_URL); skipped")
        return
    from django.contrib.auth import get_user_model

    from audit.models import AuditEvent
    from audit.sealing import seal_all
    from audit.verification import verify_trail

    os.environ.setdefault("AUDIT_SIGNING_KEY", "")
    seal_all(wait_seconds=10)
    users = [
        get_user_model().objects.get_or_create(email=f"bench-audit-{i}@example.com", defaults={"name": f"Bench {i}"})[0]
        for i in range(WRITERS)
    ]

    for synchronous_commit in (True, False):
        label = "synchronous_commit=on " if synchronous_commit else "synchronous_commit=off"
        plain = _run(_plain_writer, lambda i, sc=synchronous_commit: (sc,))
        print(f"  [{label}] plain INSERTs, {WRITERS} writers:                       {plain / SECONDS:>10,.0f} rows/s")
        # The reference rows are sealed now, so the lag measured next is that of the audited writes alone.
        seal_all(wait_seconds=10)
        for with_request in (False, True):
            kind = "from requests (IP, UA)" if with_request else "from services        "
            first_id = (AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
            context = multiprocessing.get_context("fork")
            stop, sealed_queue = context.Event(), context.Queue()
            connections.close_all()
            sealer = context.Process(target=_sealer, args=(stop, sealed_queue))
            sealer.start()
            audited = _run(_audited_writer, lambda i, sc=synchronous_commit, wr=with_request: (users[i].pk, sc, wr))
            stop.set()
            sealed_queue.get()
            sealer.join()
            flag = "" if audited / SECONDS >= TARGET_WRITES else "  (under target)"
            print(f"  [{label}] audited writes {kind}, + sealer: {audited / SECONDS:>10,.0f} writes/s{flag}")
            _report_lag(first_id)

    total = AuditEvent.objects.count()
    if total < VERIFY_ROWS:
        # Enough rows for a meaningful verification rate: bulk rows, sealed like any others.
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO audit_auditevent (occurred_at, action, resource_type, resource_id, success, request_id, "
                "changes, personal_digests, format_version) SELECT now(), 'update', 'bench', n::text, true, '', "
                "jsonb_build_object('status', jsonb_build_array('open', 'closed'), 'n', n), '[]', 1 "
                "FROM generate_series(1, %s) AS n",
                [VERIFY_ROWS - total],
            )
        started = time.perf_counter()
        sealed = seal_all(wait_seconds=10)["events"]
        print(f"  sealing a backlog: {sealed:,} rows at {sealed / (time.perf_counter() - started):>10,.0f} rows/s")

    report = verify_trail(workers=2, max_unsealed_seconds=10**9)
    rate = report.rows_checked / report.seconds if report.seconds else 0
    flag = "" if rate >= TARGET_VERIFY else "  (under target)"
    print(
        f"  verify_trail: {'OK' if report.ok else 'FAILED'}, {report.rows_checked:,} rows, {rate:>10,.0f} rows/s{flag}"
    )
    for problem in report.problems[:5]:
        print(f"    {problem}")
