"""Waiting in tests that drive real processes, on a machine that may be busy.

A fixed deadline that holds on an idle machine is missed when the full suite (or another job) keeps the
cores busy: a Celery worker that starts in 3 s idle takes 60 s at a load average of 10 on 2 cores. So
waits here are for something observable, and the time allowed is a budget stated for an idle machine,
multiplied by `load_factor()` (read again while waiting), that starts over whenever `progress` moves (an
email arrived, the log grew). A wait still fails, with what it was waiting for, once nothing has moved for
the scaled budget, and always after `MAX_WAIT_SECONDS`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

MAX_LOAD_FACTOR = 8.0
MAX_WAIT_SECONDS = 600.0


def load_factor() -> float:
    """How much slower than idle to expect: the 1-minute load average per core, between 1 and 8."""
    per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return min(max(1.0, per_core), MAX_LOAD_FACTOR)


def scaled(seconds: float) -> float:
    """An idle-machine duration, stretched for the current load."""
    return seconds * load_factor()


def wait_until(
    condition: Callable[[], bool],
    *,
    budget: float,
    what: str,
    progress: Callable[[], object] | None = None,
    details: Callable[[], str] | None = None,
    interval: float = 0.05,
) -> None:
    """Poll `condition` until it holds; fail once `budget` (idle seconds, scaled by the load) passes without
    it holding and without `progress()` changing, or after MAX_WAIT_SECONDS in all."""
    started = last_move = time.monotonic()
    seen = progress() if progress else None
    while not condition():
        now = time.monotonic()
        if progress is not None:
            current = progress()
            if current != seen:
                seen, last_move = current, now
        if now - last_move > scaled(budget) or now - started > MAX_WAIT_SECONDS:
            waited = f"{now - started:.0f} s, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            pytest.fail(f"{what}: not reached after {waited}" + (f"\n{details()}" if details else ""))
        time.sleep(interval)
