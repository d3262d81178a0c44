"""Admin of the beta program: leads edit each beta organization's support profile; saving a weekly call
emails the calendar invite (rep and customers) through the outbox, once per version of the call."""

from django.contrib import admin, messages

from tickets import beta
from tickets.forms import staff_assignees
from tickets.models import BetaSupportProfile
from tourbrain_support.roles import Role, has_role


@admin.register(BetaSupportProfile)
class BetaSupportProfileAdmin(admin.ModelAdmin):
    list_display = ("organization", "is_active", "dedicated_rep", "slack_channel", "call_weekday", "call_time")
    list_filter = ("is_active", "screen_share_available")
    list_select_related = ("organization", "dedicated_rep")
    search_fields = ("organization__name",)
    fieldsets = (
        (None, {"fields": ("organization", "is_active", "dedicated_rep", "screen_share_available")}),
        ("Slack", {"fields": ("slack_channel", "slack_webhook_url")}),
        ("Weekly feedback call", {"fields": ("call_weekday", "call_time", "call_timezone", "call_duration_minutes")}),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if has_role(request.user, Role.SUPPORT_LEAD, Role.ADMIN):
            return fieldsets
        # The webhook URL lets anyone post to the customer's channel: only leads and admins see it.
        return [
            (name, {**options, "fields": tuple(f for f in options["fields"] if f != "slack_webhook_url")})
            for name, options in fieldsets
        ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "dedicated_rep":
            kwargs["queryset"] = staff_assignees()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        sent = beta.beta_call_invites_send(profile=obj, actor=request.user)
        if sent:
            messages.info(request, f"Weekly call invite (.ics) emailed to {len(sent)} people.")
