"""Admin for security, GDPR and backup records: read-only evidence, except publishing policy versions.

Data-subject requests move through their workflow on /audit/gdpr/ (audited, deadline-aware), lockouts
are lifted on /audit/security/; the admin only shows them.
"""

from django.contrib import admin

from audit.forms import LockoutAdminAuthenticationForm
from audit.models import (
    BackupRun,
    ConsentRecord,
    CrossBorderTransfer,
    DataSubjectRequest,
    LoginLockout,
    PrivacyPolicyVersion,
    SecurityCounter,
)
from tourbrain_support.admin_mixins import PermittedRelatedLinksMixin, ReadOnlyAdminMixin

# The admin login goes through the same lockout; its form explains it like the portal's.
admin.site.login_form = LockoutAdminAuthenticationForm


@admin.register(SecurityCounter)
class SecurityCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["bucket", "kind", "source", "count"]
    list_filter = ["kind"]
    date_hierarchy = "bucket"
    show_full_result_count = False


@admin.register(LoginLockout)
class LoginLockoutAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["scope", "user", "label", "failures", "lockouts", "locked_until", "lifted_at", "lifted_by"]
    list_filter = ["scope"]
    list_select_related = ["user", "lifted_by"]


@admin.register(PrivacyPolicyVersion)
class PrivacyPolicyVersionAdmin(PermittedRelatedLinksMixin, admin.ModelAdmin):
    list_display = ["version", "published_at", "url"]

    def has_delete_permission(self, request, obj=None):
        return False  # consents refer to it


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["recorded_at", "user", "purpose", "policy_version", "granted", "source"]
    list_filter = ["purpose", "granted", "source", "policy_version"]
    list_select_related = ["user", "policy_version"]
    show_full_result_count = False


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "status", "subject_email", "received_at", "due_at", "handled_by"]
    list_filter = ["kind", "status"]
    list_select_related = ["handled_by"]


@admin.register(CrossBorderTransfer)
class CrossBorderTransferAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["transferred_at", "recipient", "country", "legal_basis", "records", "reference"]
    list_filter = ["recipient", "country", "legal_basis"]
    show_full_result_count = False


@admin.register(BackupRun)
class BackupRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["started_at", "kind", "status", "engine", "size_bytes", "duration_seconds", "verified", "rto_met"]
    list_filter = ["kind", "status"]
