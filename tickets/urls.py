"""Staff pages: /queue/ (queue, ticket page, actions), /roadmap/; /widget/demo/ (DEBUG). The portal lives elsewhere."""

from django.urls import path

from tickets import views, widget_demo

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
    path("queue/<str:reference>/assign/", views.assign, name="assign"),
    path("roadmap/", views.roadmap, name="roadmap"),
    path("roadmap/merge/", views.roadmap_merge, name="roadmap_merge"),
    # DEBUG only (404 otherwise): the widget embedded in a page dressed as TourBrain, and its demo tokens.
    path("widget/demo/", widget_demo.demo_page, name="widget_demo"),
    path("widget/demo/token/", widget_demo.demo_token, name="widget_demo_token"),
]
