"""Probes and metrics: /healthz, /readyz (one entry per check, 503 on any failure) and /metrics."""

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tourbrain_support.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db

CLOSED_BROKER = "redis://127.0.0.1:1/0"


@pytest.fixture
def fresh_heartbeat():
    return WorkerHeartbeat.objects.create(worker="celery@test", beat_at=timezone.now())


def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_every_check_passes(client, fresh_heartbeat, django_assert_max_num_queries):
    # given a reachable database and broker, applied migrations and a fresh worker heartbeat
    # when the probe runs
    with django_assert_max_num_queries(5):
        response = client.get("/readyz")

    # then it is ready and reports each check
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "broker", "worker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert response["Cache-Control"].startswith("max-age=0")


def test_readyz_is_503_and_fast_when_the_broker_is_down(client, settings, fresh_heartbeat):
    # given a broker URL nothing listens on
    settings.CELERY_BROKER_URL = CLOSED_BROKER
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    # when the probe runs
    response = client.get("/readyz")

    # then it fails quickly, naming the broker and only the broker
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["broker"]["ok"] is False
    assert "unreachable" in body["checks"]["broker"]["detail"]
    assert [name for name, check in body["checks"].items() if not check["ok"]] == ["broker"]
    assert body["checks"]["broker"]["ms"] < 3000


def test_readyz_is_503_without_any_worker_heartbeat(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {
        "ok": False,
        "detail": "no worker heartbeat yet",
        "ms": response.json()["checks"]["worker"]["ms"],
    }


def test_readyz_is_503_when_the_heartbeat_is_stale(client, settings, fresh_heartbeat):
    # given a heartbeat older than the allowed age
    settings.WORKER_HEARTBEAT_MAX_AGE = 120
    with time_machine.travel(timezone.now() + timedelta(seconds=121), tick=False):
        # when the probe runs, then the worker check fails with the heartbeat's age
        response = client.get("/readyz")
    assert response.status_code == 503
    worker = response.json()["checks"]["worker"]
    assert worker["ok"] is False
    assert worker["detail"] == "last heartbeat 121s ago"


def test_readyz_reports_unapplied_migrations(client, fresh_heartbeat, monkeypatch):
    # given a migration plan with one migration left (the executor sees the real graph otherwise)
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("pending", False)])

    # when the probe runs, then migrations fail and the probe is 503
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {
        "ok": False,
        "detail": "1 migration(s) not applied",
        "ms": response.json()["checks"]["migrations"]["ms"],
    }


def test_metrics_exposes_request_counts_latency_and_query_counts(client_as_admin):
    # given some traffic to a page and a probe
    client_as_admin.get("/")
    client_as_admin.get("/healthz")

    # when Prometheus scrapes
    response = client_as_admin.get("/metrics")

    # then counters, latency histograms and query counts are labelled by view
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'http_requests_total{method="GET",status="200",view="home"}' in text
    assert 'http_requests_total{method="GET",status="200",view="healthz"}' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",view="home"}' in text
    assert 'http_request_db_queries_count{view="home"}' in text
    assert 'http_request_db_queries_sum{view="healthz"} 0.0' in text


def test_metrics_counts_grow_with_requests(client):
    def count() -> float:
        for line in client.get("/metrics").content.decode().splitlines():
            if line.startswith('http_requests_total{method="GET",status="200",view="healthz"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    client.get("/healthz")
    client.get("/healthz")
    assert count() == before + 2


def test_readyz_fails_when_the_filesystem_broker_folder_is_gone(client, settings, fresh_heartbeat, tmp_path):
    # given the embedded broker pointed at a folder that does not exist
    missing = str(tmp_path / "gone")
    settings.CELERY_BROKER_URL = "filesystem://localhost//"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": missing, "data_folder_out": missing}

    # when the probe runs, then the broker check names the folder
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["detail"] == f"unreachable: broker folder not writable: {missing}"


def test_probes_are_exempt_from_the_https_redirect(client, settings, fresh_heartbeat):
    # given HTTPS redirects on, as behind a TLS-terminating load balancer
    settings.SECURE_SSL_REDIRECT = True

    # then pages redirect, but the plain-HTTP probes answer
    assert client.get("/accounts/login/").status_code == 301
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


@pytest.mark.services
def test_readyz_follows_a_real_redis_going_down_and_up(client, settings, fresh_heartbeat, tmp_path):
    import shutil
    import socket
    import subprocess

    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(tmp_path)]

    def start() -> subprocess.Popen:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603 - fixed command line
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    return process
            time.sleep(0.05)
        process.kill()
        pytest.fail("redis-server did not start")

    # given the broker on a Redis of its own
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    redis = start()
    try:
        assert client.get("/readyz").status_code == 200, client.get("/readyz").json()

        # when Redis stops, then the probe says so within the broker timeout
        redis.terminate()
        redis.wait(timeout=10)
        response = client.get("/readyz")
        assert response.status_code == 503, response.json()
        assert response.json()["checks"]["broker"]["ok"] is False
        assert response.json()["checks"]["broker"]["ms"] < 3000

        # and when it is back, the portal is ready again
        redis = start()
        assert client.get("/readyz").status_code == 200, client.get("/readyz").json()
    finally:
        redis.kill()
        redis.wait(timeout=10)
