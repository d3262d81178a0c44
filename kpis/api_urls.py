from django.urls import path

from kpis.apis import EventsIngestApi

urlpatterns = [
    path("kpis/events/", EventsIngestApi.as_view(), name="api-kpi-events"),
]
