"""Widget API under /api/v1/widget/ (end-user JWT; see tickets.widget_apis)."""

from django.urls import path

from tickets import widget_apis

urlpatterns = [
    path("tickets/", widget_apis.TicketListCreateApi.as_view(), name="widget-tickets"),
    path("tickets/<str:reference>/", widget_apis.TicketDetailApi.as_view(), name="widget-ticket"),
    path(
        "tickets/<str:reference>/messages/",
        widget_apis.TicketMessageCreateApi.as_view(),
        name="widget-ticket-messages",
    ),
    path(
        "tickets/<str:reference>/satisfaction/",
        widget_apis.TicketSatisfactionApi.as_view(),
        name="widget-ticket-satisfaction",
    ),
    path(
        "tickets/<str:reference>/attachments/<int:attachment_id>/",
        widget_apis.TicketAttachmentApi.as_view(),
        name="widget-ticket-attachment",
    ),
    path("me/", widget_apis.MeApi.as_view(), name="widget-me"),
    path("nps/", widget_apis.NpsApi.as_view(), name="widget-nps"),
    path("status/", widget_apis.StatusApi.as_view(), name="widget-status"),
    path("suggestions/", widget_apis.SuggestionsApi.as_view(), name="widget-suggestions"),
]
