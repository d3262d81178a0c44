from django.urls import path

from audit import views, views_privacy

app_name = "audit"
urlpatterns = [
    path("audit/", views.event_list, name="events"),
    path("audit/events/<int:pk>/", views.event_detail, name="event"),
    path("audit/events/<int:pk>/proof.json", views.event_proof, name="event_proof"),
    path("audit/export.<str:fmt>", views.event_export, name="export"),
    path("audit/security/", views.security_page, name="security"),
    path("audit/security/lockouts/<int:pk>/lift/", views.lockout_lift, name="lockout_lift"),
    path("audit/backups/", views.backups_page, name="backups"),
    path("audit/gdpr/", views.gdpr_page, name="gdpr"),
    path("audit/gdpr/requests/new/", views.dsr_create, name="gdpr_request_new"),
    path("audit/gdpr/requests/<int:pk>/", views.dsr_detail, name="gdpr_request"),
    path("audit/gdpr/requests/<int:pk>/export.json", views.dsr_export, name="gdpr_request_export"),
    # The person's own privacy page: any signed-in user.
    path("account/privacy/", views_privacy.privacy_page, name="privacy"),
    path("account/privacy/policy/accept/", views_privacy.policy_accept, name="privacy_policy_accept"),
    path("account/privacy/consents/", views_privacy.consent_change, name="privacy_consent"),
    path("account/privacy/requests/", views_privacy.request_create, name="privacy_request"),
    path("account/privacy/erasure/", views_privacy.erasure_confirm, name="privacy_erasure"),
    path("account/privacy/requests/<int:pk>/export.json", views_privacy.request_export, name="privacy_export"),
]
