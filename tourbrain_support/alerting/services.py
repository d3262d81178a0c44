"""Alerting writes: silences (create, expire; done by people, audited through the core's recorder) and the
failures apps record for their alert sources."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from tourbrain_support.alerting.models import ProbeSample, Silence
from tourbrain_support.api import ApplicationError

logger = logging.getLogger(__name__)
MAX_SILENCE = timedelta(days=30)
_MATCHER = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$")


def matchers_parse(text: str) -> list[list[str]]:
    """`severity=critical, alertname=~Clerk.*` -> [["severity", "=", "critical"], ["alertname", "=~", "Clerk.*"]]."""
    matchers = []
    for part in [part for part in text.split(",") if part.strip()]:
        match = _MATCHER.match(part)
        if not match:
            raise ApplicationError(
                f"{part.strip()!r} is not a matcher (label=value, label!=value, label=~regex, label!~regex).",
                fields={"matchers": ["Use label=value pairs separated by commas."]},
            )
        if match["op"] in ("=~", "!~"):
            try:
                re.compile(match["value"])
            except re.error as exc:
                raise ApplicationError(
                    f"Bad regular expression {match['value']!r}: {exc}", fields={"matchers": [str(exc)]}
                ) from exc
        matchers.append([match["name"], match["op"], match["value"]])
    if not matchers:
        raise ApplicationError("A silence needs at least one matcher.", fields={"matchers": ["Required."]})
    return matchers


def _record(**kwargs: Any) -> None:
    from tourbrain_support.recorders import record_action

    record_action(resource_type="alerting.silence", **kwargs)


@transaction.atomic
def silence_create(
    *, matchers: str, ends_at: datetime, reason: str, actor: Any, starts_at: datetime | None = None, request=None
) -> Silence:
    """Mute the matching rules until `ends_at` (at most 30 days ahead); audited."""
    now = timezone.now()
    starts_at = starts_at or now
    parsed = matchers_parse(matchers)
    reason = reason.strip()
    if not reason:
        raise ApplicationError("Say why the alerts are silenced.", fields={"reason": ["Required."]})
    if ends_at <= max(now, starts_at):
        raise ApplicationError("The silence must end in the future.", fields={"ends_at": ["Must be in the future."]})
    if ends_at - now > MAX_SILENCE:
        raise ApplicationError("A silence lasts at most 30 days.", fields={"ends_at": ["At most 30 days ahead."]})
    silence = Silence.objects.create(
        matchers=parsed, starts_at=starts_at, ends_at=ends_at, reason=reason[:300], created_by=actor
    )
    _record(
        actor=actor,
        action="create",
        resource_id=silence.pk,
        changes={"matchers": parsed, "ends_at": ends_at.isoformat(), "reason": silence.reason},
        request=request,
    )
    return silence


@transaction.atomic
def silence_expire(*, silence: Silence, actor: Any, request=None) -> Silence:
    """End a silence now (an ended one stays as it is); audited."""
    now = timezone.now()
    if silence.ends_at <= now:
        return silence
    silence.ends_at = now
    silence.save(update_fields=["ends_at"])
    _record(actor=actor, action="update", resource_id=silence.pk, changes={"ends_at": now.isoformat()}, request=request)
    return silence


def failure_record(*, name: str, detail: str, at: datetime | None = None) -> bool:
    """Record a failure an app's alert source reads (a `down` probe sample named `name`, e.g. the audit
    trail's verification, whose own audit row may be the very write that is refused). Its own transaction or
    a savepoint in the caller's; never raises (False when it could not be written)."""
    try:
        with transaction.atomic():
            ProbeSample.objects.create(
                probe=name[:80], sampled_at=at or timezone.now(), status=ProbeSample.Status.DOWN, detail=detail[:300]
            )
        return True
    except Exception:
        logger.warning("failure %s not recorded", name, exc_info=True)
        return False
