"""Brute-force protection: per-account and per-IP lockout with exponential backoff, liftable by an admin."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import LoginLockout
from audit.security import lockout_until, login_failure_record, pseudonym
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
LOGIN = "/accounts/login/"


def _fail(client, email, ip="198.51.100.7"):
    return client.post(LOGIN, {"username": email, "password": "wrong-password"}, REMOTE_ADDR=ip)


def test_account_locks_after_threshold_and_says_so_even_with_the_right_password(client, make_user, settings):
    # given an account and the default threshold of 5
    settings.LOGIN_LOCKOUT_ACCOUNT_THRESHOLD = 5
    user = make_user()
    for _ in range(4):
        response = _fail(client, user.email)
        assert "Too many failed login attempts" not in response.content.decode()
    # when the fifth failure arrives, then the form says the login is paused
    response = _fail(client, user.email)
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    # and the right password is refused while locked
    response = client.post(LOGIN, {"username": user.email, "password": PASSWORD}, REMOTE_ADDR="198.51.100.8")
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_unknown_account_gets_the_same_answer_as_a_real_one(client, make_user):
    user = make_user()
    answers = []
    for email in (user.email, "nobody-here@example.test"):
        for _ in range(5):
            response = _fail(client, email, ip=f"198.51.100.{len(answers) + 20}")
        answers.append(response.content.decode().replace(email, "EMAIL"))
    assert answers[0] == answers[1] or (
        "Too many failed login attempts" in answers[0] and "Too many failed login attempts" in answers[1]
    )
    # the lockout row of an unknown account holds no email, only a keyed hash
    unknown = LoginLockout.objects.get(scope="account", key=pseudonym("account", "nobody-here@example.test"))
    assert unknown.user is None
    assert "nobody-here" not in unknown.label


def test_ip_locks_across_accounts(client, make_user, settings):
    # given an IP threshold of 6 and failures spread over many accounts from one address
    settings.LOGIN_LOCKOUT_IP_THRESHOLD = 6
    victim = make_user()
    for n in range(6):
        _fail(client, f"guess{n}@example.test", ip="203.0.113.9")
    # when a real user logs in from that address, then it is refused; from another address it works
    response = client.post(LOGIN, {"username": victim.email, "password": PASSWORD}, REMOTE_ADDR="203.0.113.9")
    assert "Too many failed login attempts" in response.content.decode()
    response = client.post(LOGIN, {"username": victim.email, "password": PASSWORD}, REMOTE_ADDR="203.0.113.10")
    assert response.status_code == 302
    row = LoginLockout.objects.get(scope="ip")
    assert row.label == "203.0.113.*"
    assert "203.0.113.9" not in row.key


def test_backoff_doubles_and_expires(make_user, settings):
    settings.LOGIN_LOCKOUT_ACCOUNT_THRESHOLD = 3
    settings.LOGIN_LOCKOUT_BASE_SECONDS = 60
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(3):
            first = login_failure_record(username="a@example.test", ip=None)
    assert first == start + timedelta(seconds=60)
    # after the first lockout expires, three more failures lock for twice as long
    later = start + timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        assert lockout_until(username="a@example.test", ip=None) is None
        for _ in range(3):
            second = login_failure_record(username="A@example.test ", ip=None)
    assert second == later + timedelta(seconds=120)


def test_test_client_login_is_refused_while_locked(client, make_user, settings):
    settings.LOGIN_LOCKOUT_ACCOUNT_THRESHOLD = 2
    user = make_user()
    assert not client.login(username=user.email, password="nope")
    assert not client.login(username=user.email, password="nope")
    assert not client.login(username=user.email, password=PASSWORD)
    LoginLockout.objects.update(locked_until=None)
    assert client.login(username=user.email, password=PASSWORD)
    # a successful login clears the account's record
    assert not LoginLockout.objects.filter(scope="account").exists()


def test_admin_lifts_a_lockout_and_it_is_audited(client, client_as, make_user, django_assert_max_num_queries):
    user = make_user()
    for _ in range(5):
        _fail(client, user.email)
    lockout = LoginLockout.objects.get(scope="account")
    assert lockout.user == user
    assert lockout.is_locked()
    admin_client = client_as(Role.ADMIN)
    with django_assert_max_num_queries(20):
        response = admin_client.post(f"/audit/security/lockouts/{lockout.pk}/lift/")
    assert response.status_code == 302
    lockout.refresh_from_db()
    assert not lockout.is_locked()
    assert lockout.lifted_by == admin_client.user
    response = client.post(LOGIN, {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302


def test_auditor_cannot_lift(client, client_as, make_user):
    user = make_user()
    for _ in range(5):
        _fail(client, user.email)
    lockout = LoginLockout.objects.get(scope="account")
    auditor = client_as(Role.AUDITOR)
    assert auditor.post(f"/audit/security/lockouts/{lockout.pk}/lift/").status_code == 403
    lockout.refresh_from_db()
    assert lockout.is_locked()


def test_admin_login_is_locked_out_too_and_says_so(client, make_user, settings):
    settings.LOGIN_LOCKOUT_ACCOUNT_THRESHOLD = 3
    admin_user = make_user(Role.ADMIN)
    for _ in range(3):
        client.post("/admin/login/", {"username": admin_user.email, "password": "wrong"}, REMOTE_ADDR="192.0.2.9")
    response = client.post("/admin/login/", {"username": admin_user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
