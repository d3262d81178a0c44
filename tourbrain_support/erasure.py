"""Erasure steps that apps add to the GDPR erasure, for personal data the generic search cannot reach.

The erasure (in the audit app) finds a person's rows by foreign key and by email columns. Data kept in
other forms, such as the raw bytes of a quarantined email that names the person only inside the message,
is erased by the app that owns it: the app registers a step here at start-up (`AppConfig.ready`), and the
erasure runs every step in its own transaction, before it searches for the person's rows. So the audit app
never imports another app's internals, and no two apps import each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# A step takes the person (before anonymisation: their email and name are still on it) and returns
# {label: rows changed}, e.g. {"tickets.quarantinedemail": 2}.
ErasureStep = Callable[..., dict[str, int]]

_steps: dict[str, ErasureStep] = {}


def register_erasure_step(name: str, step: ErasureStep) -> None:
    """Add (or replace, by name: `ready()` may run twice in tests) an app's erasure step."""
    _steps[name] = step


def erasure_steps_run(*, user: Any) -> dict[str, int]:
    """Run every registered step for the person, in the caller's transaction; their counts merged."""
    summary: dict[str, int] = {}
    for step in _steps.values():
        for label, count in step(user=user).items():
            summary[label] = summary.get(label, 0) + count
    return summary
