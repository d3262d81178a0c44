"""Deployment freezes and Vercel's deployment webhook.

A production deployment that fails, is canceled or is rolled back is recorded in the system log
(`DeploymentRecord`) and turns a freeze on; CI reads `GET /api/v1/deployments/freeze` before it ships, and a
person lifts the freeze with a note (the deployment API's token, or the admin). Every change is audited.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import DeploymentFreeze, DeploymentRecord
from audit.services import audit_record, deployment_record

logger = logging.getLogger(__name__)

# Vercel webhook event types (https://vercel.com/docs/webhooks): a failure, or a deployment that went live.
VERCEL_FAILED = {"deployment.error", "deployment.canceled"}
VERCEL_LIVE = {"deployment.succeeded", "deployment.ready", "deployment.promoted"}
PRODUCTION = "production"


def deployment_freeze_current() -> DeploymentFreeze | None:
    """The freeze that is on, if any."""
    return DeploymentFreeze.objects.filter(is_active=True).first()


def deployment_freeze_set(
    *, reason: str, source: str, deployment_id: str = "", actor: Any | None = None, request: Any | None = None
) -> tuple[DeploymentFreeze, bool]:
    """Turn a freeze on; when one is already on it stays as it is. Returns (the freeze on, whether it is new)."""
    reason = " ".join(reason.split())[:300] or "Deployment freeze"
    current = deployment_freeze_current()
    if current is not None:
        return current, False
    try:
        with transaction.atomic():
            freeze = DeploymentFreeze.objects.create(
                reason=reason,
                source=source,
                deployment_id=deployment_id[:100],
                set_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
            audit_record(
                actor=actor,
                action="create",
                resource_type="deployment_freeze",
                resource_id=freeze.pk,
                changes={"reason": reason, "source": source, "deployment_id": deployment_id[:100]},
                request=request,
            )
    except IntegrityError:
        # Another failure turned one on at the same moment (one active freeze: a unique constraint).
        return DeploymentFreeze.objects.get(is_active=True), False
    logger.warning("deployments: freeze on", extra={"reason": reason, "source": source})
    return freeze, True


@transaction.atomic
def deployment_freeze_lift(
    *, note: str, actor: Any | None = None, request: Any | None = None
) -> DeploymentFreeze | None:
    """Lift the freeze that is on (None when there is none); the note says why it is safe to ship again."""
    freeze = DeploymentFreeze.objects.select_for_update().filter(is_active=True).first()
    if freeze is None:
        return None
    freeze.is_active = False
    freeze.lifted_at = timezone.now()
    freeze.lifted_by = actor if getattr(actor, "is_authenticated", False) else None
    freeze.lift_note = " ".join(note.split())[:300]
    freeze.save(update_fields=["is_active", "lifted_at", "lifted_by", "lift_note"])
    audit_record(
        actor=actor,
        action="update",
        resource_type="deployment_freeze",
        resource_id=freeze.pk,
        changes={"operation": "lift", "note": freeze.lift_note},
        request=request,
    )
    return freeze


class InvalidEvent(ValueError):
    pass


def vercel_deployment_event(event: Any) -> str:
    """Record one Vercel webhook event; returns what happened ("frozen", "recorded", "duplicate", "ignored").

    A resent event (same deployment, same outcome) records nothing new.
    """
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise InvalidEvent("A Vercel event is a JSON object with a `type`.")
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    deployment = payload.get("deployment") if isinstance(payload.get("deployment"), dict) else {}
    meta = deployment.get("meta") if isinstance(deployment.get("meta"), dict) else {}
    kind = event["type"]
    rolled_back = "rollback" in kind or str(meta.get("action", "")).lower() == "rollback"
    if kind in VERCEL_FAILED or rolled_back:
        status = DeploymentRecord.MigrationStatus.FAILED
    elif kind in VERCEL_LIVE:
        status = DeploymentRecord.MigrationStatus.COMPLETE
    else:
        return "ignored"
    deployment_id = str(deployment.get("id") or event.get("id") or "")[:64]
    if not deployment_id:
        raise InvalidEvent("The event names no deployment (payload.deployment.id).")
    if DeploymentRecord.objects.filter(
        deployment_id=deployment_id, migration_status=status, source=DeploymentRecord.Source.VERCEL
    ).exists():
        return "duplicate"
    target = str(payload.get("target") or deployment.get("target") or "")
    version = str(meta.get("githubCommitSha") or deployment.get("url") or deployment_id)[:100]
    author = str(meta.get("githubCommitAuthorLogin") or meta.get("githubCommitAuthorName") or "vercel")[:150]
    with transaction.atomic():
        deployment_record(
            version=version,
            deployed_by=author,
            rollback_available=not rolled_back,
            migration_status=status,
            configuration_changes=[f"vercel:{kind}", f"target:{target or 'unknown'}"],
            deployment_id=deployment_id,
            source=DeploymentRecord.Source.VERCEL,
        )
        if status != DeploymentRecord.MigrationStatus.FAILED or target != PRODUCTION:
            return "recorded"
        what = "rolled back" if rolled_back else kind.removeprefix("deployment.")
        deployment_freeze_set(
            reason=f"Production deployment {deployment_id} {what} ({version}).",
            source=DeploymentFreeze.Source.VERCEL,
            deployment_id=deployment_id,
        )
    return "frozen"
