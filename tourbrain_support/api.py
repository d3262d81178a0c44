"""API base: one error shape for every API error, and the ApplicationError that services raise.

Every error body is {"error": {"code": str, "message": str, "fields": {field: [messages]}}}.
"""

import copy
import hashlib
import hmac
import threading

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.utils.formatting import lazy_format
from rest_framework.views import exception_handler as drf_exception_handler


class ApplicationError(Exception):
    """A business rule refused the operation; the API answers 400 (or `status`) with this message."""

    def __init__(self, message: str, *, code: str = "invalid", fields: dict | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.code = code
        self.fields = fields or {}
        self.status = status


def _flatten_fields(detail) -> dict:
    if isinstance(detail, dict):
        return {
            key: [str(item) for item in (value if isinstance(value, list) else [value])]
            if not isinstance(value, dict)
            else _flatten_fields(value)
            for key, value in detail.items()
        }
    if isinstance(detail, list):
        return {"non_field_errors": [str(item) for item in detail]}
    return {}


def error_body(*, code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response(request_too_large_body(), status=413)
    if isinstance(exc, ApplicationError):
        return Response(error_body(code=exc.code, message=exc.message, fields=exc.fields), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = error_body(
            code="validation_error", message="The request is invalid.", fields=_flatten_fields(exc.detail)
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        body = error_body(code=code if isinstance(code, str) else "error", message=str(detail))
    response.data = body
    return response


class FlatSerializer(serializers.Serializer):
    """A serializer that copies its declared fields one level per instance instead of deep-copying them.

    DRF deep-copies every declared field for every serializer instance, and a field's deep copy runs its
    `__init__` again: about 0.5 ms for the widget's ticket form, paid on every submit. A flat field needs only a
    copy of its own: binding then sets the copy's name and parent. What the copies share with the declaration
    (validators, choices, messages) is only read, once the validators' messages are rendered: DRF renders a
    length or range message on first use and then drops what it was made from, which two threads must not do at
    once, so a class's messages are rendered once, under a lock, before its first instance gets its fields (in
    the language active then; the portal has one). A field holding fields (a nested serializer, a list's child,
    a relation's `many`) or a mutable default is still deep-copied, so each instance binds or changes its own.
    """

    def get_fields(self) -> dict:
        cls = type(self)
        if cls not in _messages_rendered:
            _render_messages(cls)
        return {
            name: copy.deepcopy(field) if _deep(field) else _flat_copy(field)
            for name, field in self._declared_fields.items()
        }


def _flat_copy(field):
    """What `copy.copy` makes of a field, without its generic protocol (4 times the cost: a form's fields are
    copied on every request)."""
    new = field.__class__.__new__(field.__class__)
    new.__dict__.update(field.__dict__)
    return new


_messages_rendered: set[type] = set()
_messages_lock = threading.Lock()


def _render_messages(cls: type) -> None:
    with _messages_lock:
        for field in cls._declared_fields.values():
            for validator in field.validators:
                message = getattr(validator, "message", None)
                if isinstance(message, lazy_format):
                    str(message)
        _messages_rendered.add(cls)


def _deep(field) -> bool:
    holds_fields = isinstance(field, serializers.BaseSerializer) or hasattr(field, "child")
    mutable_default = any(isinstance(getattr(field, name, None), (list, dict, set)) for name in ("default", "initial"))
    return holds_fields or hasattr(field, "child_relation") or mutable_default


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


def json_error_response(*, code: str, message: str, status: int) -> JsonResponse:
    """Errors raised outside DRF views (unknown /api/ paths, crashes) in the same shape."""
    return JsonResponse(error_body(code=code, message=message), status=status)


def request_too_large_body() -> dict:
    limit_kb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
    return error_body(
        code="request_too_large",
        message=f"The request body is too large (the limit is {limit_kb} KB, files aside).",
    )


def bearer_token_matches(request, expected: str) -> bool:
    """Whether the request's `Authorization: Bearer <token>` is `expected`; never when nothing is configured.
    Compared in constant time."""
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


def vercel_signature_matches(*, body: bytes, secret: str, signature: str) -> bool:
    """Vercel's `x-vercel-signature` (log drains and webhooks): the hex HMAC-SHA1 of the raw body with the secret."""
    if not secret or not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())
