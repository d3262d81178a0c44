"""Prometheus metrics: request counts, latency histograms and SQL query counts per view.

Each process keeps its own registry; with several gunicorn workers set
PROMETHEUS_MULTIPROC_DIR so /metrics aggregates them.
"""

import os
import time

from django.db import connections
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

REQUESTS = Counter("http_requests_total", "HTTP requests served", ["view", "method", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DB_QUERIES = Histogram(
    "http_request_db_queries",
    "SQL queries per HTTP request",
    ["view"],
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200),
)


class _QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _view_name(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unresolved>"
    return match.view_name or match._func_path


class PrometheusMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        counter = _QueryCounter()
        started = time.perf_counter()
        with connections["default"].execute_wrapper(counter):
            response = self.get_response(request)
        view = _view_name(request)
        REQUESTS.labels(view, request.method, str(response.status_code)).inc()
        LATENCY.labels(view, request.method).observe(time.perf_counter() - started)
        DB_QUERIES.labels(view).observe(counter.count)
        return response


def render_metrics() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = DEFAULT_REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
