"""Knowledge base API under /api/v1/kb/."""

from django.urls import path

from knowledge_base import apis

urlpatterns = [
    path("kb/suggestions/", apis.KbSuggestionsApi.as_view(), name="api-kb-suggestions"),
]
