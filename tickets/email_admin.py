"""Admin for email: the quarantine (retry or discard held messages), the emails of each ticket with their
full original text, and the addresses our mail bounced from. Operators only (OPERATOR_ONLY_MODELS):
these rows hold whole messages from and to every customer."""

import email
import email.policy

from django.contrib import admin, messages
from django.utils import timezone

from audit.services import audit_record
from tickets.email_inbound import quarantine_discard, quarantine_retry_many
from tickets.models import BouncingAddress, OrganizationEmailDomain, QuarantinedEmail, TicketEmail
from tourbrain_support.admin_mixins import PermittedRelatedLinksMixin, ReadOnlyAdminMixin

# The original shown in the admin is cut here (the raw bytes stay whole in the database).
SHOWN_CHARS = 100_000


def _original(raw: bytes) -> str:
    text = bytes(raw or b"").decode("utf-8", "replace")
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "\n… (cut)"


def _decoded_text(raw: bytes) -> str:
    try:
        message = email.message_from_bytes(bytes(raw or b""), policy=email.policy.default)
        part = message.get_body(preferencelist=("plain", "html"))
        return part.get_content()[:SHOWN_CHARS] if part is not None else ""
    except Exception as error:  # the admin shows what it can of a broken message
        return f"(not decodable: {error})"


@admin.register(QuarantinedEmail)
class QuarantinedEmailAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "sender", "subject", "status", "short_reason"]
    list_filter = ["status"]
    search_fields = ["sender", "subject", "message_id"]
    ordering = ["-created_at", "-id"]
    list_per_page = 50
    show_full_result_count = False
    actions = ["retry", "discard"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.resolver_match.url_name.endswith("_change") else queryset.defer("raw")

    fields = ["created_at", "status", "sender", "subject", "message_id", "reason", "text", "original"]
    readonly_fields = fields

    @admin.display(description="reason")
    def short_reason(self, obj):
        return obj.reason[:120]

    @admin.display(description="text")
    def text(self, obj):
        return _decoded_text(obj.raw)

    @admin.display(description="original message")
    def original(self, obj):
        return _original(obj.raw)

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("tickets.change_quarantinedemail")

    @admin.action(description="Retry (ingest the held messages again)", permissions=["retry"])
    def retry(self, request, queryset):
        counts = quarantine_retry_many(
            ids=list(queryset.values_list("pk", flat=True)), actor=request.user, request=request
        )
        summary = ", ".join(f"{outcome}: {count}" for outcome, count in sorted(counts.items())) or "nothing held"
        self.message_user(request, f"Retried: {summary}.", messages.SUCCESS)

    @admin.action(description="Discard (give the held messages up)", permissions=["retry"])
    def discard(self, request, queryset):
        count = quarantine_discard(ids=list(queryset.values_list("pk", flat=True)), actor=request.user, request=request)
        self.message_user(request, f"{count} message(s) discarded.", messages.SUCCESS)


@admin.register(TicketEmail)
class TicketEmailAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "direction", "reference", "sender", "subject"]
    list_filter = ["direction"]
    search_fields = ["message_id", "sender", "ticket__reference"]
    list_select_related = ["ticket"]
    ordering = ["-created_at", "-id"]
    list_per_page = 50
    show_full_result_count = False
    fields = ["created_at", "direction", "ticket", "ticket_message", "message_id", "sender", "subject", "original"]
    readonly_fields = fields

    @admin.display(description="original message")
    def original(self, obj):
        return _original(obj.raw)

    @admin.display(description="ticket", ordering="ticket__reference")
    def reference(self, obj):
        return obj.ticket.reference

    def get_queryset(self, request):
        # The list does not need the whole messages.
        queryset = super().get_queryset(request)
        return queryset if request.resolver_match.url_name.endswith("_change") else queryset.defer("raw")


@admin.register(BouncingAddress)
class BouncingAddressAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["address", "bounced_at", "reason"]
    search_fields = ["address"]
    ordering = ["-bounced_at"]
    list_per_page = 50

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting the row lets mail go to the address again (the customer fixed their mailbox).
        return request.user.has_perm("tickets.delete_bouncingaddress")


@admin.register(OrganizationEmailDomain)
class OrganizationEmailDomainAdmin(PermittedRelatedLinksMixin, admin.ModelAdmin):
    """Email domains of organizations: a new sender from a verified one joins the organization."""

    list_display = ["domain", "organization", "verified_at"]
    list_select_related = ["organization"]
    list_filter = [("verified_at", admin.EmptyFieldListFilter)]
    search_fields = ["domain", "organization__name"]
    readonly_fields = ["verified_at", "created_at"]
    actions = ["verify"]

    @admin.action(
        description="Mark the selected domains as verified (owned by the organization)", permissions=["change"]
    )
    def verify(self, request, queryset):
        ids = list(queryset.filter(verified_at__isnull=True).values_list("pk", flat=True))
        OrganizationEmailDomain.objects.filter(pk__in=ids).update(verified_at=timezone.now())
        audit_record(
            actor=request.user,
            action="update",
            resource_type="organization_email_domain",
            resource_id=ids[0] if len(ids) == 1 else None,
            changes={"operation": "verify", "domains": ids},
            request=request,
        )
        messages.success(request, f"{len(ids)} domain(s) verified.")
