"""The core's way into the audit trail, without importing the audit app.

The core sits below the apps (DESIGN.md, import-linter contracts in pyproject.toml), yet some of its writes
must be audited: an identity's profile changing, an outbox retry, a notification or a Sentry event
leaving the country. The audit app registers its functions here when it starts (`AuditConfig.ready`);
core code calls `record_action` and `record_transfer` with the same arguments as `audit_record` and
`transfer_record`. Nothing is silently dropped: calling one before the audit app registered is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

_registered: dict[str, Callable[..., Any]] = {}


def register_recorders(
    *,
    action: Callable[..., Any],
    transfer: Callable[..., Any],
    transfers_recorded: Callable[[Iterable[str]], set[str]],
) -> None:
    """Called once by the audit app at start-up."""
    _registered.update(action=action, transfer=transfer, transfers_recorded=transfers_recorded)


def _recorder(name: str) -> Callable[..., Any]:
    try:
        return _registered[name]
    except KeyError:
        raise RuntimeError("No audit recorder is registered: is the audit app installed?") from None


def record_action(**kwargs: Any) -> Any:
    """Record one audit event (the arguments of `audit.services.audit_record`)."""
    return _recorder("action")(**kwargs)


def record_transfer(**kwargs: Any) -> Any:
    """Log one cross-border transfer (the arguments of `audit.gdpr.transfer_record`)."""
    return _recorder("transfer")(**kwargs)


def transfers_recorded(references: Iterable[str]) -> set[str]:
    """Which of these transfer references are already in the transfer log."""
    return _recorder("transfers_recorded")(references)
