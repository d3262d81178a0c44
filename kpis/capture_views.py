"""PostHog-compatible capture endpoints (/batch/, /capture/, /e/, /i/v0/e/): the product's existing PostHog
clients send here by changing their host. Answers as PostHog does: {"status": 1}, or an error object."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kpis.ingestion import (
    CaptureError,
    check_batch_size,
    decode_capture_body,
    events_ingest,
    project_key_is_valid,
    split_capture_payload,
)


def _posthog_error(*, status: int, code: str, detail: str) -> JsonResponse:
    kind = "authentication_error" if status == 401 else "validation_error"
    return JsonResponse({"type": kind, "code": code, "detail": detail, "attr": None}, status=status)


@csrf_exempt
@require_POST
def capture(request):
    try:
        payload = decode_capture_body(
            body=request.body,
            content_type=request.content_type or "",
            content_encoding=request.headers.get("Content-Encoding", ""),
            query=request.GET,
        )
        key, events = split_capture_payload(payload, query_token=request.GET.get("token", ""))
        if not project_key_is_valid(key):
            return _posthog_error(status=401, code="invalid_api_key", detail="Project API key invalid.")
        check_batch_size(events)
    except CaptureError as error:
        return _posthog_error(status=error.status, code=error.code, detail=error.message)
    # Like PostHog, a bad event does not fail the request; it is counted in RejectedEventCount.
    events_ingest(items=events)
    return JsonResponse({"status": 1})
