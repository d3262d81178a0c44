"""Admin for the knowledge base: articles with history (django-simple-history), feedback read-only."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from knowledge_base.models import Article, Category, EmptySearch, Feedback, SuggestionOpen


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Article)
class ArticleAdmin(SimpleHistoryAdmin):
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


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["article", "helpful", "user", "created_at"]
    list_filter = ["helpful"]
    list_select_related = ["article", "user"]
    readonly_fields = ["article", "user", "reader_id", "helpful", "comment", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False


@admin.register(SuggestionOpen)
class SuggestionOpenAdmin(admin.ModelAdmin):
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
