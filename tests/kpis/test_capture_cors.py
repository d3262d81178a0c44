"""CORS of the PostHog capture paths (their own allow-list, preflights answered) and the body forms posthog-js
sends (gzip as text/plain without a query parameter, `$set` beside `properties`)."""

import gzip
import json
import uuid

import pytest
from django.utils import timezone

from kpis.models import ProductEvent

pytestmark = pytest.mark.django_db

KEY = "phc_cors_key"
APP = "https://app.tourbrain.test"
WIDGET_ONLY = "https://widget-host.test"


@pytest.fixture(autouse=True)
def _origins(settings):
    settings.KPI_PROJECT_API_KEYS = [KEY]
    settings.KPI_CAPTURE_ALLOWED_ORIGINS = [APP]
    settings.CORS_ALLOWED_ORIGINS = [WIDGET_ONLY]


def _preflight(client, path, origin):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )


@pytest.mark.parametrize("path", ["/batch/", "/capture/", "/e/", "/i/v0/e/"])
def test_preflight_of_a_capture_path_from_an_allowed_origin(client, path):
    response = _preflight(client, path, APP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "content-type" in response["Access-Control-Allow-Headers"]


def test_capture_and_widget_allow_lists_stay_apart(client):
    assert "Access-Control-Allow-Origin" not in _preflight(client, "/e/", WIDGET_ONLY)
    assert "Access-Control-Allow-Origin" not in _preflight(client, "/api/v1/widget/tickets/", APP)
    assert _preflight(client, "/api/v1/widget/tickets/", WIDGET_ONLY)["Access-Control-Allow-Origin"] == WIDGET_ONLY
    assert "Access-Control-Allow-Origin" not in _preflight(client, "/api/v1/kpis/events/", APP)


def test_star_allows_any_origin(client, settings):
    settings.KPI_CAPTURE_ALLOWED_ORIGINS = ["*"]
    assert (
        _preflight(client, "/batch/", "https://anywhere.test")["Access-Control-Allow-Origin"] == "https://anywhere.test"
    )


def test_posthog_js_gzip_body_without_query_and_top_level_set(client):
    event = {
        "uuid": str(uuid.uuid4()),
        "event": "$identify",
        "distinct_id": "user_2clerk",
        "timestamp": timezone.now().isoformat(),
        "properties": {"$anon_distinct_id": "anon-1", "token": KEY},
        "$set": {"email": "ada@band.test"},
        "$set_once": {"first_seen": "docs"},
    }
    body = gzip.compress(json.dumps({"api_key": KEY, "batch": [event], "sent_at": event["timestamp"]}).encode())
    response = client.post("/e/?ver=1.449.2&_=1796627138443", body, content_type="text/plain", HTTP_ORIGIN=APP)
    assert response.status_code == 200
    assert response.json() == {"status": 1}
    assert response["Access-Control-Allow-Origin"] == APP
    stored = ProductEvent.objects.get()
    assert stored.properties["$set"] == {"email": "ada@band.test"}
    assert stored.properties["$set_once"] == {"first_seen": "docs"}
