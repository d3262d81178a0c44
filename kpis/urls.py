"""PostHog-compatible capture paths (at the site root, where the clients send) and the KPI pages."""

from django.urls import path

from kpis import capture_views, drain_views, views

app_name = "kpis"
urlpatterns = [
    path("kpis/", views.dashboard, name="dashboard"),
    path("kpis/metrics/", views.metric_definitions, name="metrics"),
    path("kpis/targets/", views.scorecard_targets, name="targets"),
    path("kpis/metrics/<slug:metric>.csv", views.metric_csv, name="metric-csv"),
    path("kpis/funnel.csv", views.cohorts_csv, {"table": "funnel"}, name="funnel-csv"),
    path("kpis/retention.csv", views.cohorts_csv, {"table": "retention"}, name="retention-csv"),
    path("kpis/drains/vercel/", drain_views.vercel_log_drain, name="vercel-log-drain"),
    path("batch/", capture_views.capture, name="capture-batch"),
    path("capture/", capture_views.capture, name="capture"),
    path("e/", capture_views.capture, name="capture-e"),
    path("i/v0/e/", capture_views.capture, name="capture-i-v0-e"),
]
