"""Core middleware: a request id on every log line and response, 503 while the database is down, body limits
before any other work, and no caching of anything answered to a signed-in user."""

import json
import sys

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control

from tourbrain_support import request_context
from tourbrain_support.api import error_body, is_api_path, json_error_response, request_too_large_body
from tourbrain_support.parsers import json_depth_error_message, json_nesting_exceeds

# A refused body is read and thrown away up to this size, so the client gets the 413 instead of a reset
# connection; a larger one is not worth a worker's time (the connection is closed on it).
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_CHUNK = 64 * 1024


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_context.new_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        with request_context.request_id_as(request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def content_length(request) -> int:
    """The declared body size; an absent or malformed Content-Length counts as 0 (Django reads no body then)."""
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def max_body_bytes(content_type: str) -> int:
    """Largest body accepted: form and JSON bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE, uploads up to the
    attachment limits plus that."""
    if content_type == "multipart/form-data":
        return (
            settings.TICKET_ATTACHMENT_MAX_BYTES * settings.TICKET_ATTACHMENT_MAX_COUNT
            + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        )
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class RequestBodyGuardMiddleware:
    """Refuses an oversized body (413) or JSON nested too deep (400) before sessions, CSRF and authentication.

    API paths answer in the API error format. The parser checks the depth again (DepthLimitedJSONParser).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = content_length(request)
        if length:
            content_type = request.content_type or ""
            if length > max_body_bytes(content_type):
                return self._too_large(request, length)
            if _is_json(content_type):
                text = request.body.decode(request.encoding or settings.DEFAULT_CHARSET, errors="replace")
                if json_nesting_exceeds(text, settings.API_JSON_MAX_DEPTH):
                    return json_error_response(code="parse_error", message=json_depth_error_message(), status=400)
        return self.get_response(request)

    def process_exception(self, request, exception):
        # A multipart form whose fields (files aside) exceed the limit is only found while parsing it.
        if isinstance(exception, RequestDataTooBig):
            return self._too_large(request, content_length(request))
        return None

    def _too_large(self, request, length: int) -> HttpResponse:
        if length <= DRAIN_MAX_BYTES:
            # Django's stream of this request stops at its Content-Length.
            stream = getattr(request, "_stream", None)
            while stream is not None and stream.read(DRAIN_CHUNK):
                pass
        message = request_too_large_body()["error"]["message"]
        if is_api_path(request.path) or _is_json(request.content_type or ""):
            response = json_error_response(code="request_too_large", message=message, status=413)
        else:
            response = HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        response["Connection"] = "close"
        return response


class NoStoreMiddleware:
    """Nothing answered to a signed-in user (or a token-bearing API client) is stored by a browser or proxy.

    Decided from the session cookie (sent or being set) and the Authorization header, so it costs no query.
    Static files are the same for everyone and stay cacheable.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")

    def __call__(self, request):
        response = self.get_response(request)
        session_cookie = settings.SESSION_COOKIE_NAME
        if request.path.startswith(self.static_prefix):
            return response
        if (
            session_cookie in request.COOKIES
            or session_cookie in response.cookies
            or "HTTP_AUTHORIZATION" in request.META
        ):
            patch_cache_control(response, no_store=True, private=True)
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
