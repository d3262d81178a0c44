"""Writes of the KPI pages: launch-scorecard targets changed by product managers and admins (audited)."""

from django.db import transaction

from audit.services import audit_record
from kpis.models import ScorecardTargetSetting
from kpis.scorecard import TARGETS_BY_LABEL
from tourbrain_support.api import ApplicationError


@transaction.atomic
def scorecard_target_update(*, label: str, threshold: float, actor) -> ScorecardTargetSetting:
    """Set a measured target's threshold (in the metric's unit: a ratio as 0..1); audited with old and new."""
    target = TARGETS_BY_LABEL.get(label)
    if target is None or target.metric is None:
        raise ApplicationError("No measured target has this name.", fields={"label": ["Unknown target."]})
    if threshold < 0 or (target.unit == "ratio" and threshold > 1):
        message = "A share is between 0% and 100%." if target.unit == "ratio" else "Must be at least 0."
        raise ApplicationError(message, fields={"threshold": [message]})
    setting = ScorecardTargetSetting.objects.select_for_update().filter(label=label).first()
    before = setting.threshold if setting else target.threshold
    if setting is None:
        setting = ScorecardTargetSetting(label=label)
    setting.threshold = threshold
    setting.updated_by = actor
    setting.save()
    audit_record(
        actor=actor,
        action="update",
        resource_type="kpi_target",
        resource_id=setting.pk,
        changes={"label": label, "threshold": [before, threshold]},
    )
    return setting
