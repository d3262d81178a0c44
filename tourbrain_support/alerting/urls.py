from django.urls import path

from tourbrain_support.alerting import views

app_name = "alerting"

urlpatterns = [
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/silences/", views.silence_list, name="silences"),
    path("alerts/silences/<int:pk>/expire/", views.silence_expire, name="silence_expire"),
]
