"""The Vercel log drain (`/kpis/drains/vercel/`): each delivery is verified by its `x-vercel-signature` (HMAC-SHA1
of the raw body with VERCEL_LOG_DRAIN_SECRET) and its requests are stored as health samples. Every answer
carries `x-vercel-verify` (VERCEL_LOG_DRAIN_VERIFY), which Vercel checks when the drain is added."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from kpis.health import DrainError, vercel_drain_ingest, vercel_signature_valid


def _answer(body: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    if settings.VERCEL_LOG_DRAIN_VERIFY:
        response["x-vercel-verify"] = settings.VERCEL_LOG_DRAIN_VERIFY
    return response


def _error(code: str, message: str, status: int) -> JsonResponse:
    return _answer({"error": {"code": code, "message": message, "fields": {}}}, status=status)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def vercel_log_drain(request):
    if request.method != "POST":
        return _answer({"status": "ok"})
    body = request.body
    if not vercel_signature_valid(body=body, signature=request.headers.get("x-vercel-signature", "")):
        return _error("invalid_signature", "The x-vercel-signature does not match the body.", 403)
    try:
        received = vercel_drain_ingest(body=body)
    except DrainError as error:
        return _error(error.code, error.message, error.status)
    return _answer({"received": received})
