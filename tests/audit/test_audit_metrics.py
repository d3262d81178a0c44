"""Security and audit-trail gauges on /metrics: real failed logins and lockouts, unsealed rows, overdue
data-subject requests; a fixed number of queries per scrape; a database that is down never breaks /metrics."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.gdpr import dsr_create, dsr_transition
from audit.sealing import seal_all
from tests.sentry_utils import database_unreachable
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PASSWORD = "correct-horse-battery"


def _fail(client, email, ip):
    return client.post(LOGIN, {"username": email, "password": "wrong-password"}, REMOTE_ADDR=ip)


def _samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value for every sample line of a Prometheus text page."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def _scrape(client) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return _samples(response.content.decode())


@pytest.fixture
def lockouts(client, make_user, settings):
    """Failed logins through the login form: one 2 hours ago, then an account and an IP locked out."""
    settings.LOGIN_LOCKOUT_ACCOUNT_THRESHOLD = 3
    settings.LOGIN_LOCKOUT_IP_THRESHOLD = 5
    user = make_user(email="victim@example.test")
    with time_machine.travel(timezone.now() - timedelta(hours=2)):
        _fail(client, "early@example.test", ip="192.0.2.1")
    for _ in range(3):  # the third locks the account
        _fail(client, user.email, ip="198.51.100.7")
    for n in range(5):  # five guesses from one address lock the address
        _fail(client, f"guess{n}@example.test", ip="203.0.113.9")
    response = client.post(LOGIN, {"username": user.email, "password": PASSWORD}, REMOTE_ADDR="198.51.100.8")
    assert "Too many failed login attempts" in response.content.decode()  # refused while locked: a failure too
    return user


def test_metrics_show_failed_logins_and_lockouts_per_window(client, lockouts):
    # when Prometheus scrapes
    samples = _scrape(client)

    # then the failed logins of the last hour and the last day, and what is locked now
    assert samples['tourbrain_security_failed_logins{window="1h"}'] == 9
    assert samples['tourbrain_security_failed_logins{window="24h"}'] == 10
    assert samples['tourbrain_security_locked{scope="account"}'] == 1
    assert samples['tourbrain_security_locked{scope="ip"}'] == 1
    for name in ("suspicious_api_activity", "data_exports", "export_outliers", "admin_access", "permission_denied"):
        assert samples[f'tourbrain_security_{name}{{window="1h"}}'] == 0
    assert samples["tourbrain_audit_metrics_up"] == 1


def test_metrics_show_exports_and_admin_access(client, client_as, make_user):
    # given an admin who opens the admin site twice and an auditor who exports the trail three times
    admin = client_as(Role.ADMIN)
    admin.get("/admin/")
    admin.get("/admin/")
    auditor = client_as(Role.AUDITOR)
    for _ in range(3):
        assert auditor.get("/audit/export.csv").status_code == 200
    auditor.logout()

    samples = _scrape(client)

    assert samples['tourbrain_security_admin_access{window="1h"}'] == 2
    assert samples['tourbrain_security_data_exports{window="24h"}'] == 3
    assert samples['tourbrain_security_export_outliers{window="24h"}'] == 0  # 3 is below the minimum of 5


def test_unsealed_age_and_overdue_requests(client, audit_dirs, make_user):
    # given audit rows written 10 minutes ago and not sealed yet
    admin = make_user(Role.ADMIN)
    now = timezone.now()
    with time_machine.travel(now - timedelta(minutes=10)):
        late = dsr_create(kind="access", subject_email="late@example.test", received_at=now - timedelta(days=31))
    dsr_create(kind="erasure", subject_email="fresh@example.test", received_at=now - timedelta(days=3))
    closed = dsr_create(kind="access", subject_email="gone@example.test", received_at=now - timedelta(days=40))
    dsr_transition(dsr=closed, status="rejected", actor=admin)

    samples = _scrape(client)

    # then the oldest unsealed row is about 10 minutes old, and one of the two open requests is overdue
    assert 600 <= samples['tourbrain_audit_unsealed_seconds{stream="events"}'] < 900
    assert 'tourbrain_audit_unsealed_seconds{stream="deployments"}' in samples
    assert samples["tourbrain_gdpr_requests_open"] == 2
    assert samples["tourbrain_gdpr_requests_overdue"] == 1
    assert late.due_at < now

    # and once the sealer has run, nothing waits
    seal_all(wait_seconds=5)
    samples = _scrape(client)
    assert samples['tourbrain_audit_unsealed_seconds{stream="events"}'] == 0
    assert samples['tourbrain_audit_unsealed_seconds{stream="deployments"}'] == 0


def test_a_scrape_runs_the_same_number_of_queries_whatever_the_volume(
    client, make_user, settings, django_assert_max_num_queries
):
    settings.LOGIN_LOCKOUT_IP_THRESHOLD = 1000
    with django_assert_max_num_queries(13) as few:
        _scrape(client)
    for n in range(30):
        _fail(client, f"guess{n}@example.test", ip=f"203.0.113.{n}")
        dsr_create(kind="access", subject_email=f"p{n}@example.test", received_at=timezone.now() - timedelta(days=n))
    with django_assert_max_num_queries(13) as many:
        samples = _scrape(client)
    assert samples['tourbrain_security_failed_logins{window="1h"}'] == 30
    assert len(many.captured_queries) == len(few.captured_queries)


def test_multiprocess_registry_serves_the_gauges_too(client, lockouts, monkeypatch, tmp_path):
    # given gunicorn's multiprocess mode (a per-scrape registry)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    samples = _scrape(client)

    assert samples['tourbrain_security_failed_logins{window="1h"}'] == 9
    assert samples['tourbrain_security_locked{scope="ip"}'] == 1
    assert samples["tourbrain_audit_metrics_up"] == 1


def _errors(samples: dict[str, float]) -> float:
    return samples.get('tourbrain_metrics_collect_errors_total{collector="audit"}', 0.0)


def test_database_down_still_answers_without_the_database_gauges(client, lockouts):
    before = _errors(_scrape(client))

    # when the database cannot be reached during a scrape
    with database_unreachable():
        response = client.get("/metrics")

    # then /metrics answers and says the gauges are missing
    assert response.status_code == 200
    text = response.content.decode()
    assert not re.search(r"^tourbrain_security_", text, re.MULTILINE)
    assert not re.search(r"^tourbrain_audit_unsealed_seconds", text, re.MULTILINE)
    samples = _samples(text)
    assert samples["tourbrain_audit_metrics_up"] == 0
    assert 'http_requests_total{method="GET",status="200",view="metrics"}' in text
    # and once it is back, so are the gauges; the failed collection is counted (the counter is rendered
    # before the gauges are read, so a failure shows from the next scrape on)
    samples = _scrape(client)
    assert samples['tourbrain_security_locked{scope="account"}'] == 1
    assert samples["tourbrain_audit_metrics_up"] == 1
    assert _errors(samples) == before + 1
