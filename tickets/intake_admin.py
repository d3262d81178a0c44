"""Admin for widget tickets accepted but not filed yet (`tickets/intake.py`): what is pending, what failed and
why, a retry and a discard. Operators only (OPERATOR_ONLY_MODELS): a row holds what the customer wrote."""

from django.contrib import admin, messages

from tickets.intake import intake_discard, intake_retry
from tickets.models import TicketIntake
from tourbrain_support.admin_mixins import ReadOnlyAdminMixin


class IntakeStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", "Pending"), ("failed", "Failed (retries used up)")]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(attempts__lt=TicketIntake.MAX_ATTEMPTS)
        if self.value() == "failed":
            return queryset.filter(attempts__gte=TicketIntake.MAX_ATTEMPTS)
        return queryset


@admin.register(TicketIntake)
class TicketIntakeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "requester", "accepted_at", "state", "attempts", "next_attempt_at", "short_error"]
    list_filter = [IntakeStateFilter]
    list_select_related = ["requester"]
    search_fields = ["reference", "=request_id"]
    ordering = ["id"]
    list_per_page = 50
    show_full_result_count = False
    actions = ["retry", "discard"]
    fields = [
        "reference",
        "requester",
        "organization",
        "channel",
        "subject",
        "accepted_at",
        "tier",
        "first_response_due_at",
        "attempts",
        "next_attempt_at",
        "last_error",
        "request_id",
        "payload",
    ]
    readonly_fields = fields

    @admin.display(description="state")
    def state(self, obj) -> str:
        return "failed" if obj.attempts >= TicketIntake.MAX_ATTEMPTS else "pending"

    @admin.display(description="last error")
    def short_error(self, obj) -> str:
        return obj.last_error[:120]

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("tickets.change_ticketintake")

    @admin.action(description="Retry filing now", permissions=["retry"])
    def retry(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        filed = intake_retry(ids=ids, actor=request.user, request=request)
        self.message_user(
            request, f"{filed} of {len(ids)} filed.", messages.SUCCESS if filed == len(ids) else messages.WARNING
        )

    @admin.action(description="Discard (give up filing them)", permissions=["retry"])
    def discard(self, request, queryset):
        count = intake_discard(ids=list(queryset.values_list("pk", flat=True)), actor=request.user, request=request)
        self.message_user(request, f"{count} discarded.", messages.SUCCESS)
