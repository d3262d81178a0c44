"""Health samples: requests served (sampled from this portal's middleware, and from the Vercel log drain) and
OpenAI usage, the raw rows behind uptime, error rate, response time and OpenAI cost.

The portal's own requests cost nothing on the hot path: a sampled request is appended to an in-process buffer;
every KPI_REQUEST_SAMPLE_FLUSH_SECONDS (or KPI_REQUEST_SAMPLE_BUFFER samples) the buffer goes as one numbered
chunk to the `kpi_samples` cache, shared between processes (Redis, or files in the embedded default), and the
`kpi_health_samples_drain` beat task bulk-inserts the chunks. No query runs in the request. Samples are keyed
by a uuid, so a drain that is run twice stores nothing twice.
"""

import json
import logging
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kpis.ingestion import events_ingest
from kpis.models import SPEED_INSIGHTS_EVENT, HealthSample, OpenAIUsageSample
from tourbrain_support.api import vercel_signature_matches

logger = logging.getLogger(__name__)

SEQUENCE_KEY = "kpis:request-samples:seq"
DRAINED_KEY = "kpis:request-samples:drained"
CHUNK_KEY = "kpis:request-samples:chunk:{}"
CHUNK_TIMEOUT = 24 * 3600  # a chunk not drained within a day is dropped by the cache
DRAIN_BATCH = 100
# Probes and scrapes say nothing about what users get (and would dominate the samples).
UNSAMPLED_VIEWS = {"healthz", "readyz", "metrics"}

# A request failed for the user: a 5xx, or Vercel's -1 (the function crashed without an answer).
HEALTH_ERROR = Q(status__gte=500) | Q(status__lt=0)

# Shared by the web processes and the worker (Redis, or files in the embedded default; see settings).
SAMPLES_CACHE = "kpi_samples"

_lock = threading.Lock()
_buffer: list[tuple] = []
_buffer_started = 0.0


def request_sample_observe(request, response, view: str, duration: float) -> None:
    """Request observer (registered in KpisConfig.ready): keep a sample of the requests, in memory."""
    global _buffer_started
    rate = settings.KPI_REQUEST_SAMPLE_RATE
    if rate <= 0 or view in UNSAMPLED_VIEWS or request.path.startswith(settings.STATIC_URL):
        return
    if rate < 1 and random.random() >= rate:  # noqa: S311 - sampling, not security
        return
    sample = (uuid.uuid4().hex, timezone.now(), view[:200], request.method[:10], response.status_code, duration * 1000)
    now = time.monotonic()
    with _lock:
        if not _buffer:
            _buffer_started = now
        _buffer.append(sample)
        due = (
            len(_buffer) >= settings.KPI_REQUEST_SAMPLE_BUFFER
            or now - _buffer_started >= settings.KPI_REQUEST_SAMPLE_FLUSH_SECONDS
        )
    if due:
        request_samples_flush()


def request_samples_flush() -> int:
    """Hand the buffered samples to the cache as one chunk; returns how many. A cache failure drops them."""
    with _lock:
        samples = _buffer[:]
        _buffer.clear()
    if not samples:
        return 0
    cache = caches[SAMPLES_CACHE]
    try:
        cache.add(SEQUENCE_KEY, 0, timeout=None)
        number = cache.incr(SEQUENCE_KEY)
        cache.set(CHUNK_KEY.format(number), samples, timeout=CHUNK_TIMEOUT)
    except Exception:  # samples are expendable; the request that flushed must not fail
        logger.warning("Request samples could not be handed to the cache; %d dropped", len(samples), exc_info=True)
        return 0
    return len(samples)


def request_samples_drain() -> int:
    """Store the chunks waiting in the cache; returns the samples stored. Idempotent (samples keyed by uuid).

    Chunks are numbered; a number whose chunk is not there yet at the end of the range (its writer is between
    the increment and the write) is left for the next run, a gap before a present chunk is skipped."""
    cache = caches[SAMPLES_CACHE]
    last = cache.get(SEQUENCE_KEY) or 0
    drained = cache.get(DRAINED_KEY) or 0
    if drained > last:  # the cache lost the sequence: it starts again from 1
        drained = 0
    stored = 0
    numbers = list(range(drained + 1, last + 1))
    for start in range(0, len(numbers), DRAIN_BATCH):
        keys = [CHUNK_KEY.format(number) for number in numbers[start : start + DRAIN_BATCH]]
        chunks = cache.get_many(keys)
        if not chunks:
            continue
        present = [number for number in numbers[start : start + DRAIN_BATCH] if CHUNK_KEY.format(number) in chunks]
        rows = [
            HealthSample(
                source=HealthSample.Source.PORTAL,
                sample_key=key,
                at=at,
                route=route,
                method=method,
                status=status,
                duration_ms=duration_ms,
            )
            for chunk in chunks.values()
            for key, at, route, method, status, duration_ms in chunk
        ]
        HealthSample.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        stored += len(rows)
        cache.set(DRAINED_KEY, max(present), timeout=None)
        cache.delete_many(list(chunks))
    return stored


# --- Vercel log drain -----------------------------------------------------------------------------------


class DrainError(Exception):
    def __init__(self, message: str, *, code: str, status: int):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def vercel_signature_valid(*, body: bytes, signature: str) -> bool:
    """`x-vercel-signature` is the hex HMAC-SHA1 of the raw body with the drain's signature secret."""
    return vercel_signature_matches(body=body, secret=settings.VERCEL_LOG_DRAIN_SECRET, signature=signature)


