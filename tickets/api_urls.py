"""Staff ticket API under /api/v1/tickets/ (session auth; queue roles), and the inbound email webhooks."""

from django.urls import path

from tickets import apis, email_webhooks

urlpatterns = [
    path("tickets/", apis.TicketListApi.as_view(), name="api-tickets-list"),
    path("tickets/<str:reference>/", apis.TicketDetailApi.as_view(), name="api-tickets-detail"),
    path("tickets/<str:reference>/reply/", apis.TicketReplyApi.as_view(), name="api-tickets-reply"),
    path("tickets/<str:reference>/note/", apis.TicketNoteApi.as_view(), name="api-tickets-note"),
    path("tickets/<str:reference>/assign/", apis.TicketAssignApi.as_view(), name="api-tickets-assign"),
    path("tickets/<str:reference>/status/", apis.TicketStatusApi.as_view(), name="api-tickets-status"),
    path("tickets/<str:reference>/priority/", apis.TicketPriorityApi.as_view(), name="api-tickets-priority"),
    # Inbound email posted by the provider (signed or behind basic auth; off until configured).
    path("email/inbound/mailgun/", email_webhooks.mailgun_inbound, name="email-inbound-mailgun"),
    path("email/inbound/postmark/", email_webhooks.postmark_inbound, name="email-inbound-postmark"),
]
