"""Lookups read once per batch: a bulk intake (an mbox of email) files many tickets in one transaction.

Inside `batch_scope()`, lookups that every new ticket repeats and that a batch does not change (the active
SLA policy, the routing rules, a team that does not assign in turn) are read once, and the intake primes
what it fetched for the whole batch (whether an address bounced). Outside a scope nothing is cached: each
call reads the database as before. A scope lives for one transaction, so a lead's edit made meanwhile is
seen by the next batch, at most a second later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_scope: ContextVar[dict | None] = ContextVar("tickets_batch_scope", default=None)
_MISSING = object()


@contextmanager
def batch_scope() -> Iterator[dict]:
    token = _scope.set({})
    try:
        yield _scope.get()
    finally:
        _scope.reset(token)


def batch_cached(key: Any, compute: Callable[[], T]) -> T:
    """`compute()` once per scope for this key (every time outside a scope)."""
    cache = _scope.get()
    if cache is None:
        return compute()
    found = cache.get(key, _MISSING)
    if found is _MISSING:
        found = cache[key] = compute()
    return found


def batch_known(key: Any, default: Any = None) -> Any:
    """What the scope holds for this key (primed by the caller), else `default`."""
    cache = _scope.get()
    return default if cache is None else cache.get(key, default)


def batch_prime(key: Any, value: Any) -> None:
    """Record a value the caller fetched (or changed) for the scope; no-op outside one."""
    cache = _scope.get()
    if cache is not None:
        cache[key] = value
