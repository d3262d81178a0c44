"""Vercel Speed Insights drains (schema vercel.speed_insights.v1, as documented: one metric of one page view per
entry) into the web-vitals store: signed like the log drain, idempotent on resend, rolled up with posthog-js's
$web_vitals by route and by country, and kept out of the user metrics."""

import hashlib
import hmac
import json
from datetime import UTC, date, datetime

import pytest

from kpis.models import SPEED_INSIGHTS_EVENT, DailyMetric, ProductEvent
from kpis.rollups import rollup_range

pytestmark = pytest.mark.django_db

SECRET = "drain-secret"
DAY = date(2026, 12, 1)


def _entry(metric: str, value: float, *, route="/tours/[id]", path="/tours/12", country="DE", device=101, second=0):
    return {
        "schema": "vercel.speed_insights.v1",
        "timestamp": datetime(2026, 12, 1, 12, 0, second, tzinfo=UTC).isoformat().replace("+00:00", ".000Z"),
        "projectId": "Qmc52npNy86S8VV4Mt8a8dP1LEkRNbgosW3pBCQytkcgf2",
        "ownerId": "team_nLlpyC6REAqxydlFKbrMDlud",
        "deviceId": device,
        "metricType": metric,
        "value": value,
        "origin": "https://app.tourbrain.test",
        "path": path,
        "route": route,
        "country": country,
        "region": "BE",
        "city": "Berlin",
        "osName": "macOS",
        "osVersion": "13.4",
        "clientName": "Chrome",
        "clientType": "browser",
        "clientVersion": "114.0.5735.90",
        "deviceType": "desktop",
        "deviceBrand": "Apple",
        "connectionSpeed": "4g",
        "browserEngine": "Blink",
        "browserEngineVersion": "114.0.5735.90",
        "scriptVersion": "1.0.0",
        "sdkVersion": "2.1.0",
        "sdkName": "@vercel/speed-insights",
        "vercelEnvironment": "production",
        "vercelUrl": "tourbrain-abc.vercel.app",
        "deploymentId": "dpl_1",
    }


def _post(client, body: bytes, *, secret: str = SECRET, content_type="application/x-ndjson"):
    signature = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return client.post("/kpis/drains/vercel/", body, content_type=content_type, HTTP_X_VERCEL_SIGNATURE=signature)


@pytest.fixture(autouse=True)
def _drain(settings):
    settings.VERCEL_LOG_DRAIN_SECRET = SECRET


def _ndjson(entries) -> bytes:
    return "\n".join(json.dumps(entry) for entry in entries).encode()


def test_entries_are_stored_as_web_vitals_once(client):
    entries = [_entry("LCP", 1800.5), _entry("TTFB", 240, second=1), _entry("CLS", 0.05, second=2)]
    response = _post(client, _ndjson(entries))
    assert response.status_code == 200
    assert response.json() == {"received": 3}
    lcp = ProductEvent.objects.get(properties__has_key="$web_vitals_LCP_value")
    assert lcp.name == SPEED_INSIGHTS_EVENT
    assert lcp.distinct_id == "vercel-device:101"
    assert lcp.timestamp == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert lcp.properties["$pathname"] == "/tours/[id]"
    assert lcp.properties["$geoip_country_code"] == "DE"
    assert lcp.properties["connectionSpeed"] == "4g"
    # a resent delivery (also as a JSON array) stores nothing twice
    assert _post(client, json.dumps(entries).encode(), content_type="application/json").status_code == 200
    assert ProductEvent.objects.count() == 3


def test_bad_signature_and_unusable_entries(client):
    body = _ndjson([_entry("LCP", 1000)])
    assert _post(client, body, secret="wrong").status_code == 403
    unusable = [{**_entry("LCP", 1000), "value": "fast"}, {**_entry("LCP", 1000), "metricType": None}]
    too_old = {**_entry("LCP", 1000), "timestamp": "2019-01-01T00:00:00.000Z"}
    response = _post(client, _ndjson([*unusable, too_old, _entry("INP", 80)]))
    assert response.json() == {"received": 1}
    assert ProductEvent.objects.count() == 1


def test_rollup_mixes_them_with_posthog_web_vitals_by_route_and_country(client):
    entries = [
        _entry("LCP", 1000, country="DE", device=1),
        _entry("LCP", 3000, country="DE", device=2, second=1),
        _entry("LCP", 2000, country="US", device=3, second=2, route="/tours", path="/tours"),
    ]
    _post(client, _ndjson(entries))
    ProductEvent.objects.create(
        uuid="00000000-0000-4000-8000-000000000001",
        name="$web_vitals",
        distinct_id="user-1",
        timestamp=datetime(2026, 12, 1, 13, tzinfo=UTC),
        received_at=datetime(2026, 12, 1, 13, tzinfo=UTC),
        properties={"$pathname": "/tours/12", "$web_vitals_LCP_value": 4000},
    )
    rollup_range(start=DAY, end=DAY)

    def values(metric):
        return dict(DailyMetric.objects.filter(metric=metric, day=DAY).values_list("dimension_value", "value"))

    # nearest rank p75: of [1000, 3000, 4000] (the route /tours/[id] and posthog-js's /tours/:id are apart)
    assert values("web_vitals_lcp_p75") == {"/tours/[id]": 3000, "/tours": 2000, "/tours/:id": 4000, "": 3000}
    assert values("web_vitals_lcp_p75_country") == {"DE": 3000, "US": 2000, "": 3000}
    # the devices are no users: only user-1 is active
    assert values("dau") == {"": 1}