def _vercel_entries(body: bytes) -> list:
    """A JSON array (the `json` format), one object, or NDJSON (one object a line)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DrainError("The body is not UTF-8.", code="invalid_payload", status=400) from exc
    try:
        payload = json.loads(text)
    except ValueError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise DrainError("The body is neither JSON nor NDJSON.", code="invalid_payload", status=400) from exc
    return payload if isinstance(payload, list) else [payload]


def _milliseconds(value) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e14:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return None


def _vercel_sample(entry) -> HealthSample | None:
    """The request a log entry describes, or None (build logs, lines without a status)."""
    if not isinstance(entry, dict):
        return None
    proxy = entry.get("proxy") if isinstance(entry.get("proxy"), dict) else {}
    status = proxy.get("statusCode", entry.get("statusCode"))
    if not isinstance(status, int) or isinstance(status, bool) or not -1 <= status < 1000:
        return None
    request_id = entry.get("requestId") or entry.get("id")
    at = _milliseconds(proxy.get("timestamp")) or _milliseconds(entry.get("timestamp"))
    if not isinstance(request_id, str) or not request_id or at is None:
        return None
    route = entry.get("path") or proxy.get("path") or ""
    region = proxy.get("region") or entry.get("executionRegion") or ""
    return HealthSample(
        source=HealthSample.Source.VERCEL,
        sample_key=f"vercel:{request_id}"[:200],
        at=at,
        route=str(route).split("?", 1)[0][:200],
        method=str(proxy.get("method") or "")[:10],
        status=status,
        # Vercel's documented log fields carry no request duration (see the README's Known limits).
        duration_ms=None,
        region=str(region)[:50],
    )


SPEED_INSIGHTS_SCHEMA = "vercel.speed_insights.v1"
_SPEED_INSIGHTS_NAMESPACE = uuid.UUID("6f1d4f0e-3c1b-4b8e-9a57-5e0c1f6a2b10")


def _speed_insights_event(entry: dict) -> dict | None:
    """A Speed Insights drain entry (one metric of one page view) as a product event carrying the same properties
    as posthog-js's $web_vitals (`$web_vitals_<metric>_value`, `$pathname`) plus `$geoip_country_code`."""
    metric, value = entry.get("metricType"), entry.get("value")
    if not isinstance(metric, str) or not metric.isalpha() or len(metric) > 10:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    route = entry.get("route") or entry.get("path")
    properties = {
        key: entry[key]
        for key in (
            "origin",
            "path",
            "route",
            "country",
            "region",
            "deviceType",
            "clientName",
            "osName",
            "connectionSpeed",
            "deploymentId",
            "vercelEnvironment",
        )
        if isinstance(entry.get(key), str | int | float) and not isinstance(entry.get(key), bool)
    }
    properties[f"$web_vitals_{metric.upper()}_value"] = value
    if isinstance(route, str) and route:
        properties["$pathname"] = route
    if isinstance(entry.get("country"), str) and entry["country"]:
        properties["$geoip_country_code"] = entry["country"].upper()[:2]
    device = entry.get("deviceId")
    return {
        # No id in the schema: the entry's own content names it, so a resent delivery stores nothing twice.
        "uuid": str(uuid.uuid5(_SPEED_INSIGHTS_NAMESPACE, json.dumps(entry, sort_keys=True, default=str))),
        "event": SPEED_INSIGHTS_EVENT,
        "distinct_id": f"vercel-device:{device}" if isinstance(device, str | int) and device != "" else "vercel-device",
        "timestamp": entry.get("timestamp"),
        "properties": properties,
    }


def vercel_drain_ingest(*, body: bytes) -> int:
    """Store one request sample per request id of a log drain delivery, and each Speed Insights entry (schema
    vercel.speed_insights.v1) as a web-vitals event; returns the samples and events taken from it."""
    if len(body) > settings.KPI_MAX_BODY_BYTES:
        raise DrainError("The body is too large.", code="payload_too_large", status=413)
    samples: dict[str, HealthSample] = {}
    vitals: list[dict] = []
    for entry in _vercel_entries(body):
        if isinstance(entry, dict) and entry.get("schema") == SPEED_INSIGHTS_SCHEMA:
            event = _speed_insights_event(entry)
            if event is not None:
                vitals.append(event)
            continue
        sample = _vercel_sample(entry)
        # Several lines of one request: the one with the proxy's status wins (it is what the user got).
        if sample is not None and (sample.sample_key not in samples or isinstance(entry.get("proxy"), dict)):
            samples[sample.sample_key] = sample
    HealthSample.objects.bulk_create(list(samples.values()), batch_size=500, ignore_conflicts=True)
    # Through the event ingestion: its checks (time, retention), refusal counts and uuid idempotency.
    received = events_ingest(items=vitals).received if vitals else 0
    return len(samples) + received


# --- OpenAI usage ---------------------------------------------------------------------------------------


@transaction.atomic
def openai_usage_record(*, samples: list[dict]) -> int:
    """Store validated usage samples (a sample id already stored is ignored); returns how many were given."""
    rows = [
        OpenAIUsageSample(
            sample_key=str(sample["id"]),
            at=sample["at"],
            model=sample["model"],
            requests=sample["requests"],
            input_tokens=sample["input_tokens"],
            output_tokens=sample["output_tokens"],
            cost_usd=sample["cost_usd"],
            rate_limit_hits=sample["rate_limit_hits"],
        )
        for sample in samples
    ]
    OpenAIUsageSample.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return len(rows)


def health_samples_prune() -> int:
    """Delete request and OpenAI samples older than KPI_HEALTH_RETENTION_DAYS; returns rows deleted."""
    cutoff = timezone.now() - timedelta(days=settings.KPI_HEALTH_RETENTION_DAYS)
    deleted, _ = HealthSample.objects.filter(at__lt=cutoff).delete()
    usage_deleted, _ = OpenAIUsageSample.objects.filter(at__lt=cutoff).delete()
    return deleted + usage_deleted
