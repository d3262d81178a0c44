"""Prometheus metrics: request counts, latency histograms and SQL query counts per view.

Each process keeps its own registry; with several gunicorn workers set
PROMETHEUS_MULTIPROC_DIR so /metrics aggregates them.

Apps add gauges read from the database at scrape time with `scrape_collector_register(name, collector)`
(the audit app's security and audit-trail gauges). Those values are the same whichever worker answers, so
they are never multiprocess metrics: the worker serving the scrape computes them once, in either mode.
A collector that fails (the database is down) must yield what it can itself; /metrics still answers.

Apps also observe each served request with `request_observer_register(name, observer)` (the kpis app samples
requests into its health samples). An observer runs after the response on the request's thread, so it must be
cheap (no query); one that raises is logged and skipped.
"""

import logging
import os
import time
from collections.abc import Callable

from django.db import connections
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client.registry import Collector

REQUESTS = Counter("http_requests_total", "HTTP requests served", ["view", "method", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COLLECT_ERRORS = Counter(
    "tourbrain_metrics_collect_errors", "Scrapes whose database-backed gauges could not be read", ["collector"]
)
CSP_VIOLATIONS = Counter(
    "tourbrain_csp_violations", "Content-Security-Policy violations reported by browsers", ["directive"]
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


logger = logging.getLogger(__name__)

# observer(request, response, view name, duration in seconds), by name.
RequestObserver = Callable[[object, object, str, float], None]
_REQUEST_OBSERVERS: dict[str, RequestObserver] = {}


def request_observer_register(name: str, observer: RequestObserver) -> None:
    """Call `observer` after every request from now on; registering a name again replaces the observer."""
    _REQUEST_OBSERVERS[name] = observer


class PrometheusMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        counter = _QueryCounter()
        started = time.perf_counter()
        with connections["default"].execute_wrapper(counter):
            response = self.get_response(request)
        duration = time.perf_counter() - started
        view = _view_name(request)
        REQUESTS.labels(view, request.method, str(response.status_code)).inc()
        LATENCY.labels(view, request.method).observe(duration)
        DB_QUERIES.labels(view).observe(counter.count)
        for name, observer in list(_REQUEST_OBSERVERS.items()):
            try:
                observer(request, response, view, duration)
            except Exception:  # an observer must never fail the request it observes
                logger.exception("Request observer %s failed", name)
        return response


# Scrape-time collectors by name: registered once in the default registry, and added to each per-scrape
# registry in multiprocess mode (where the default registry is not what /metrics serves).
_SCRAPE_COLLECTORS: dict[str, Collector] = {}


def scrape_collector_register(name: str, collector: Collector) -> None:
    """Serve `collector` on /metrics from now on; a second registration under the same name is ignored."""
    if name in _SCRAPE_COLLECTORS:
        return
    _SCRAPE_COLLECTORS[name] = collector
    COLLECT_ERRORS.labels(name)  # the series exists (at 0) before the first failure, so increase() works
    DEFAULT_REGISTRY.register(collector)


def render_metrics() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in _SCRAPE_COLLECTORS.values():
            registry.register(collector)
    else:
        registry = DEFAULT_REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
