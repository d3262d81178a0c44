"""Every app's API under /api/v1/; each app keeps its own `api_urls.py`."""

from django.urls import include, path

from tourbrain_support.apis import MeApi

urlpatterns = [
    path("widget/", include("tickets.widget_urls")),
    path("me/", MeApi.as_view(), name="api-me"),
    path("", include("tickets.api_urls")),
    path("", include("audit.api_urls")),
    path("", include("kpis.api_urls")),
    path("", include("knowledge_base.api_urls")),
]
