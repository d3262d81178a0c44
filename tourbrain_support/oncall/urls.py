"""Pages: /oncall/ (staff), pages and incidents, the public /status/, the admin's /launch/."""

from django.urls import path

from tourbrain_support.oncall import views

app_name = "oncall"
urlpatterns = [
    path("oncall/", views.oncall, name="oncall"),
    path("oncall/pages/<int:pk>/", views.page_detail, name="page_detail"),
    path("oncall/pages/<int:pk>/acknowledge/", views.page_acknowledge, name="page_acknowledge"),
    path("oncall/pages/<int:pk>/resolve/", views.page_resolve, name="page_resolve"),
    path("oncall/pages/<int:pk>/incident/", views.page_incident, name="page_incident"),
    path("oncall/link/<str:token>/", views.page_link, name="page_link"),
    path("oncall/incidents/", views.incidents, name="incidents"),
    path("oncall/incidents/<int:pk>/", views.incident_detail, name="incident_detail"),
    path("status/", views.status, name="status"),
    path("launch/", views.launch, name="launch"),
]
