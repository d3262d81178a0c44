"""posthog-js (the npm package, vendored under tests/e2e/static/posthog-js/) in chromium, on a page of another
origin, pointed at the live server as `api_host`: its custom events, $pageview and identify arrive in the events
table, through the capture paths' CORS (a simple gzip POST, and JSON bodies that need a preflight)."""

import json
import shutil
import time
from pathlib import Path

import pytest

from kpis.models import ProductEvent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POSTHOG_JS = Path(__file__).resolve().parent / "static" / "posthog-js" / "array.js"
KEY = "phc_e2e_browser_key"


@pytest.fixture
def tourbrain_app(tourbrain_app):
    """TourBrain's web app (another origin) serving the vendored posthog-js."""
    shutil.copy(POSTHOG_JS, tourbrain_app.root / "posthog.js")
    return tourbrain_app


def _write_page(app, live_server, **config):
    options = {
        "api_host": live_server.url,
        "autocapture": False,
        "capture_pageview": True,
        "capture_pageleave": False,
        "disable_session_recording": True,
        "disable_surveys": True,
        "advanced_disable_flags": True,
        "advanced_disable_decide": True,
        "disable_external_dependency_loading": True,
        "request_queue_config": {"flush_interval_ms": 100},
        "opt_out_useragent_filter": True,  # headless chromium says HeadlessChrome: posthog-js drops bot traffic
        **config,
    }
    (app.root / "app.js").write_text(
        f"""posthog.init({json.dumps(KEY)}, {json.dumps(options)});
        posthog.capture("tourCreated", {{artistCount: 2, venueCount: 5}});
        posthog.capture("setlistShared", {{channel: "email"}});
        posthog.identify("user_2clerk", {{email: "ada@band.test"}});
        posthog.capture("exportGenerated", {{type: "pdf", showId: "show_1"}});"""
    )
    (app.root / "index.html").write_text(
        """<!doctype html><html><head><title>Tours</title>
        <script src="/posthog.js"></script><script src="/app.js"></script></head><body><h1>Tours</h1></body></html>"""
    )


def _wait_for_events(page, names: set[str], timeout: float = 10.0) -> list[ProductEvent]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = list(ProductEvent.objects.order_by("timestamp"))
        if names <= {event.name for event in events}:
            return events
        page.wait_for_timeout(100)  # (not time.sleep: Playwright delivers its events while it waits)
    stored = sorted(ProductEvent.objects.values_list("name", flat=True))
    raise AssertionError(f"expected {sorted(names)}, stored {stored}")


def _record_capture_requests(page, live_server) -> list[dict]:
    seen: list[dict] = []

    def on_response(response):
        if response.url.startswith(live_server.url):
            request = response.request
            seen.append(
                {
                    "method": request.method,
                    "url": response.url,
                    "status": response.status,
                    "content_type": request.headers.get("content-type", ""),
                    "allow_origin": response.headers.get("access-control-allow-origin"),
                }
            )

    page.on("response", on_response)
    return seen


EXPECTED = {"$pageview", "tourCreated", "setlistShared", "$identify", "exportGenerated"}


def test_posthog_js_events_reach_the_store(page, live_server, settings, tourbrain_app):
    """Default posthog-js: gzip bodies (text/plain, no preflight); the answers carry the CORS header."""
    settings.KPI_PROJECT_API_KEYS = [KEY]
    settings.KPI_CAPTURE_ALLOWED_ORIGINS = [tourbrain_app.origin]
    _write_page(tourbrain_app, live_server)
    requests = _record_capture_requests(page, live_server)

    with page.expect_response(lambda response: response.request.method == "POST"):
        page.goto(tourbrain_app.origin + "/index.html")
    events = _wait_for_events(page, EXPECTED)

    by_name = {event.name: event for event in events}
    assert by_name["$pageview"].properties["$current_url"] == tourbrain_app.origin + "/index.html"
    tour = by_name["tourCreated"]
    assert tour.properties["artistCount"] == 2
    assert tour.is_custom is False
    assert by_name["setlistShared"].is_custom is True
    identify = by_name["$identify"]
    assert identify.distinct_id == "user_2clerk"
    assert identify.properties["$anon_distinct_id"] == tour.distinct_id
    assert identify.properties["$set"] == {"email": "ada@band.test"}
    assert by_name["exportGenerated"].distinct_id == "user_2clerk"
    assert len(events) == len({event.uuid for event in events})  # nothing stored twice
    posts = [request for request in requests if request["method"] == "POST"]
    assert posts
    assert all(request["status"] == 200 for request in posts)
    assert all(request["allow_origin"] == tourbrain_app.origin for request in posts)
    assert any(request["content_type"] == "text/plain" for request in posts)  # gzip-js


def test_posthog_js_uncompressed_json_goes_through_the_preflight(page, live_server, settings, tourbrain_app):
    """With compression off posthog-js posts application/json, which chromium sends only after a CORS preflight
    (Playwright does not show preflights; tests/kpis/test_capture_cors.py checks their answer)."""
    settings.KPI_PROJECT_API_KEYS = [KEY]
    settings.KPI_CAPTURE_ALLOWED_ORIGINS = [tourbrain_app.origin]
    _write_page(tourbrain_app, live_server, disable_compression=True)
    requests = _record_capture_requests(page, live_server)

    with page.expect_response(lambda response: response.request.method == "POST"):
        page.goto(tourbrain_app.origin + "/index.html")
    _wait_for_events(page, EXPECTED)

    posts = [request for request in requests if request["method"] == "POST"]
    assert posts
    assert all(request["content_type"].startswith("application/json") for request in posts)
    assert all(request["status"] == 200 and request["allow_origin"] == tourbrain_app.origin for request in posts)


def test_origin_not_allowed_stores_nothing(page, live_server, settings, tourbrain_app):
    settings.KPI_PROJECT_API_KEYS = [KEY]
    settings.KPI_CAPTURE_ALLOWED_ORIGINS = ["https://app.tourbrain.test"]
    _write_page(tourbrain_app, live_server, disable_compression=True)
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))

    page.goto(tourbrain_app.origin + "/index.html")
    page.wait_for_timeout(1500)

    # The preflight got no CORS answer: chromium failed the requests without sending their bodies.
    assert any(url.startswith(live_server.url + "/e/") for url in failed)
    assert ProductEvent.objects.count() == 0
