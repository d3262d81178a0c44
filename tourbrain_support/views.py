"""Core pages: home (customers go to the portal, staff to their areas), health probes, metrics, CSP reports."""

import json
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tourbrain_support.api import is_api_path, json_error_response
from tourbrain_support.context_processors import navigation_items
from tourbrain_support.health import run_readiness_checks
from tourbrain_support.metrics import CSP_VIOLATIONS, render_metrics
from tourbrain_support.middleware import content_length
from tourbrain_support.parsers import json_nesting_exceeds
from tourbrain_support.roles import is_customer

logger = logging.getLogger(__name__)


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


# Browsers post CSP violations here: the legacy report-uri format ({"csp-report": {...}}) or the Reporting
# API's list of {"type": "csp-violation", "body": {...}}. Logged and counted; nothing is stored.
CSP_REPORT_TYPES = {"application/csp-report", "application/reports+json", "application/json"}
# The metric's label is one of these (anything else is "other"), so reports cannot add series without end.
CSP_DIRECTIVES = {
    "default-src", "script-src", "script-src-elem", "script-src-attr", "style-src", "style-src-elem",
    "style-src-attr", "img-src", "font-src", "connect-src", "media-src", "object-src", "frame-src",
    "child-src", "worker-src", "manifest-src", "frame-ancestors", "base-uri", "form-action",
}  # fmt: skip


def _csp_reports(payload) -> list[dict]:
    if isinstance(payload, dict) and isinstance(payload.get("csp-report"), dict):
        return [payload["csp-report"]]
    if isinstance(payload, list):
        return [
            item["body"]
            for item in payload
            if isinstance(item, dict) and item.get("type") == "csp-violation" and isinstance(item.get("body"), dict)
        ]
    return []


def _directive(report: dict) -> str:
    directive = str(report.get("effective-directive") or report.get("effectiveDirective") or "").split(" ")[0]
    return directive if directive in CSP_DIRECTIVES else "other"


@csrf_exempt
@require_POST
def csp_report(request):
    if (request.content_type or "") not in CSP_REPORT_TYPES:
        return HttpResponse("Unsupported report type.", status=415, content_type="text/plain")
    if content_length(request) > settings.SECURITY_REPORT_MAX_BYTES:  # checked before the body is read
        return HttpResponse("Report too large.", status=413, content_type="text/plain")
    body = request.body
    try:
        text = body.decode("utf-8")
        if json_nesting_exceeds(text, settings.API_JSON_MAX_DEPTH):
            raise ValueError("nested too deep")
        reports = _csp_reports(json.loads(text))
    except ValueError:
        return HttpResponse("Malformed report.", status=400, content_type="text/plain")
    for report in reports:
        directive = _directive(report)
        CSP_VIOLATIONS.labels(directive).inc()
        logger.warning(
            "CSP violation: %s blocked %s on %s",
            directive,
            str(report.get("blocked-uri") or report.get("blockedURL") or "")[:200],
            str(report.get("document-uri") or report.get("documentURL") or "")[:200],
        )
    return HttpResponse(status=204)
