"""Admin for the notification outbox: a read-only log with status filters and a "retry now" action."""

from django.contrib import admin, messages

from tourbrain_support.admin_mixins import ReadOnlyAdminMixin
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_retry_now


class KindFilter(admin.SimpleListFilter):
    # Fixed choices: a DISTINCT over every outbox row on each page load would grow with the table.
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [(kind, kind) for kind in OutboxMessage.Kind.ALL]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "kind", "channel", "recipient", "subject", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "channel", KindFilter]
    search_fields = ["recipient", "subject", "idempotency_key"]
    ordering = ["-created_at", "-id"]
    list_per_page = 50
    show_full_result_count = False  # no COUNT(*) over a large outbox on every page
    actions = ["retry_now"]
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]

    def has_retry_permission(self, request) -> bool:
        # Rows are never edited by hand; retrying needs the model's change permission all the same.
        return request.user.has_perm("notifications.change_outboxmessage")

    @admin.action(description="Retry now (failed or waiting messages)", permissions=["retry"])
    def retry_now(self, request, queryset):
        count = outbox_retry_now(
            message_ids=list(queryset.values_list("pk", flat=True)), actor=request.user, request=request
        )
        self.message_user(request, f"{count} message(s) queued for delivery.", messages.SUCCESS)
