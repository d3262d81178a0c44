"""Security metrics: failed logins, suspicious API activity, export volume against the usual level, admin access."""

from datetime import timedelta

import pytest
import time_machine
from django.http import HttpResponse
from django.utils import timezone

from audit.models import SecurityCounter
from audit.security import SecurityCounterMiddleware, security_metrics
from audit.services import audit_record
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def _window(hours=1):
    now = timezone.now()
    return now - timedelta(hours=hours), now + timedelta(seconds=1)


def test_failed_logins_are_counted(client, make_user):
    user = make_user()
    for _ in range(3):
        client.post("/accounts/login/", {"username": user.email, "password": "wrong"})
    client.post("/accounts/login/", {"username": "ghost@example.test", "password": "wrong"})
    assert security_metrics(*_window())["failed_login_attempts"] == 4


def test_bursts_of_401_and_403_and_throttling_count_as_suspicious(client, rf, settings):
    # given a burst threshold of 10 per source and minute
    settings.SECURITY_BURST_THRESHOLD = 10
    # when one address gets 12 403s (a burst) and another 3 (noise), and 4 requests are throttled
    for _ in range(12):
        client.get("/api/v1/me/", REMOTE_ADDR="203.0.113.50")  # anonymous API call: 401/403
    for _ in range(3):
        client.get("/audit/security/", REMOTE_ADDR="203.0.113.51", HTTP_ACCEPT="application/json")
    throttled = SecurityCounterMiddleware(lambda request: HttpResponse(status=429))
    for _ in range(4):
        throttled(rf.get("/api/v1/widget/tickets/", REMOTE_ADDR="198.51.100.60"))
    metrics = security_metrics(*_window())
    # then the burst and the throttled requests are suspicious, the noise is not
    assert metrics["throttled_requests"] == 4
    assert metrics["bursts"] == 1
    assert metrics["burst_responses"] == 12
    assert metrics["suspicious_api_activity"] == 16
    # and no counter row holds an address
    assert not SecurityCounter.objects.filter(source__contains="203.0.113").exists()


def test_admin_site_requests_are_counted(client_as):
    admin = client_as(Role.ADMIN)
    for _ in range(3):
        assert admin.get("/admin/").status_code == 200
    assert admin.get("/admin/tickets/ticket/").status_code == 200
    # the staff's other pages, and an admin path that does not exist, are not admin access
    assert admin.get("/queue/").status_code == 200
    assert admin.get("/admin/no-such-page/").status_code == 404
    assert security_metrics(*_window())["admin_access"] == 4


def test_export_volume_flags_a_user_far_above_their_usual_level(make_user, settings):
    # given two users who usually export about once a day for four weeks
    settings.EXPORT_OUTLIER_FACTOR = 3.0
    settings.EXPORT_OUTLIER_MIN = 5
    steady, hoarder = make_user(), make_user()
    now = timezone.now()
    for day in range(1, 29):
        with time_machine.travel(now - timedelta(days=day), tick=False):
            for user in (steady, hoarder):
                audit_record(actor=user, action="export", resource_type="ticket", resource_id="")
    # when, in the last day, one exports once more and the other 40 times
    audit_record(actor=steady, action="export", resource_type="ticket", resource_id="")
    for _ in range(40):
        audit_record(actor=hoarder, action="export", resource_type="ticket", resource_id="")
    metrics = security_metrics(now - timedelta(hours=23), now + timedelta(seconds=1))
    # then only the second is an outlier
    by_user = {row["actor_id"]: row for row in metrics["exports_by_user"]}
    assert metrics["data_export_volume"] == 41
    assert by_user[hoarder.pk]["outlier"] is True
    assert by_user[hoarder.pk]["exports"] == 40
    assert by_user[steady.pk]["outlier"] is False
    assert 0.9 < by_user[steady.pk]["usual"] < 1.1
    assert metrics["export_outliers"] == 1


def test_security_page_windows_and_query_count(client_as, django_assert_max_num_queries, make_user):
    auditor = client_as(Role.AUDITOR)
    for _ in range(10):
        audit_record(actor=make_user(), action="export", resource_type="ticket", resource_id="")
    for window in ("1h", "24h", "7d", "30d"):
        with django_assert_max_num_queries(14):
            response = auditor.get(f"/audit/security/?window={window}")
        assert response.status_code == 200
    start = (timezone.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    end = (timezone.now() + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M")
    response = auditor.get(f"/audit/security/?window=custom&start={start}&end={end}")
    assert response.status_code == 200
    assert 'data-metric="data_export_volume">10<' in response.content.decode()


def test_custom_window_needs_both_ends(client_as):
    response = client_as(Role.AUDITOR).get("/audit/security/?window=custom&start=2026-01-02T00:00")
    assert response.status_code == 200
    assert "A custom window needs a start and an end." in response.content.decode()
