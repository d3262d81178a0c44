"""Framework events become audit events: login, failed login, logout, 403 answers, Django admin actions."""

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse, HttpResponseForbidden
from django.test import RequestFactory

from audit.middleware import PermissionDeniedAuditMiddleware
from audit.models import AuditEvent, AuditPersonalData

pytestmark = pytest.mark.django_db


def test_login_logout_and_failed_login_are_audited(client, make_user):
    user = make_user(email="rep@example.com", password="pw-123456789")
    assert client.post("/accounts/login/", {"username": "rep@example.com", "password": "nope"}).status_code == 200
    failed = AuditEvent.objects.filter(action="login_failed").latest("id")
    assert not failed.success
    assert failed.resource_id == str(user.pk)
    assert "rep@example.com" in str(AuditPersonalData.objects.get(event=failed).data)  # personal store only
    assert "rep@example.com" not in str(failed.changes)

    client.post("/accounts/login/", {"username": "rep@example.com", "password": "pw-123456789"})
    login = AuditEvent.objects.filter(action="login").latest("id")
    assert login.actor_id == user.pk
    assert login.success
    client.post("/accounts/logout/")
    assert AuditEvent.objects.filter(action="logout", actor_id=user.pk).exists()


def test_a_forbidden_page_is_audited(client_as):
    client = client_as(None)  # a customer on a staff page
    response = client.get("/queue/", HTTP_X_REQUEST_ID="req-forbidden-1")
    assert response.status_code == 403
    event = AuditEvent.objects.filter(action="permission_denied").latest("id")
    assert (event.actor_id, event.resource_type, event.resource_id) == (client.user.pk, "url", "/queue/")
    assert event.request_id == "req-forbidden-1"
    assert not event.success


@pytest.mark.parametrize(("status", "audited"), [(403, True), (200, False), (404, False)])
def test_the_middleware_audits_only_403s(status, audited):
    request = RequestFactory().post("/api/v1/x/", REMOTE_ADDR="192.0.2.1")
    request.user = AnonymousUser()
    answer = HttpResponseForbidden() if status == 403 else HttpResponse(status=status)
    before = AuditEvent.objects.count()
    PermissionDeniedAuditMiddleware(lambda _request: answer)(request)
    assert AuditEvent.objects.count() == before + int(audited)
    if audited:
        event = AuditEvent.objects.latest("id")
        assert event.actor_id is None
        assert event.changes == {"method": "POST"}
        assert AuditPersonalData.objects.get(event=event).data["ip"] == "192.0.2.1"


@pytest.mark.parametrize(("flag", "action"), [(ADDITION, "create"), (CHANGE, "update")])
def test_django_admin_actions_are_audited(make_user, flag, action):
    admin = make_user("admin")
    target = make_user()
    LogEntry.objects.log_actions(
        user_id=admin.pk, queryset=[target], action_flag=flag, change_message="Changed name.", single_object=True
    )
    event = AuditEvent.objects.filter(resource_type__startswith="admin:").latest("id")
    assert event.resource_type == "admin:tourbrain_support.user"
    assert (event.action, event.actor_id, event.resource_id) == (action, admin.pk, str(target.pk))


def test_bulk_admin_actions_are_audited_per_object(make_user):
    # given an admin deleting several objects at once ("delete selected" logs them with bulk_create)
    admin = make_user("admin")
    targets = [make_user(), make_user(), make_user()]
    before = AuditEvent.objects.filter(resource_type="admin:tourbrain_support.user").count()
    LogEntry.objects.log_actions(user_id=admin.pk, queryset=targets, action_flag=DELETION, change_message="")
    # then every object gets its own audit event
    events = AuditEvent.objects.filter(resource_type="admin:tourbrain_support.user").order_by("id")
    assert events.count() == before + 3
    assert [e.resource_id for e in events][-3:] == [str(t.pk) for t in targets]
    assert {e.action for e in events[before:]} == {"delete"}
