"""Read-only admin for the audit trail: nothing can be added, changed or deleted from here."""

from django.contrib import admin

from audit.models import AuditCheckpoint, AuditEvent, DeploymentFreeze, DeploymentRecord
from tourbrain_support.admin_mixins import ReadOnlyAdminMixin


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    def get_actions(self, request):
        return {}


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "occurred_at", "action", "resource_type", "resource_id", "actor_id", "success"]
    list_filter = ["action", "success"]
    search_fields = ["resource_type", "resource_id", "request_id"]
    show_full_result_count = False


@admin.register(DeploymentRecord)
class DeploymentRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "occurred_at", "version", "deployed_by", "migration_status", "rollback_available", "source"]


@admin.register(DeploymentFreeze)
class DeploymentFreezeAdmin(ReadOnlyAdmin):
    # Turned on and lifted through the deployment API (CI, the deploy token) and Vercel's webhook, audited.
    list_display = ["started_at", "is_active", "reason", "source", "deployment_id", "lifted_at", "lift_note"]
    list_filter = ["is_active", "source"]


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["stream", "sequence", "first_id", "last_id", "row_count", "sealed_at", "key_id"]
    list_filter = ["stream"]
    exclude = ["leaves"]


# Security, GDPR and backup records (a module of their own).
from audit import admin_compliance  # noqa: E402, F401
