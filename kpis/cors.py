"""CORS for the PostHog capture paths: posthog-js sends from TourBrain's pages, another origin than the portal.

The widget API's allow-list (CORS_ALLOWED_ORIGINS with CORS_URLS_REGEX) stays as it is; these paths get their own
list, KPI_CAPTURE_ALLOWED_ORIGINS, through django-cors-headers' `check_request_enabled` signal, so an origin
allowed to capture is not thereby allowed to call the widget API (nor the other way round).
"""

from django.conf import settings

CAPTURE_PATHS = frozenset({"/batch/", "/capture/", "/e/", "/i/v0/e/"})


def capture_cors_enabled(sender, request, **kwargs) -> bool:
    """True for a capture path asked from an allowed origin (the middleware then answers preflights too)."""
    if request.path_info not in CAPTURE_PATHS:
        return False
    origin = request.headers.get("origin")
    allowed = settings.KPI_CAPTURE_ALLOWED_ORIGINS
    return bool(origin) and ("*" in allowed or origin in allowed)


def register_signal_handlers() -> None:
    from corsheaders.signals import check_request_enabled

    check_request_enabled.connect(capture_cors_enabled, dispatch_uid="kpis-capture-cors")
