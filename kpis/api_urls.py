from django.urls import path

from kpis.apis import EventsIngestApi, OpenAIUsageApi

urlpatterns = [
    path("kpis/events/", EventsIngestApi.as_view(), name="api-kpi-events"),
    path("kpis/openai-usage/", OpenAIUsageApi.as_view(), name="api-kpi-openai-usage"),
]
