"""The first queue request a fresh gunicorn worker serves, with and without the warm-up, beside the warm p95.

Starts gunicorn as production does (`tourbrain_support.gunicorn_conf`, one sync worker) on a free port
against the bench database, with WEB_WARMUP=0 and then 1, RESTARTS times each. After each start (the worker
logs "worker ready") it times the first `GET /queue/` of a signed-in support rep over HTTP: the cold request.
Then ROUNDS more requests give the warm p50/p95. Data: `bench/tickets_data.py` (BENCH_TICKETS, 1,000,000 by
default).
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import tickets_data

RESTARTS = int(os.environ.get("BENCH_WARMUP_RESTARTS", "3"))
ROUNDS = int(os.environ.get("BENCH_WARMUP_ROUNDS", "40"))
START_TIMEOUT = 120


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _session_cookie() -> str:
    """A real session of a support rep, stored where gunicorn's worker reads it (the bench database)."""
    from django.conf import settings
    from django.test import Client

    from bench.pages_bench import _staff_user
    from tourbrain_support.roles import Role

    client = Client()
    client.force_login(_staff_user("bench-rep@example.test", "Bench Rep", Role.SUPPORT_REP))
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _get_ms(url: str, cookie: str) -> float:
    request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310 - our own server
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - started) * 1000


def _one_start(warmup: bool, cookie: str) -> tuple[float, list[float], float]:
    """(cold first request ms, warm request ms list, worker start-up ms) for one fresh gunicorn."""
    from django.conf import settings

    port = _free_port()
    env = {**os.environ, "WEB_WARMUP": "1" if warmup else "0"}
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        started = time.perf_counter()
        server = subprocess.Popen(  # noqa: S603 - fixed command line
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:tourbrain_support.gunicorn_conf",
                f"--bind=127.0.0.1:{port}",
                "--workers=1",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while "worker ready" not in Path(log.name).read_text():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start:\n{Path(log.name).read_text()[-3000:]}")
                time.sleep(0.02)
            startup = (time.perf_counter() - started) * 1000
            url = f"http://127.0.0.1:{port}/queue/"
            cold = _get_ms(url, cookie)
            warm = [_get_ms(url, cookie) for _ in range(ROUNDS)]
        finally:
            server.terminate()
            server.wait(timeout=30)
    return cold, warm, startup


def main() -> None:
    from tickets.models import Ticket

    tickets_data.ensure()
    print(f"data: {Ticket.objects.count():,} tickets; {RESTARTS} fresh workers per mode, {ROUNDS} warm requests each")
    cookie = _session_cookie()
    results = {}
    for warmup in (False, True):
        colds, warms, startups = [], [], []
        for _ in range(RESTARTS):
            cold, warm, startup = _one_start(warmup, cookie)
            colds.append(cold)
            warms.extend(warm)
            startups.append(startup)
        results[warmup] = (colds, warms, startups)
    print(f"{'GET /queue/ per fresh gunicorn worker':<40} {'warm-up off':>24} {'warm-up on':>24}")
    off, on = results[False], results[True]
    rows = [
        ("first request (cold), median", statistics.median(off[0]), statistics.median(on[0])),
        ("first request (cold), worst", max(off[0]), max(on[0])),
        ("later requests (warm), p50", statistics.median(off[1]), statistics.median(on[1])),
        ("later requests (warm), p95", _percentile(off[1], 0.95), _percentile(on[1], 0.95)),
        ("worker start to ready, median", statistics.median(off[2]), statistics.median(on[2])),
    ]
    for label, without, with_warmup in rows:
        print(f"  {label:<38} {without:>21.1f} ms {with_warmup:>21.1f} ms", flush=True)
    samples = {name: ", ".join(f"{ms:.0f}" for ms in result[0]) for name, result in (("off", off), ("on", on))}
    print(f"  cold samples: off {samples['off']} ms; on {samples['on']} ms")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
