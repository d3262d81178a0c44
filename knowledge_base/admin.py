"""Admin for the knowledge base: articles with history (django-simple-history), feedback read-only.

Related users are linked only for viewers who may open user pages (PermittedRelatedLinksMixin).
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from simple_history.admin import SimpleHistoryAdmin

from knowledge_base.models import Article, Category, EmptySearch, Feedback, SuggestionOpen
from tourbrain_support.admin_mixins import PermittedRelatedLinksMixin


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Article)
class ArticleAdmin(PermittedRelatedLinksMixin, SimpleHistoryAdmin):
    list_display = ["title", "kind", "status", "audience", "category", "updated_at", "view_count"]
    list_filter = ["kind", "status", "audience", "category"]
    search_fields = ["title", "slug"]
    list_select_related = ["category"]
    autocomplete_fields = ["related"]
    readonly_fields = ["view_count", "created_at", "updated_at", "published_at", "author"]
    exclude = ["search_vector", "search_head"]

    def save_model(self, request, obj, form, change):
        # Every change is audited, like the editor pages (which go through the services).
        from audit.services import audit_record

        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action="update" if change else "create",
            resource_type="kb_article",
            resource_id=obj.pk,
            changes={"operation": "admin_edit" if change else "admin_create", "fields": form.changed_data},
        )

    def history_view(self, request, object_id, extra_context=None):
        user_admin = self.admin_site._registry.get(get_user_model())
        if user_admin is None or not user_admin.has_view_or_change_permission(request):
            # Who changed what, as text for a viewer who may not open user pages (an empty URL name).
            extra_context = {**(extra_context or {}), "admin_user_view": ""}
        return super().history_view(request, object_id, extra_context=extra_context)


@admin.register(Feedback)
class FeedbackAdmin(PermittedRelatedLinksMixin, admin.ModelAdmin):
    list_display = ["article", "helpful", "user", "created_at"]
    list_filter = ["helpful"]
    list_select_related = ["article", "user"]
    readonly_fields = ["article", "user", "reader_id", "helpful", "comment", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False


@admin.register(SuggestionOpen)
class SuggestionOpenAdmin(PermittedRelatedLinksMixin, admin.ModelAdmin):
    list_display = ["article", "person_key", "source", "opened_at", "outcome"]
    list_filter = ["outcome", "source"]
    list_select_related = ["article"]
    readonly_fields = ["article", "user", "person_key", "draft_key", "source", "opened_at", "outcome", "decided_at"]

    def has_add_permission(self, request):
        return False


@admin.register(EmptySearch)
class EmptySearchAdmin(admin.ModelAdmin):
    list_display = ["query", "day", "count", "last_searched_at"]
    readonly_fields = ["query", "day", "count", "last_searched_at"]

    def has_add_permission(self, request):
        return False
