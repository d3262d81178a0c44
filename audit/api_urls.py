"""Audit API under /api/v1/: deployments (CI/CD) and the signed-in user's own consents."""

from django.urls import path

from audit.apis import DeploymentRecordApi
from audit.apis_privacy import MyConsentsApi

urlpatterns = [
    path("audit/deployments/", DeploymentRecordApi.as_view(), name="audit-deployments"),
    path("me/consents/", MyConsentsApi.as_view(), name="api-me-consents"),
]
