"""Core pages: home (customers go to the portal, staff see their areas), health probes and metrics."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tourbrain_support.api import is_api_path, json_error_response
from tourbrain_support.context_processors import navigation_items
from tourbrain_support.health import run_readiness_checks
from tourbrain_support.metrics import render_metrics
from tourbrain_support.roles import is_customer


@login_required
def home(request):
    if is_customer(request.user):
        # Customers have one place: the portal (named by URL, the core does not import the tickets app).
        return redirect("tickets:portal")
    return render(request, "tourbrain_support/home.html", {"destinations": navigation_items(request.user)})


@require_GET
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request):
    ok, checks = run_readiness_checks()
    return JsonResponse({"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503)


@require_GET
@never_cache
def metrics(request):
    body, content_type = render_metrics()
    return HttpResponse(body, content_type=content_type)


# Error pages: API paths answer in the API error format, pages with Django's templates.
def page_not_found(request, exception):
    if is_api_path(request.path):
        return json_error_response(code="not_found", message="Not found.", status=404)
    return defaults.page_not_found(request, exception)


def permission_denied(request, exception):
    if is_api_path(request.path):
        return json_error_response(code="permission_denied", message="You may not do this.", status=403)
    return defaults.permission_denied(request, exception)


def server_error(request):
    if is_api_path(request.path):
        return json_error_response(code="server_error", message="Internal server error.", status=500)
    return defaults.server_error(request)
