"""Admin of the satisfaction surveys: NPS answers and beta feedback (leads approve testimonials). The actions
that send a survey now are on the beta support profiles (`tickets.beta_admin`)."""

from django.contrib import admin, messages

from tickets import surveys
from tickets.models import BetaFeedback, NpsSurvey
from tourbrain_support.admin_mixins import ReadOnlyAdminMixin
from tourbrain_support.roles import Role, has_role


def _is_lead(request) -> bool:
    return has_role(request.user, Role.SUPPORT_LEAD, Role.ADMIN)


@admin.register(NpsSurvey)
class NpsSurveyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "organization", "period", "source", "sent_at", "score", "answered_at")
    list_select_related = ("user", "organization")
    list_filter = ("period", "source", ("answered_at", admin.EmptyFieldListFilter))
    search_fields = ("user__email", "organization__name")
    fields = ("user", "organization", "period", "source", "sent_at", "score", "comment", "answered_at")


@admin.register(BetaFeedback)
class BetaFeedbackAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "organization", "round", "conversion_intent", "plan", "publish_consent", "approved_at")
    list_select_related = ("user", "organization")
    list_filter = ("conversion_intent", "publish_consent", ("approved_at", admin.EmptyFieldListFilter), "round")
    search_fields = ("user__email", "organization__name", "testimonial")
    fields = (
        "user",
        "organization",
        "round",
        "conversion_intent",
        "plan",
        "testimonial",
        "publish_consent",
        "approved_at",
        "approved_by",
        "created_at",
        "updated_at",
    )
    actions = ["approve"]

    def has_approve_permission(self, request) -> bool:
        return _is_lead(request)

    @admin.action(description="Approve the selected testimonials for publishing", permissions=["approve"])
    def approve(self, request, queryset):
        approved = skipped = 0
        for feedback in queryset:
            if feedback.testimonial and feedback.publish_consent:
                surveys.testimonial_approve(feedback=feedback, actor=request.user)
                approved += 1
            else:
                skipped += 1
        messages.success(request, f"Approved {approved} testimonial(s); {skipped} without consent or text skipped.")
