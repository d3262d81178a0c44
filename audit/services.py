"""Writes to the audit trail. Every state change in the portal calls `audit_record` in its own transaction."""

from typing import Any


def audit_record(
    *,
    actor: Any | None,
    action: str,
    resource_type: str,
    resource_id: str | int | None,
    organization: Any | None = None,
    changes: dict | None = None,
    success: bool = True,
    error_message: str = "",
    request: Any | None = None,
) -> None:
    """Record one audit event (interface fixed; the immutable log lands with the audit issue)."""
    return None
