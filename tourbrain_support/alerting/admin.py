"""Admin for alerting: HTTP probes and rules are edited here (rules also as YAML); samples and history are read-only.

Silences are created and expired on /alerts/silences/ (audited), so the admin only lists them.
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from tourbrain_support.admin_mixins import ReadOnlyAdminMixin
from tourbrain_support.alerting.models import AlertEvent, AlertRule, AlertState, HttpProbe, ProbeSample, Silence
from tourbrain_support.alerting.rules_yaml import rules_export, rules_import
from tourbrain_support.api import ApplicationError


@admin.register(HttpProbe)
class HttpProbeAdmin(admin.ModelAdmin):
    list_display = ["name", "method", "url", "expected_status", "timeout_seconds", "enabled"]
    list_filter = ["enabled"]


@admin.register(ProbeSample)
class ProbeSampleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["sampled_at", "probe", "status", "latency_ms", "value", "detail"]
    list_filter = ["status"]
    search_fields = ["probe"]
    show_full_result_count = False


class AlertStateInline(admin.StackedInline):
    model = AlertState
    can_delete = False
    readonly_fields = [field.name for field in AlertState._meta.fields if field.name != "rule"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


class RulesImportForm(forms.Form):
    file = forms.FileField(required=False, help_text="A Prometheus-style rule file (.yml).")
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 20, "cols": 100}), label="or YAML")


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "severity", "expression", "for_duration", "current_state", "enabled"]
    list_filter = ["severity", "enabled", "state__state"]
    list_select_related = ["state"]
    search_fields = ["name", "source"]
    inlines = [AlertStateInline]
    actions = ["export_yaml"]
    change_list_template = "admin/alerting/alertrule/change_list.html"

    @admin.display(description="state", ordering="state__state")
    def current_state(self, rule):
        state = getattr(rule, "state", None)
        return state.get_state_display() if state else "—"

    @admin.action(description="Export selected rules as YAML")
    def export_yaml(self, request, queryset):
        response = HttpResponse(rules_export(queryset.order_by("name")), content_type="application/yaml")
        response["Content-Disposition"] = 'attachment; filename="alert-rules.yml"'
        return response

    def get_urls(self):
        own = [
            path("import/", self.admin_site.admin_view(self.import_view), name="alerting_alertrule_import"),
            path("export/", self.admin_site.admin_view(self.export_view), name="alerting_alertrule_export"),
        ]
        return own + super().get_urls()

    def export_view(self, request):
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        return self.export_yaml(request, AlertRule.objects.all())

    def import_view(self, request):
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            return HttpResponse(status=403)
        form = RulesImportForm(request.POST or None, request.FILES or None)
        status = 200
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            text = upload.read().decode("utf-8", errors="replace") if upload else form.cleaned_data["text"]
            try:
                created, updated = rules_import(text=text, actor=request.user, request=request)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                for problem in exc.fields.get("rules", []):
                    form.add_error(None, problem)
                status = 400
            else:
                messages.success(request, f"{created} rule(s) created, {updated} updated.")
                return redirect("admin:alerting_alertrule_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "opts": self.model._meta,
            "title": "Import alert rules",
        }
        return TemplateResponse(request, "admin/alerting/alertrule/import.html", context, status=status)


@admin.register(Silence)
class SilenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "matchers_text", "starts_at", "ends_at", "created_by", "reason"]
    list_select_related = ["created_by"]


@admin.register(AlertEvent)
class AlertEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "rule", "kind", "instance", "value", "notified", "silenced"]
    list_filter = ["kind", "notified", "silenced"]
    list_select_related = ["rule"]
    show_full_result_count = False
