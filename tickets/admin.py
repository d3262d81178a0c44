"""Admin pages of the tickets app (each concern registers its models in its own module)."""

from django import forms
from django.contrib import admin
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from audit.services import audit_record
from tickets import beta_admin, outbox_admin, services  # noqa: F401 - they register the outbox and beta admins
from tickets.models import (
    Attachment,
    BusinessCalendarConfig,
    RoutingRule,
    SLAPolicy,
    SLATarget,
    Team,
    Ticket,
    TicketMessage,
)
from tourbrain_support.admin_mixins import ReadOnlyAdminMixin
from tourbrain_support.roles import has_role
from tourbrain_support.tiers import Tier

# The SLA engine owns these: shown, never edited by hand (due times follow from the policy and the clocks).
SLA_FIELDS = (
    "reference",
    "tier",
    "sla_policy",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "next_due_at",
    "sla_warning_at",
    "sla_state",
    "first_responded_at",
    "last_customer_message_at",
    "solved_at",
    "closed_at",
    "paused_at",
    "first_response_elapsed_minutes",
    "next_response_elapsed_minutes",
    "resolution_elapsed_minutes",
    "escalated_at",
    "warning_notified_at",
    "version",
    "created_at",
    "updated_at",
)


class TicketMessageInline(admin.TabularInline):
    model = TicketMessage
    extra = 0
    fields = ("created_at", "author", "is_internal", "is_from_staff", "body")
    readonly_fields = fields
    raw_id_fields = ("author",)
    can_delete = False


@admin.register(Ticket)
class TicketAdmin(SimpleHistoryAdmin):
    list_display = (
        "reference",
        "subject",
        "type",
        "priority",
        "status",
        "team",
        "tier",
        "assignee",
        "next_due_at",
        "sla_state",
    )
    list_filter = ("status", "team", "tier", "priority", "type", "sla_state", "priority_queue", "channel")
    search_fields = ("=reference", "subject")
    raw_id_fields = ("duplicate_of",)
    # Workflow changes go through the services (clocks, audit, notifications): the queue and the API.
    readonly_fields = (
        "user",
        "organization",
        "type",
        "priority",
        "status",
        "team",
        "assignee",
        "priority_queue",
        "channel",
        *SLA_FIELDS,
    )
    list_select_related = ("assignee",)
    show_full_result_count = False  # no COUNT(*) over a million rows on every page
    inlines = [TicketMessageInline]
    history_list_display = ("status", "priority", "assignee", "sla_state")

    def has_add_permission(self, request) -> bool:
        return False  # tickets are filed through ticket_create (portal, widget, email, API)

    def save_model(self, request, obj, form, change) -> None:
        # An admin text edit still invalidates forms opened before it, and is audited.
        obj.version += 1
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action="update",
            resource_type="ticket",
            resource_id=obj.pk,
            organization=obj.organization_id,
            changes={"operation": "admin_edit", "fields": sorted(form.changed_data)},
            request=request,
        )


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("filename", "content_type", "size", "message", "created_at")
    raw_id_fields = ("message",)
    readonly_fields = ("size", "content_type", "created_at")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "lead", "round_robin")
    filter_horizontal = ("members",)
    readonly_fields = ("last_assigned",)


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ("order", "description", "type", "priority", "tier", "team", "priority_queue", "is_active")
    list_editable = ("order", "is_active")
    list_display_links = ("description",)


@admin.register(BusinessCalendarConfig)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ("name", "timezone", "holiday_country", "always_open", "updated_at")


class SLATargetInline(ReadOnlyAdminMixin, admin.TabularInline):  # published versions are immutable
    model = SLATarget
    extra = 0
    fields = ("tier", "priority", "first_response_minutes", "next_response_minutes", "resolution_minutes")


TARGET_KINDS = ("first_response_minutes", "next_response_minutes", "resolution_minutes")


def _target_field_name(tier: str, priority: str, kind: str) -> str:
    return f"{tier}__{priority}__{kind}"


class SLAPolicyPublishForm(forms.ModelForm):
    """Publish a new version: every tier x priority cell, prefilled from the active version."""

    class Meta:
        model = SLAPolicy
        fields = ("name", "calendar", "notes")

    actor = None  # set per request by SLAPolicyAdmin.get_form

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = SLAPolicy.objects.filter(is_active=True).first()
        if current is not None:
            self.fields["name"].initial = current.name
            self.fields["calendar"].initial = current.calendar_id
            for row in current.targets.all():
                for kind in TARGET_KINDS:
                    name = _target_field_name(row.tier, row.priority, kind)
                    if name in self.fields:
                        self.fields[name].initial = getattr(row, kind)

    def clean(self):
        data = super().clean()
        if not has_role(self.actor, *services.LEAD_ROLES):
            raise forms.ValidationError("Only a support lead or an admin may publish SLA policies.")
        return data

    def targets(self) -> list[dict]:
        return [
            {
                "tier": tier,
                "priority": priority,
                **{kind: self.cleaned_data[_target_field_name(tier, priority, kind)] for kind in TARGET_KINDS},
            }
            for tier in Tier.values
            for priority in Ticket.Priority.values
        ]


for _tier in Tier.values:
    for _priority in Ticket.Priority.values:
        for _kind in TARGET_KINDS:
            SLAPolicyPublishForm.base_fields[_target_field_name(_tier, _priority, _kind)] = forms.IntegerField(
                min_value=1,
                max_value=525_600,
                label=f"{_tier} / {_priority}: {_kind.removesuffix('_minutes').replace('_', ' ')} (business minutes)",
            )
SLAPolicyPublishForm.declared_fields = dict(SLAPolicyPublishForm.base_fields)


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    """Published versions are read-only; "add" publishes a new version through `sla_policy_publish`
    (leads and admins; tickets keep the version they started with)."""

    list_display = ("version", "name", "calendar", "is_active", "created_by", "created_at")

    def get_inlines(self, request, obj):
        return [SLATargetInline] if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type("SLAPolicyPublishFormFor", (SLAPolicyPublishForm,), {"actor": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        policy = services.sla_policy_publish(
            actor=request.user,
            targets=form.targets(),
            calendar=form.cleaned_data["calendar"],
            name=form.cleaned_data["name"],
            notes=form.cleaned_data["notes"],
        )
        obj.pk, obj.version, obj.is_active, obj.created_by = policy.pk, policy.version, True, request.user

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
