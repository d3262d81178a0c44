"""Launch KPIs on PostgreSQL: event ingestion and the rollup of one day, each beside its reference.

`python -m bench kpis`:
- Ingestion: BENCH_KPI_INGEST_EVENTS events through the native batch API (`/api/v1/kpis/events/`) and the
  PostHog `/batch/` endpoint, served by gunicorn (2 workers) and sent in batches of 1,000 by
  BENCH_KPI_CLIENTS threads, beside a plain COPY of as many rows into the same table.
  Targets: >= 20,000 events/s through the batch API; PostHog /batch/ >= 70% of the batch API's rate.
- Rollup: one day holding BENCH_KPI_DAY_EVENTS events in a table of BENCH_KPI_TABLE_EVENTS (the issue's figures
  are 1,000,000 in 30,000,000; the defaults are smaller for a shared machine), generated server-side once;
  `rollup_day` of that day beside one scan of the day's rows. Target: under 10 s at the issue's figures.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

WORKERS = 2
CLIENTS = int(os.environ.get("BENCH_KPI_CLIENTS", "4"))
INGEST_EVENTS = int(os.environ.get("BENCH_KPI_INGEST_EVENTS", "40000"))
BATCH = 1000
TABLE_EVENTS = int(os.environ.get("BENCH_KPI_TABLE_EVENTS", "3000000"))
DAY_EVENTS = int(os.environ.get("BENCH_KPI_DAY_EVENTS", "100000"))
KEY = "phc_bench_kpis_key"
TARGET_RATE, TARGET_POSTHOG_SHARE, TARGET_ROLLUP_S = 20000, 0.70, 10.0
BIN = Path(sys.executable).parent
NAMES = ["pageView", "pageView", "pageView", "tourCreated", "exportGenerated", "aiRoutingUsed", "userSignup"]


def _port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _properties(name: str, number: int) -> dict:
    return {
        "tourCreated": {"artistCount": 2, "venueCount": 12},
        "exportGenerated": {"type": "pdf", "showId": f"show-{number % 500}"},
        "aiRoutingUsed": {"scenariosGenerated": 3, "applied": number % 2 == 0},
        "userSignup": {"method": "email"},
    }.get(name, {"$current_url": f"https://app.example/tours/{number % 900}/"})


def _events(count: int, prefix: str) -> list[dict]:
    now = datetime.now(tz=UTC)
    return [
        {
            "uuid": str(uuid.uuid4()),
            "event": NAMES[number % len(NAMES)],
            "distinct_id": f"{prefix}-{number % 5000}",
            "timestamp": (now - timedelta(seconds=number % 3600)).isoformat(),
            "properties": _properties(NAMES[number % len(NAMES)], number),
        }
        for number in range(count)
    ]


def _wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local server)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url} within {timeout:.0f} s")


def _send(url: str, bodies: list[bytes], headers: dict) -> float:
    """Post every body from CLIENTS threads; returns the wall-clock seconds."""
    queue = list(reversed(bodies))
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (local server)
                if response.status not in (200, 201):
                    failures.append(str(response.status))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[:3]}")
    return time.perf_counter() - started


def _copy_rate(events: list[dict]) -> float:
    """Rows per second of a plain COPY of the same events into the events table (committed)."""
    from django.db import connection, transaction

    now = datetime.now(tz=UTC)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        columns = "uuid, name, distinct_id, timestamp, received_at, properties, organization_key, is_custom"
        with cursor.copy(f"COPY kpis_productevent ({columns}) FROM STDIN") as copy:
            for event in events:
                copy.write_row(
                    (
                        event["uuid"],
                        event["event"],
                        event["distinct_id"],
                        event["timestamp"],
                        now,
                        json.dumps(event["properties"]),
                        "",
                        False,
                    )
                )
    return len(events) / (time.perf_counter() - started)


def ingestion() -> None:
    from django.db import connection

    port = _port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        DEBUG="0",
        KPI_PROJECT_API_KEYS=KEY,
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        SENTRY_DSN="",
        KPI_REQUEST_SAMPLE_RATE="0",
    )
    native_events = _events(INGEST_EVENTS, "bench-native")
    posthog_events = _events(INGEST_EVENTS, "bench-posthog")
    copy_events = _events(INGEST_EVENTS, "bench-copy")
    native_bodies = [
        json.dumps({"events": native_events[start : start + BATCH]}).encode()
        for start in range(0, INGEST_EVENTS, BATCH)
    ]
    posthog_bodies = [
        json.dumps({"api_key": KEY, "batch": posthog_events[start : start + BATCH]}).encode()
        for start in range(0, INGEST_EVENTS, BATCH)
    ]
    with tempfile.TemporaryDirectory(prefix="kpis-bench-"):
        server = subprocess.Popen(  # noqa: S603 (our own gunicorn, fixed arguments)
            [
                str(BIN / "gunicorn"),
                "tourbrain_support.wsgi",
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            env=env,
            start_new_session=True,
        )
        try:
            _wait_ready(f"{base}/healthz")
            json_headers = {"Content-Type": "application/json"}
            native_s = _send(
                f"{base}/api/v1/kpis/events/", native_bodies, {**json_headers, "Authorization": f"Bearer {KEY}"}
            )
            posthog_s = _send(f"{base}/batch/", posthog_bodies, json_headers)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    copy_rate = _copy_rate(copy_events)
    with connection.cursor() as cursor:
        bench_rows = (
            "FROM kpis_productevent WHERE distinct_id LIKE 'bench-native-%%' "
            "OR distinct_id LIKE 'bench-posthog-%%' OR distinct_id LIKE 'bench-copy-%%'"
        )
        cursor.execute(f"DELETE FROM kpis_event_uuid WHERE uuid IN (SELECT uuid {bench_rows})")  # noqa: S608
        cursor.execute(f"DELETE {bench_rows}")
        stored = cursor.rowcount
    native_rate, posthog_rate = INGEST_EVENTS / native_s, INGEST_EVENTS / posthog_s
    print(
        f"gunicorn {WORKERS} workers, {CLIENTS} client threads, {INGEST_EVENTS} events per path, "
        f"batches of {BATCH}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    print(f"plain COPY (reference)      {copy_rate:10.0f} events/s")
    print(f"native batch API            {native_rate:10.0f} events/s  ({native_rate / copy_rate:.0%} of COPY)")
    print(
        f"PostHog /batch/             {posthog_rate:10.0f} events/s  ({posthog_rate / native_rate:.0%} of the "
        f"batch API)"
    )
    print(f"rows stored and removed: {stored} (expected {3 * INGEST_EVENTS})")
    ok_rate = native_rate >= TARGET_RATE
    ok_share = posthog_rate >= TARGET_POSTHOG_SHARE * native_rate
    print(
        f"targets: batch API >= {TARGET_RATE}/s {'OK' if ok_rate else 'MISSED'}; PostHog >= "
        f"{TARGET_POSTHOG_SHARE:.0%} of it {'OK' if ok_share else 'MISSED'}"
    )


GENERATE_SQL = """
INSERT INTO kpis_productevent (uuid, name, distinct_id, timestamp, received_at, properties, organization_key,
                               is_custom)
