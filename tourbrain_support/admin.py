from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.urls import reverse
from django.utils.html import format_html

from tourbrain_support.models import Membership, Organization, User, WorkerHeartbeat


class PortalUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name")


class PortalUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["organization"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = PortalUserChangeForm
    add_form = PortalUserCreationForm
    ordering = ["email"]
    list_display = ["email", "name", "is_beta", "is_staff", "is_active", "roles"]
    list_filter = ["is_beta", "is_staff", "is_active", "groups"]
    search_fields = ["email", "name"]
    inlines = [MembershipInline]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "is_beta", "is_available")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
        ("Audit", {"fields": ("audit_trail",)}),
    )
    readonly_fields = ("audit_trail",)
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "name", "password1", "password2")}),)
    filter_horizontal = ("groups", "user_permissions")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="roles")
    def roles(self, obj):
        return ", ".join(group.name for group in obj.groups.all()) or "customer"

    @admin.display(description="audit trail")
    def audit_trail(self, obj):
        """Links to the activity log (auditors and admins): what this person did, and what was done to the account."""
        events = reverse("audit:events")
        return format_html(
            '<a href="{}?{}">actions by this user</a> · <a href="{}?{}">changes to this account</a>',
            events,
            urlencode({"actor": obj.pk}),
            events,
            urlencode({"resource_type": "user", "resource_id": obj.pk}),
        )


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "plan", "region", "created_at"]
    list_filter = ["plan", "region"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["worker", "beat_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


admin.site.site_header = "TourBrain Support admin"
admin.site.site_title = "TourBrain Support"
