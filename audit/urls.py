from django.urls import path

from audit import views

app_name = "audit"
urlpatterns = [
    path("audit/", views.event_list, name="events"),
    path("audit/events/<int:pk>/", views.event_detail, name="event"),
    path("audit/export.<str:fmt>", views.event_export, name="export"),
    path("audit/security/", views.security_page, name="security"),
    path("audit/security/lockouts/<int:pk>/lift/", views.lockout_lift, name="lockout_lift"),
    path("audit/backups/", views.backups_page, name="backups"),
    path("audit/gdpr/", views.gdpr_page, name="gdpr"),
    path("audit/gdpr/requests/new/", views.dsr_create, name="gdpr_request_new"),
    path("audit/gdpr/requests/<int:pk>/", views.dsr_detail, name="gdpr_request"),
    path("audit/gdpr/requests/<int:pk>/export.json", views.dsr_export, name="gdpr_request_export"),
]