SELECT gen_random_uuid(), (%(names)s::text[])[1 + i %% 7], 'bench-day-' || (i %% 20000),
       ts, ts, jsonb_build_object('method', 'email', 'type', 'pdf', 'showId', 's', 'artistCount', 1,
       'venueCount', 3, 'scenariosGenerated', 2, 'applied', true), '', false
FROM (SELECT i, %(start)s::timestamptz + (i %% %(seconds)s) * interval '1 second' AS ts
      FROM generate_series(1, %(count)s) AS i) AS rows
"""


def rollup() -> None:
    from django.db import connection

    from kpis.rollups import rollup_day

    today = datetime.now(tz=UTC).date()
    day = today - timedelta(days=10)
    day_start = datetime.combine(day, clock.min, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM kpis_productevent WHERE distinct_id LIKE 'bench-day-%%'")
        present = cursor.fetchone()[0]
        if present < TABLE_EVENTS:
            started = time.perf_counter()
            cursor.execute("DELETE FROM kpis_productevent WHERE distinct_id LIKE 'bench-day-%%'")
            # The other days: spread over the 300 days before the measured one.
            cursor.execute(
                GENERATE_SQL,
                {
                    "names": NAMES,
                    "start": day_start - timedelta(days=300),
                    "seconds": 300 * 86400,
                    "count": TABLE_EVENTS - DAY_EVENTS,
                },
            )
            cursor.execute(GENERATE_SQL, {"names": NAMES, "start": day_start, "seconds": 86400, "count": DAY_EVENTS})
            cursor.execute("ANALYZE kpis_productevent")
            print(f"generated {TABLE_EVENTS} events ({DAY_EVENTS} on {day}) in {time.perf_counter() - started:.1f} s")
        bounds = [day_start, day_start + timedelta(days=1)]
        started = time.perf_counter()
        cursor.execute(
            "SELECT count(*), sum(length(properties::text)) FROM kpis_productevent "
            'WHERE "timestamp" >= %s AND "timestamp" < %s',
            bounds,
        )
        rows = cursor.fetchone()[0]
        scan_s = time.perf_counter() - started
    started = time.perf_counter()
    written = rollup_day(day=day)
    rollup_s = time.perf_counter() - started
    print(f"table {TABLE_EVENTS} bench events, {rows} on {day}")
    print(f"one scan of the day's rows (reference)  {scan_s:6.2f} s")
    print(f"rollup_day ({written} rows written)       {rollup_s:6.2f} s  ({rollup_s / scan_s:.1f}x the scan)")
    print(
        f"target: under {TARGET_ROLLUP_S:.0f} s at 1,000,000 in 30,000,000: "
        f"{'OK' if rollup_s < TARGET_ROLLUP_S else 'MISSED'} at this size"
    )


def main() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        print("skipped: the KPI benchmark needs PostgreSQL (DATABASE_URL)")
        return
    ingestion()
    rollup()
