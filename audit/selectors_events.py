"""Reads of the activity log about one person (GDPR access export)."""

from django.db.models import Prefetch, Q, QuerySet

from audit.models import AuditEvent, AuditPersonalData, AuditSubject


def audit_events_for_user(user) -> QuerySet[AuditEvent]:
    """Events the user did or that were about their account, with only their own personal data attached.

    Each event carries `personal_data_of_subject` (a list of AuditPersonalData rows of this person).
    """
    subject_id = AuditSubject.objects.filter(user=user).values_list("subject_id", flat=True).first()
    about = Q(actor_id=user.pk) | Q(resource_type="user", resource_id=str(user.pk))
    if subject_id:
        about |= Q(actor_subject=subject_id)
    personal = (
        AuditPersonalData.objects.filter(subject_id=subject_id) if subject_id else AuditPersonalData.objects.none()
    )
    return (
        AuditEvent.objects.filter(about)
        .order_by("id")
        .prefetch_related(Prefetch("personal_data", queryset=personal, to_attr="personal_data_of_subject"))
    )
