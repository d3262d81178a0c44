from django.urls import path

from knowledge_base import views

app_name = "knowledge_base"
urlpatterns = [
    path("docs/", views.index, name="index"),
    path("docs/search/", views.search, name="search"),
    path("docs/videos/", views.videos, name="videos"),
    path("docs/videos/<slug:slug>/", views.video, name="video"),
    path("docs/manage/", views.manage_list, name="manage_list"),
    path("docs/manage/new/", views.manage_new, name="manage_new"),
    path("docs/manage/report/", views.manage_report, name="manage_report"),
    path("docs/manage/<int:pk>/", views.manage_edit, name="manage_edit"),
    path("docs/manage/<int:pk>/status/", views.manage_status, name="manage_status"),
    path("docs/manage/<int:pk>/history/", views.manage_history, name="manage_history"),
    path("docs/manage/<int:pk>/restore/<int:history_id>/", views.manage_restore, name="manage_restore"),
    path("docs/videos/<slug:slug>/feedback/", views.feedback, {"kind": "videos"}, name="video_feedback"),
    path("docs/<slug:slug>/feedback/", views.feedback, {"kind": "docs"}, name="feedback"),
    path("docs/<slug:slug>/", views.article, name="article"),
]
