"""Audit API under /api/v1/."""

from django.urls import path

from audit.apis import DeploymentRecordApi

urlpatterns = [
    path("audit/deployments/", DeploymentRecordApi.as_view(), name="audit-deployments"),
]
