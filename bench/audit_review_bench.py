"""Speed of the audit review page and the security metrics on PostgreSQL at millions of rows.

`python -m bench audit_review` (PostgreSQL). Tops the activity log up to REVIEW_ROWS rows (default
5,000,000; set BENCH_REVIEW_ROWS to change) with one set-based INSERT ... SELECT, seals them (the trail
must stay valid for the other benchmarks), then renders /audit/ through Django's test client as an
auditor for typical filters and deep keyset pages, and times `security_metrics` over 24 h and 7 days.
Target: the review page under 50 ms at p95 for every filter. Audit rows cannot be deleted, so a second
run only measures.
"""

import os
import statistics
import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone

REVIEW_ROWS = int(os.environ.get("BENCH_REVIEW_ROWS", "5000000"))
TARGET_P95_MS = 50.0
REPEAT = 30
BATCH = 500_000


def _top_up(target: int) -> int:
    from audit.models import AuditEvent

    existing = AuditEvent.objects.count()
    missing = max(target - existing, 0)
    started = time.perf_counter()
    done = 0
    while done < missing:
        size = min(BATCH, missing - done)
        with connection.cursor() as cursor:
            # One row a second of history ending now; 2% exports, 2% failures, 500 actors, 50 organizations.
            cursor.execute(
                """
                INSERT INTO audit_auditevent (occurred_at, actor_id, organization_id, action, resource_type,
                    resource_id, success, request_id, changes, personal_digests, format_version)
                SELECT now() - make_interval(secs => %s - n), 1000000 + n %% 500, 1000000 + n %% 50,
                    (ARRAY['update','update','create','login','update','export','delete','update','logout',
                           'update','create','update','update','update','update','update','update','update',
                           'update','update','update','update','update','update','update','update','update',
                           'update','update','update','update','update','update','update','update','update',
                           'update','update','update','update','update','update','update','update','update',
                           'update','update','update','update','update'])[1 + n %% 50],
                    CASE WHEN n %% 7 = 0 THEN 'article' ELSE 'ticket' END, (n %% 200000)::text, n %% 50 <> 3,
                    '', '{"status": ["open", "pending"]}', '[]', 1
                FROM generate_series(%s, %s) AS n
                """,
                [missing, done + 1, done + size],
            )
        done += size
        print(f"  inserted {done:,}/{missing:,} rows", flush=True)
    if missing:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE audit_auditevent")
        print(f"  topped up {missing:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
    return existing + missing


def _client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tests.factories import UserFactory
    from tourbrain_support.roles import Role, assign_roles

    user = get_user_model().objects.filter(email="bench-auditor@example.com").first()
    if user is None:
        user = UserFactory(email="bench-auditor@example.com")
        assign_roles(user, [Role.AUDITOR])
    client = Client()
    client.force_login(user)
    return client


def _time(client, url: str) -> tuple[float, float]:
    timings = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def main() -> None:
    if connection.vendor != "postgresql":
        print("  audit review bench needs PostgreSQL (DATABASE_URL); skipped")
        return
    from audit.models import AuditEvent
    from audit.sealing import seal_all
    from audit.security import security_metrics

    total = _top_up(REVIEW_ROWS)
    started = time.perf_counter()
    sealed = seal_all(wait_seconds=0)
    print(f"  sealed {sealed} in {time.perf_counter() - started:.1f} s", flush=True)
    client = _client()
    newest = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    middle = newest - total // 2
    now = timezone.now()
    day_start = (now - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M")
    day_end = (now - timedelta(days=19)).strftime("%Y-%m-%dT%H:%M")
    pages = [
        ("newest", "/audit/"),
        ("deep page (keyset)", f"/audit/?before={middle}"),
        ("actor", "/audit/?actor=1000123"),
        ("organization", "/audit/?organization=1000017"),
        ("action=export", "/audit/?action=export"),
        ("resource (ticket page link)", "/audit/?resource_type=ticket&resource_id=12345"),
        ("failures only", "/audit/?success=no"),
        ("one day, 20 days ago", f"/audit/?since={day_start}&until={day_end}"),
        ("actor + export + deep", f"/audit/?actor=1000105&action=export&before={middle}"),
        ("organization + failures", "/audit/?organization=1000003&success=no"),
    ]
    print(f"  review page at {total:,} rows, {REPEAT} requests each (p50 / p95 ms):")
    worst = 0.0
    for label, url in pages:
        p50, p95 = _time(client, url)
        worst = max(worst, p95)
        flag = "" if p95 < TARGET_P95_MS else "  (over target)"
        print(f"    {label:<30} {p50:7.1f} / {p95:7.1f}{flag}", flush=True)
    print(f"  worst p95 {worst:.1f} ms (target < {TARGET_P95_MS:.0f} ms)")
    for label, window in (("24 h", timedelta(hours=24)), ("7 days", timedelta(days=7))):
        started = time.perf_counter()
        security_metrics(now - window, now)
        print(f"  security_metrics over {label}: {(time.perf_counter() - started) * 1000:.0f} ms")
