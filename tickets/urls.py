"""Pages: staff (/queue/, /roadmap/, /beta/), the customer portal (/portal/) and /widget/demo/ (DEBUG)."""

from django.urls import path

from tickets import views, views_beta, views_portal, views_surveys, widget_demo

app_name = "tickets"
urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("queue/claim/", views.claim, name="claim"),
    path("queue/bulk/", views.bulk, name="bulk"),
    path("queue/views/", views.saved_view_create, name="saved_view_create"),
    path("queue/views/<int:pk>/delete/", views.saved_view_delete, name="saved_view_delete"),
    path("queue/<str:reference>/", views.detail, name="detail"),
    path("queue/<str:reference>/reply/", views.reply, name="reply"),
    path("queue/<str:reference>/attachments/<int:pk>/", views.attachment, name="attachment"),
    path("queue/<str:reference>/status/", views.change_status, name="status"),
    path("queue/<str:reference>/priority/", views.change_priority, name="priority"),
    path("queue/<str:reference>/component/", views.change_component, name="component"),
    path("queue/<str:reference>/assign/", views.assign, name="assign"),
    path("queue/<str:reference>/portal-link/", views.portal_link, name="portal_link"),
    path("roadmap/", views.roadmap, name="roadmap"),
    path("roadmap/merge/", views.roadmap_merge, name="roadmap_merge"),
    path("beta/", views_beta.cohort, name="beta_cohort"),
    path("beta/invite/", views_beta.invite, name="beta_invite"),
    path("beta/invitations/<int:pk>/revoke/", views_beta.revoke, name="beta_revoke"),
    path("portal/", views_portal.ticket_list, name="portal"),
    path("portal/new/", views_portal.ticket_new, name="portal_new"),
    path("portal/suggestions/", views_portal.suggestions, name="portal_suggestions"),
    path("portal/login/link/", views_portal.login_link_request, name="portal_login_link_request"),
    path("portal/login/<str:signed>/", views_portal.login_with_link, name="portal_login_link"),
    path("portal/beta/call.ics", views_portal.beta_call_ics, name="portal_beta_call"),
    path("portal/beta/join/<str:token>/", views_portal.beta_join, name="portal_beta_join"),
    path("portal/tickets/<str:reference>/", views_portal.ticket_detail, name="portal_detail"),
    path("portal/tickets/<str:reference>/reply/", views_portal.ticket_reply, name="portal_reply"),
    path("portal/tickets/<str:reference>/rate/", views_portal.ticket_rate, name="portal_rate"),
    path(
        "portal/tickets/<str:reference>/attachments/<int:pk>/",
        views_portal.ticket_attachment,
        name="portal_attachment",
    ),
    # Survey links from email: the signed token is the permission (no sign-in).
    path("survey/csat/<str:token>/", views_surveys.csat_rate, name="csat_rate"),
    path("survey/nps/<str:token>/", views_surveys.nps_answer, name="nps_answer"),
    path("survey/beta/<str:token>/", views_surveys.beta_feedback, name="beta_feedback"),
    # DEBUG only (404 otherwise): the widget embedded in a page dressed as TourBrain, and its demo tokens.
    path("widget/demo/", widget_demo.demo_page, name="widget_demo"),
    path("widget/demo/token/", widget_demo.demo_token, name="widget_demo_token"),
]
