"""Staff ticket API under /api/v1/tickets/ (session auth; queue roles)."""

from django.urls import path

from tickets import apis

urlpatterns = [
    path("tickets/", apis.TicketListApi.as_view(), name="api-tickets-list"),
    path("tickets/<str:reference>/", apis.TicketDetailApi.as_view(), name="api-tickets-detail"),
    path("tickets/<str:reference>/reply/", apis.TicketReplyApi.as_view(), name="api-tickets-reply"),
    path("tickets/<str:reference>/note/", apis.TicketNoteApi.as_view(), name="api-tickets-note"),
    path("tickets/<str:reference>/assign/", apis.TicketAssignApi.as_view(), name="api-tickets-assign"),
    path("tickets/<str:reference>/status/", apis.TicketStatusApi.as_view(), name="api-tickets-status"),
    path("tickets/<str:reference>/priority/", apis.TicketPriorityApi.as_view(), name="api-tickets-priority"),
]
