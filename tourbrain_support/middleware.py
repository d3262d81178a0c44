"""Request-scoped context: a request id on every log line and response."""

from tourbrain_support import request_context


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
