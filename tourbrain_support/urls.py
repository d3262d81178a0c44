from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from audit.forms import LockoutAuthenticationForm
from tourbrain_support import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("csp-report/", views.csp_report, name="csp-report"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LockoutAuthenticationForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its init script as a file (no inline script under the CSP).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="tourbrain_support/swagger_ui.html"),
        name="swagger-ui",
    ),
    path("api/v1/", include("tourbrain_support.api_urls")),
    path("", include("tourbrain_support.alerting.urls")),
    path("", include("tourbrain_support.oncall.urls")),
    path("", include("tickets.urls")),
    path("", include("audit.urls")),
    path("", include("kpis.urls")),
    path("", include("knowledge_base.urls")),
]

handler403 = "tourbrain_support.views.permission_denied"
handler404 = "tourbrain_support.views.page_not_found"
handler500 = "tourbrain_support.views.server_error"
