"""Probes against real local servers: HTTP services (up, wrong status, slow, JSON field, closed port), the
database and Redis; a slow probe never delays the others beyond the run's deadline; retention prunes."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.servers import Reply, free_port
from tourbrain_support.alerting.models import HttpProbe, ProbeSample
from tourbrain_support.alerting.probes import (
    HttpProbeConfig,
    http_probe_configs,
    probe_database,
    probe_http,
    probe_plan,
    probes_run,
)

pytestmark = pytest.mark.django_db


def test_http_probe_healthy_with_latency(http_server):
    [result] = probe_http(HttpProbeConfig(name="clerk", url=http_server.url("/v1/health")))
    assert result.status == "healthy"
    assert result.latency_ms is not None
    assert result.latency_ms >= 0
    assert http_server.requests[0].path == "/v1/health"


def test_http_probe_wrong_status_is_down(http_server):
    http_server.script([503])
    [result] = probe_http(HttpProbeConfig(name="clerk", url=http_server.url()))
    assert (result.status, result.detail) == ("down", "HTTP 503, expected 200")


def test_http_probe_method_and_expected_status(http_server):
    http_server.script([204])
    [result] = probe_http(HttpProbeConfig(name="hook", url=http_server.url(), method="POST", expected_status=204))
    assert result.status == "healthy"
    assert http_server.requests[0].method == "POST"


def test_http_probe_closed_port_is_down():
    [result] = probe_http(HttpProbeConfig(name="gone", url=f"http://127.0.0.1:{free_port()}/", timeout_seconds=1))
    assert result.status == "down"
    assert "ConnectionError" in result.detail


def test_http_probe_times_out(http_server):
    http_server.script([Reply(delay=2.0)])
    started = time.monotonic()
    [result] = probe_http(HttpProbeConfig(name="slow", url=http_server.url(), timeout_seconds=0.3))
    assert time.monotonic() - started < 1.5
    assert result.status == "down"
    assert "Timeout" in result.detail


def test_http_probe_slow_answer_is_degraded(http_server):
    http_server.script([Reply(delay=0.3)])
    [result] = probe_http(HttpProbeConfig(name="slowish", url=http_server.url(), degraded_after_ms=100))
    assert result.status == "degraded"


def test_http_probe_reads_a_json_field(http_server):
    status_page = {"status": {"indicator": "minor"}, "usage": {"remaining": 12}}
    http_server.script([Reply(body=json.dumps(status_page)), Reply(body=json.dumps(status_page))])
    [indicator] = probe_http(
        HttpProbeConfig(name="openai", url=http_server.url(), json_field="status.indicator", json_expected="none")
    )
    [remaining] = probe_http(HttpProbeConfig(name="quota", url=http_server.url(), json_field="usage.remaining"))
    assert (indicator.status, indicator.detail) == ("degraded", "status.indicator=minor")
    assert (remaining.status, remaining.value) == ("healthy", 12.0)


def test_database_probe_times_a_query():
    results = {result.probe: result for result in probe_database()}
    assert results["database"].status == "healthy"
    assert results["database"].latency_ms is not None


@pytest.mark.django_db(transaction=True)
def test_database_probe_reports_postgres_load():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("connections and max_connections are PostgreSQL figures")
    results = {result.probe: result for result in probe_database()}
    assert results["database.connections"].value >= 1
    assert 0 < results["database.utilization"].value <= 1


def test_redis_probe(settings):
    from tourbrain_support.alerting.probes import probe_redis

    settings.ALERT_PROBE_TIMEOUT_SECONDS = 0.5
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    [down] = probe_redis()
    assert down.status == "down"
    import redis

    try:
        redis.Redis(socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip("no local Redis on 6379")
    settings.REDIS_URL = "redis://127.0.0.1:6379/11"
    [up] = probe_redis()
    assert (up.status, up.detail) == ("healthy", "PONG")


def test_probes_from_the_admin_and_the_setting(settings, http_server):
    settings.ALERT_HTTP_PROBES = [{"name": "vercel", "url": http_server.url("/setting")}]
    HttpProbe.objects.create(name="clerk", url=http_server.url("/admin"))
    HttpProbe.objects.create(name="off", url=http_server.url("/off"), enabled=False)
    assert sorted(config.name for config in http_probe_configs()) == ["clerk", "vercel"]


@pytest.mark.django_db(transaction=True)
def test_a_run_stores_samples_and_a_slow_service_does_not_delay_the_others(settings, http_server):
    """The hanging service is cut at the deadline; the fast ones are stored with their own timings."""
    from tests.servers import HTTPServer

    settings.ALERT_PROBE_DEADLINE_SECONDS = 1.0
    hanging = HTTPServer(default=Reply(delay=5.0)).start()
    try:
        HttpProbe.objects.create(name="fast", url=http_server.url("/fast"))
        HttpProbe.objects.create(name="hanging", url=hanging.url("/"), timeout_seconds=30)
        started = time.monotonic()
        probes_run()
        elapsed = time.monotonic() - started
    finally:
        hanging.stop()
    samples = {sample.probe: sample for sample in ProbeSample.objects.all()}
    assert elapsed < 3.0
    assert samples["fast"].status == "healthy"
    assert samples["fast"].latency_ms < 1000
    assert samples["hanging"].status == "down"
    assert "timed out" in samples["hanging"].detail or "Timeout" in samples["hanging"].detail
    assert samples["database"].status == "healthy"
    assert "celery" in samples  # no worker in tests: down, but recorded


def test_a_probe_that_raises_is_recorded_down_and_the_others_still_run():
    def broken():
        raise RuntimeError("bug in a probe")

    plan = {"broken": broken, "database": probe_database}
    probes_run(plan=plan)
    samples = dict(ProbeSample.objects.values_list("probe", "status"))
    assert (samples["broken"], samples["database"]) == ("down", "healthy")


def test_retention_prunes_old_samples(settings):
    settings.ALERT_PROBE_RETENTION_DAYS = 7
    now = timezone.now()
    ProbeSample.objects.create(probe="database", status="healthy", sampled_at=now - timedelta(days=8))
    kept = ProbeSample.objects.create(probe="database", status="healthy", sampled_at=now - timedelta(days=6))
    probes_run(plan={}, now=now)
    assert list(ProbeSample.objects.values_list("id", flat=True)) == [kept.id]


def test_the_plan_probes_redis_only_when_configured(settings):
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "filesystem://localhost//"
    assert sorted(probe_plan(http_configs=[])) == ["celery", "database"]
    settings.REDIS_URL = "redis://127.0.0.1:6379/11"
    assert sorted(probe_plan(http_configs=[])) == ["celery", "database", "redis"]
