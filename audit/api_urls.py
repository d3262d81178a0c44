"""Audit API under /api/v1/: deployments and their freeze (CI/CD, Vercel) and the signed-in user's own consents."""

from django.urls import path, re_path

from audit.apis import DeploymentFreezeApi, DeploymentRecordApi, vercel_deployment_webhook
from audit.apis_privacy import MyConsentsApi

urlpatterns = [
    path("audit/deployments/", DeploymentRecordApi.as_view(), name="audit-deployments"),
    # CI reads it as GET /api/v1/deployments/freeze (with or without the slash).
    re_path(r"^deployments/freeze/?$", DeploymentFreezeApi.as_view(), name="deployments-freeze"),
    path("deployments/vercel/", vercel_deployment_webhook, name="deployments-vercel"),
    path("me/consents/", MyConsentsApi.as_view(), name="api-me-consents"),
]
