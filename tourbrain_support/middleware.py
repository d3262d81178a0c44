"""Request-scoped context (a request id on every log line and response), and 503 while the database is down."""

import json
import sys

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.template.loader import render_to_string

from tourbrain_support import request_context
from tourbrain_support.api import error_body, is_api_path


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_context.new_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        request_context.set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_context.set_request_id(None)
        response["X-Request-ID"] = request_id
        return response


class DatabaseUnavailableMiddleware:
    """A database that cannot be reached answers 503 with Retry-After, never a 500 or DEBUG's traceback page.

    Django turns an exception into a 500 inside each middleware layer, so the failure is noted on the request
    where it is raised (got_request_exception) and the 500 is rewritten here: the API's error format on /api/,
    a short page elsewhere, keeping the headers set on the way out (security headers, cache control).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        got_request_exception.connect(_note_database_unavailable, dispatch_uid="tourbrain_support.database_503")

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(request, "database_unavailable", False) and response.status_code >= 500:
            _rewrite_as_unavailable(request, response)
        return response


def _note_database_unavailable(sender, request=None, **kwargs) -> None:
    error = sys.exc_info()[1]
    if request is None or not isinstance(error, OperationalError | InterfaceError):
        return
    request.database_unavailable = True
    # Nothing further in this request may try to connect again (each try waits for the connect timeout).
    request.user = AnonymousUser()


def _rewrite_as_unavailable(request, response) -> None:
    retry_after = settings.DATABASE_UNAVAILABLE_RETRY_AFTER
    if is_api_path(request.path):
        message = "The service is briefly unavailable (database). Try again shortly."
        content = json.dumps(error_body(code="database_unavailable", message=message))
        content_type = "application/json"
    else:
        content = render_to_string("503.html", {"retry_after": retry_after})
        content_type = "text/html; charset=utf-8"
    response.status_code = 503
    response.reason_phrase = "Service Unavailable"
    response.content = content
    response["Content-Type"] = content_type
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))
