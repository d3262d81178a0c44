"""The portal's URLs plus the widget benchmark's references: `/bench/bare/`, a plain Django view answering
JSON (no DRF, no database), and `/bench/widget-auth/`, a widget API view that only authenticates (the
verified token, the customer's identity query, the throttles) and answers the same JSON: the floor under
any widget request."""

from django.http import JsonResponse
from django.urls import include, path
from rest_framework.response import Response

from tickets.widget_apis import WidgetApiView


def bare(request):
    return JsonResponse({"ok": True})


class WidgetAuthOnly(WidgetApiView):
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/widget-auth/", WidgetAuthOnly.as_view()),
    path("", include("tourbrain_support.urls")),
]
