"""OpenAPI: how drf-spectacular describes the portal's authentication and its error answers.

Every operation documents the errors it can answer, all in the one error format of tourbrain_support.api
({"error": {"code", "message", "fields"}}), so clients and the schema fuzzer know every status to expect.
"""

from drf_spectacular.authentication import SessionScheme


class PortalSessionScheme(SessionScheme):
    # Same cookie session as DRF's SessionAuthentication; only the 401 answer differs.
    target_class = "tourbrain_support.authentication.PortalSessionAuthentication"


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "example": "validation_error"},
                "message": {"type": "string", "example": "The request is invalid."},
                "fields": {
                    "type": "object",
                    "description": "Messages per invalid field (a nested object for nested fields).",
                    "additionalProperties": {
                        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}]
                    },
                },
            },
        }
    },
}

ERRORS_ANY_OPERATION = {
    "400": "The request is invalid (validation_error, parse_error or a business rule's code).",
    "401": "Not signed in, or the credentials are wrong (not_authenticated).",
    "403": "Signed in but not allowed (permission_denied).",
    "404": "No such resource, or not visible to you (not_found).",
    "429": "Too many requests (throttled); retry later.",
}
ERRORS_WITH_BODY = {
    "409": "The resource changed since it was read (conflict); reload and retry.",
    "413": "The request body is too large (request_too_large).",
    "415": "The body's content type is not accepted (unsupported_media_type).",
}
UNSAFE_METHODS = {"post", "put", "patch", "delete"}


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the error responses each operation may answer."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(ERRORS_ANY_OPERATION)
            if method in UNSAFE_METHODS:
                errors.update(ERRORS_WITH_BODY)
            for status, description in sorted(errors.items()):
                operation["responses"].setdefault(status, {"description": description, "content": content})
    return result
