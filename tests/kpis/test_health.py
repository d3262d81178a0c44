"""Health samples: the portal's own requests (sampled, no query in the request), the Vercel log drain (signed
JSON and NDJSON deliveries), OpenAI usage samples, and the recent-health selectors the alerting reads."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kpis import health
from kpis.models import HealthSample, OpenAIUsageSample
from kpis.selectors import (
    health_error_rate,
    health_response_time_mean,
    health_response_time_p95,
    openai_rate_limit_hits,
)

pytestmark = pytest.mark.django_db

SECRET = "drain-signature-secret"
TOKEN = "health-token-for-tests"


@pytest.fixture(autouse=True)
def empty_sample_buffer():
    health._buffer.clear()
    cache = caches[health.SAMPLES_CACHE]
    cache.delete_many([health.SEQUENCE_KEY, health.DRAINED_KEY] + [health.CHUNK_KEY.format(n) for n in range(50)])
    yield
    health._buffer.clear()


@pytest.fixture
def sample_everything(settings):
    settings.KPI_REQUEST_SAMPLE_RATE = 1.0
    settings.KPI_REQUEST_SAMPLE_BUFFER = 1000
    settings.KPI_REQUEST_SAMPLE_FLUSH_SECONDS = 3600


def test_portal_requests_are_sampled_without_a_query_in_the_request(client, sample_everything):
    with CaptureQueriesContext(connection) as queries:
        client.get("/kpis/")  # anonymous: a redirect to the login page
        client.get("/no-such-page/")
    assert not [query for query in queries if "kpis_healthsample" in query["sql"]]
    assert HealthSample.objects.count() == 0

    assert health.request_samples_flush() == 2
    assert health.request_samples_drain() == 2

    samples = {sample.status: sample for sample in HealthSample.objects.all()}
    assert set(samples) == {302, 404}
    assert samples[302].route == "kpis:dashboard"
    assert samples[302].method == "GET"
    assert samples[302].source == HealthSample.Source.PORTAL
    assert samples[302].duration_ms > 0


def test_probes_and_static_files_are_not_sampled_and_rate_zero_samples_nothing(client, settings, sample_everything):
    client.get("/healthz")
    client.get("/metrics")
    assert health.request_samples_flush() == 0
    settings.KPI_REQUEST_SAMPLE_RATE = 0
    client.get("/kpis/")
    assert health.request_samples_flush() == 0


def test_a_full_buffer_goes_to_the_cache_and_a_second_drain_stores_nothing_twice(client, settings, sample_everything):
    settings.KPI_REQUEST_SAMPLE_BUFFER = 3
    for _ in range(3):
        client.get("/kpis/")
    assert health._buffer == []  # the third sample flushed the buffer itself

    cache = caches[health.SAMPLES_CACHE]
    chunk = cache.get(health.CHUNK_KEY.format(cache.get(health.SEQUENCE_KEY)))
    assert health.request_samples_drain() == 3
    # A drain that crashed before it moved its mark finds the same chunk again: nothing is stored twice.
    cache.set(health.CHUNK_KEY.format(1), chunk)
    cache.set(health.DRAINED_KEY, 0)
    health.request_samples_drain()
    assert HealthSample.objects.count() == 3
    assert health.request_samples_drain() == 0


# --- Vercel log drain ---------------------------------------------------------------------------------

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _request_log(request_id: str, status: int, path: str = "/api/tours", **extra) -> dict:
    return {
        "id": f"log-{request_id}",
        "message": "GET /api/tours",
        "timestamp": _ms(T0) + 5,
        "type": "stdout",
        "source": "lambda",
        "projectId": "prj_1",
        "deploymentId": "dpl_1",
        "host": "tourbrain.vercel.app",
        "path": path,
        "requestId": request_id,
        "statusCode": status,
        "proxy": {
            "timestamp": _ms(T0),
            "method": "GET",
            "scheme": "https",
            "host": "app.tourbrain.com",
            "path": path + "?page=2",
            "statusCode": status,
            "region": "fra1",
        },
        **extra,
    }


BUILD_LOG = {
    "id": "log-build",
    "message": "Installing dependencies",
    "timestamp": _ms(T0),
    "type": "stdout",
    "source": "build",
    "projectId": "prj_1",
    "deploymentId": "dpl_1",
    "buildId": "bld_1",
    "host": "tourbrain.vercel.app",
}


def _signed_post(client, body: bytes, *, secret: str = SECRET, content_type="application/json"):
    signature = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return client.post("/kpis/drains/vercel/", body, content_type=content_type, HTTP_X_VERCEL_SIGNATURE=signature)


@pytest.fixture
def drain(settings):
    settings.VERCEL_LOG_DRAIN_SECRET = SECRET
    settings.VERCEL_LOG_DRAIN_VERIFY = "verify-token-123"


def test_vercel_json_delivery_stores_one_sample_per_request(client, drain):
    body = json.dumps([BUILD_LOG, _request_log("r1", 200), _request_log("r2", 503), _request_log("r3", -1)]).encode()
    response = _signed_post(client, body)
    assert response.status_code == 200
    assert response.json() == {"received": 3}
    assert response["x-vercel-verify"] == "verify-token-123"
    samples = {sample.sample_key: sample for sample in HealthSample.objects.all()}
    assert set(samples) == {"vercel:r1", "vercel:r2", "vercel:r3"}
    assert samples["vercel:r1"].route == "/api/tours"
    assert samples["vercel:r1"].method == "GET"
    assert samples["vercel:r1"].region == "fra1"
    assert samples["vercel:r1"].at == T0
    assert samples["vercel:r1"].duration_ms is None
    assert samples["vercel:r3"].is_error
    assert samples["vercel:r2"].is_error
    assert not samples["vercel:r1"].is_error


def test_vercel_ndjson_delivery_and_a_resent_delivery_stores_nothing_twice(client, drain):
    lines = [_request_log("r1", 200), _request_log("r1", 200, type="stderr"), _request_log("r2", 404)]
    body = "\n".join(json.dumps(line) for line in lines).encode() + b"\n"
    assert _signed_post(client, body, content_type="application/x-ndjson").json() == {"received": 2}
    assert _signed_post(client, body, content_type="application/x-ndjson").status_code == 200
    assert HealthSample.objects.count() == 2


def test_vercel_signature_is_checked(client, drain, settings):
    body = json.dumps([_request_log("r1", 200)]).encode()
    assert _signed_post(client, body, secret="wrong").status_code == 403
    response = client.post("/kpis/drains/vercel/", body, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    settings.VERCEL_LOG_DRAIN_SECRET = ""  # no secret configured: nothing is accepted
    assert _signed_post(client, body, secret="").status_code == 403
    assert HealthSample.objects.count() == 0


def test_vercel_verification_and_bad_bodies(client, drain):
    response = client.get("/kpis/drains/vercel/")
    assert response.status_code == 200
    assert response["x-vercel-verify"] == "verify-token-123"
    response = _signed_post(client, b"{not json\nat all")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payload"


# --- OpenAI usage ---------------------------------------------------------------------------------------


def _usage(sample_id="s1", **overrides):
    sample = {
        "id": sample_id,
        "at": T0.isoformat(),
        "model": "gpt-4o-mini",
        "requests": 12,
        "input_tokens": 3000,
        "output_tokens": 800,
        "cost_usd": "0.012500",
        "rate_limit_hits": 2,
    }
    sample.update(overrides)
    return sample


@pytest.fixture
def health_token(settings):
    settings.KPI_HEALTH_API_TOKEN = TOKEN
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


def test_openai_usage_needs_the_health_token(client, health_token):
    url = "/api/v1/kpis/openai-usage/"
    body = {"samples": [_usage()]}
    assert client.post(url, body, content_type="application/json").status_code == 401
    wrong = {"HTTP_AUTHORIZATION": "Bearer phc_a_project_key"}
    assert client.post(url, body, content_type="application/json", **wrong).status_code == 401
    assert OpenAIUsageSample.objects.count() == 0


def test_openai_usage_is_stored_once_and_checked(client, health_token):
    url = "/api/v1/kpis/openai-usage/"
    body = {"samples": [_usage("s1"), _usage("s2", model="gpt-4o", rate_limit_hits=0)]}
    response = client.post(url, body, content_type="application/json", **health_token)
    assert response.status_code == 201
    assert response.json() == {"received": 2}
    client.post(url, body, content_type="application/json", **health_token)
    assert OpenAIUsageSample.objects.count() == 2
    assert OpenAIUsageSample.objects.get(sample_key="s1").cost_usd == Decimal("0.0125")

    response = client.post(
        url, {"samples": [_usage("s3", requests=-1)]}, content_type="application/json", **health_token
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"]
    assert OpenAIUsageSample.objects.count() == 2


# --- selectors for alerting -------------------------------------------------------------------------------


def _sample(key: str, minutes_ago: float, status: int, duration_ms: float | None, now: datetime) -> HealthSample:
    return HealthSample(
        source=HealthSample.Source.PORTAL,
        sample_key=key,
        at=now - timedelta(minutes=minutes_ago),
        route="r",
        method="GET",
        status=status,
        duration_ms=duration_ms,
    )


def test_recent_health_selectors_over_a_window():
    now = timezone.now()
    window = timedelta(minutes=15)
    inside = [(200, 100.0), (200, 300.0), (500, 50.0), (201, 900.0), (-1, None)] + [(200, 10.0)] * 15
    rows = [_sample(f"in-{n}", n * 0.5, status, duration, now) for n, (status, duration) in enumerate(inside)]
    rows.append(_sample("old", 16, 500, 5000.0, now))  # outside the window
    HealthSample.objects.bulk_create(rows)
    OpenAIUsageSample.objects.bulk_create(
        [
            OpenAIUsageSample(sample_key="a", at=now - timedelta(minutes=1), model="m", rate_limit_hits=3),
            OpenAIUsageSample(sample_key="b", at=now - timedelta(minutes=5), model="m", rate_limit_hits=4),
            OpenAIUsageSample(sample_key="c", at=now - timedelta(minutes=30), model="m", rate_limit_hits=50),
        ]
    )

    durations = sorted(duration for _, duration in inside if duration is not None)
    assert health_error_rate(window, now=now) == 2 / len(inside)
    assert health_response_time_mean(window, now=now) == pytest.approx(sum(durations) / len(durations))
    # 19 durations: the 95th percentile by nearest rank is the 19th smallest (ceil(0.95 * 19) = 19).
    assert health_response_time_p95(window, now=now) == 900.0
    assert openai_rate_limit_hits(window, now=now) == 7


def test_selectors_without_samples_say_none():
    window = timedelta(minutes=5)
    assert health_error_rate(window) is None
    assert health_response_time_mean(window) is None
    assert health_response_time_p95(window) is None
    assert openai_rate_limit_hits(window) == 0
