"""Admin of the customer side: leads edit each beta organization's support profile (saving a weekly call
emails the calendar invite to the rep and customers through the outbox, once per version of the call) and
revoke portal sign-in links."""

from django.contrib import admin, messages

from tickets import beta, surveys
from tickets.forms import staff_assignees
from tickets.models import BetaSupportProfile, NpsSurvey, PortalLoginLink
from tickets.portal_links import portal_links_revoke
from tourbrain_support.admin_mixins import PermittedRelatedLinksMixin, ReadOnlyAdminMixin
from tourbrain_support.roles import Role, has_role


@admin.register(BetaSupportProfile)
class BetaSupportProfileAdmin(PermittedRelatedLinksMixin, admin.ModelAdmin):
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

    actions = ["ask_beta_feedback", "send_nps_survey"]

    def has_survey_permission(self, request) -> bool:
        return has_role(request.user, Role.SUPPORT_LEAD, Role.ADMIN)

    @admin.action(description="Ask the selected organizations' people for beta feedback now", permissions=["survey"])
    def ask_beta_feedback(self, request, queryset):
        people = list(surveys.beta_users([profile.organization_id for profile in queryset]))
        sent = surveys.beta_feedback_request(users=people, actor=request.user)
        messages.success(request, f"Feedback form emailed to {sent} people (once a week each).")

    @admin.action(description="Send the NPS survey now to the selected organizations' people", permissions=["survey"])
    def send_nps_survey(self, request, queryset):
        people = surveys.beta_users([profile.organization_id for profile in queryset])
        sent = [
            person
            for person in people
            if surveys.nps_survey_send(user=person, source=NpsSurvey.Source.ADMIN, actor=request.user) is not None
        ]
        messages.success(request, f"NPS survey emailed to {len(sent)} people (at most once per period each).")


@admin.register(PortalLoginLink)
class PortalLoginLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Emailed portal sign-in links: who got one, when, whether it was used; leads revoke unused ones."""

    list_display = ("pk", "user", "created_at", "expires_at", "used_at", "revoked_at", "created_by")
    list_select_related = ("user", "created_by")
    list_filter = (("used_at", admin.EmptyFieldListFilter), ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("user__email",)
    fields = ("user", "created_by", "created_at", "expires_at", "used_at", "revoked_at")
    actions = ["revoke"]

    def has_revoke_permission(self, request) -> bool:
        return has_role(request.user, Role.SUPPORT_LEAD, Role.ADMIN)

    @admin.action(description="Revoke the selected unused links", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = 0
        for user in {link.user for link in queryset.select_related("user")}:
            revoked += portal_links_revoke(user=user, actor=request.user, links=queryset.filter(user=user))
        messages.success(request, f"Revoked {revoked} link(s); they no longer sign anyone in.")
