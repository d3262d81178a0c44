"""Admin pages of the tickets app (each concern registers its models in its own module)."""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from tickets import beta_admin, email_admin, intake_admin, selectors, services, survey_admin  # noqa: F401 - they register admins
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
from tourbrain_support.admin_mixins import PermittedRelatedLinksMixin, ReadOnlyAdminMixin
from tourbrain_support.roles import has_role
from tourbrain_support.tiers import Tier


class TicketMessageInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TicketMessage
    extra = 0
    fields = ("created_at", "author", "is_internal", "is_from_staff", "body")
    readonly_fields = fields


@admin.register(Ticket)
class TicketAdmin(PermittedRelatedLinksMixin, SimpleHistoryAdmin):
    """Tickets as the queue scopes them, read-only.

    A ticket outside the user's teams does not exist here (changelist, change page, history, inlines),
    exactly as in the queue (`selectors.ticket_visible_to`). Nothing is edited here: every change goes
    through the services (version, audit, SLA clocks, notifications) from the queue or the API.
    """

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
    # Every field, also on the history's version pages (simple_history renders them from this list).
    readonly_fields = tuple(field.name for field in Ticket._meta.fields if not field.primary_key)
    list_select_related = ("assignee",)
    show_full_result_count = False  # no COUNT(*) over a million rows on every page
    inlines = [TicketMessageInline]
    history_list_display = ("status", "priority", "assignee", "sla_state")

    def get_queryset(self, request):
        return super().get_queryset(request) & selectors.ticket_visible_to(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        allowed = super().has_view_permission(request, obj)
        return allowed and (obj is None or selectors.user_can_work(request.user, obj))

    def has_add_permission(self, request) -> bool:
        return False  # tickets are filed through ticket_create (portal, widget, email, API)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # edits go through the services: the queue's forms and the staff API

    def history_view(self, request, object_id, extra_context=None):
        self._visible_or_404(request, object_id)
        user_admin = self.admin_site._registry.get(get_user_model())
        if user_admin is None or not user_admin.has_view_or_change_permission(request):
            # The history names who changed what; without the user admin, as text (an unknown URL name
            # makes the template's `{% url ... as %}` empty).
            extra_context = {**(extra_context or {}), "admin_user_view": ""}
        return super().history_view(request, object_id, extra_context=extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # A revert would write an old row over the ticket, around the services: never from here.
        if request.method != "GET":
            raise PermissionDenied
        self._visible_or_404(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context=extra_context)

    def _visible_or_404(self, request, object_id) -> None:
        # simple_history falls back to the latest historical row of a ticket the queryset hides.
        if not str(object_id).isdigit() or not self.get_queryset(request).filter(pk=int(object_id)).exists():
            raise Http404("No such ticket.")


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Attachments of the tickets the user may see; downloaded from the ticket page (as attachments)."""

    list_display = ("filename", "content_type", "size", "ticket_reference", "created_at")
    fields = ("filename", "content_type", "size", "created_at", "ticket_reference", "download")
    readonly_fields = fields
    list_select_related = ("message__ticket",)

    def get_queryset(self, request):
        visible = selectors.ticket_visible_to(request.user)
        return super().get_queryset(request).filter(message__ticket__in=visible.values("pk"))

    def has_view_permission(self, request, obj=None) -> bool:
        allowed = super().has_view_permission(request, obj)
        return allowed and (obj is None or selectors.user_can_work(request.user, obj.message.ticket))

    @admin.display(description="ticket")
    def ticket_reference(self, obj) -> str:
        return obj.message.ticket.reference

    @admin.display(description="download")
    def download(self, obj):
        url = reverse("tickets:attachment", args=[obj.message.ticket.reference, obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.filename)


@admin.register(Team)
class TeamAdmin(PermittedRelatedLinksMixin, admin.ModelAdmin):
    list_display = ("slug", "name", "lead", "round_robin")
    filter_horizontal = ("members",)
    readonly_fields = ("last_assigned",)


@admin.register(RoutingRule)
class RoutingRuleAdmin(PermittedRelatedLinksMixin, admin.ModelAdmin):
    list_display = ("order", "description", "type", "priority", "tier", "team", "priority_queue", "is_active")
    list_editable = ("order", "is_active")
    list_display_links = ("description",)


@admin.register(BusinessCalendarConfig)
class BusinessCalendarAdmin(PermittedRelatedLinksMixin, admin.ModelAdmin):
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
class SLAPolicyAdmin(PermittedRelatedLinksMixin, admin.ModelAdmin):
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
