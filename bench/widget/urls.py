"""The portal's URLs plus `/bench/bare/`: a plain Django view answering JSON, no DRF, no database."""

from django.http import JsonResponse
from django.urls import include, path


def bare(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/bare/", bare),
    path("", include("tourbrain_support.urls")),
]
