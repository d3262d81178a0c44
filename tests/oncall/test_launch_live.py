"""The live launch checks against real local servers: a test email (SMTP), a test Slack post and a Sentry test
event (HTTP, with the providers' documented answers), the widget's JWKS, the alert rules; the page's button."""

import json
import socket

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent, CrossBorderTransfer
from tests.servers import Reply, free_port
from tourbrain_support.alerting.models import AlertRule
from tourbrain_support.alerting.selectors import alert_rules_configured
from tourbrain_support.oncall.launch_live import (
    check_test_email,
    check_test_sentry,
    check_test_slack,
    check_widget_jwks,
)
from tourbrain_support.oncall.models import LaunchDeliveryResult
from tourbrain_support.roles import Role
from tourbrain_support.sentry import transfer_log_drain

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_sentry_spool(settings, tmp_path):
    """Transfers spooled by the Sentry test events stay with this test."""
    settings.SENTRY_TRANSFER_SPOOL = tmp_path / "sentry-transfers.jsonl"


# --- test email ---------------------------------------------------------------------------------------


def test_the_test_email_is_accepted_by_the_mail_server(smtp_server, settings):
    settings.LAUNCH_CHECK_EMAIL_TO = "ops@tourbrain.ai"
    ok, detail = check_test_email()
    assert ok, detail
    assert detail.startswith("test email to ops@tourbrain.ai accepted: 250 2.0.0 Ok: queued as TEST")
    (email,) = smtp_server.wait_for(1)
    assert email.rcpt_tos == ["ops@tourbrain.ai"]
    assert email.message["Subject"] == "TourBrain Support launch check"
    assert "No action needed" in email.text()


def test_a_refused_test_email_fails_with_the_servers_answer(smtp_server, settings):
    smtp_server.rcpt_answers[settings.SUPPORT_EMAIL] = "550 5.1.1 no such user"
    ok, detail = check_test_email()
    assert not ok
    assert detail == f"{settings.SUPPORT_EMAIL} refused: 550 5.1.1 no such user"
    smtp_server.data_answers.append("451 4.3.0 try later")
    smtp_server.rcpt_answers.clear()
    ok, detail = check_test_email()
    assert (ok, detail) == (False, "mail server answered 451 4.3.0 try later")


def test_an_unreachable_mail_server_fails(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    ok, detail = check_test_email()
    assert not ok
    assert detail.startswith(f"mail server unreachable (127.0.0.1:{settings.EMAIL_PORT}): ")
    assert "refused" in detail.lower()


def test_no_mail_server_configured_fails(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert check_test_email() == (
        False,
        "no mail server configured (EMAIL_BACKEND django.core.mail.backends.locmem.EmailBackend)",
    )


# --- test Slack post ------------------------------------------------------------------------------------


@pytest.fixture
def slack(settings, http_server):
    settings.SLACK_WEBHOOK_URL = ""
    settings.SLACK_WEBHOOKS = {"alerts": http_server.url("/slack/alerts"), "status": http_server.url("/slack/status")}
    return http_server


def test_a_test_post_goes_to_alerts_and_status(slack):
    assert check_test_slack() == (True, "alerts: 200 ok; status: 200 ok")
    assert [request.path for request in slack.requests] == ["/slack/alerts", "/slack/status"]
    assert "Launch check" in slack.requests[0].json()["text"]


def test_slacks_documented_errors_fail_the_check(slack):
    slack.script([Reply(404, "no_service"), Reply(403, "invalid_token")])
    ok, detail = check_test_slack()
    assert not ok
    assert detail == "alerts: Slack answered 404 no_service; status: Slack answered 403 invalid_token"


def test_a_missing_or_unreachable_webhook_fails(settings):
    settings.SLACK_WEBHOOK_URL = ""
    settings.SLACK_WEBHOOKS = {"alerts": f"http://127.0.0.1:{free_port()}/hook"}
    ok, detail = check_test_slack()
    assert not ok
    assert detail.startswith("alerts: Slack unreachable: ")
    assert detail.endswith("; status: no webhook")


# --- Sentry test event ----------------------------------------------------------------------------------


def test_a_sentry_test_event_reaches_the_ingest_endpoint(settings, http_server):
    settings.SENTRY_DSN = f"http://key@127.0.0.1:{http_server.port}/1"
    http_server.default = Reply(200, '{"id":"x"}')
    ok, detail = check_test_sentry()
    assert ok, detail
    assert detail.startswith("test event ")
    assert detail.endswith(" accepted (200)")
    (request,) = http_server.requests
    assert request.path == "/api/1/envelope/"
    assert "sentry_key=key" in request.headers["X-Sentry-Auth"]
    # Logged as a cross-border transfer, as every event sent to Sentry is.
    transfer_log_drain()
    event_id = detail.split()[2]
    assert CrossBorderTransfer.objects.filter(reference=f"sentry:{event_id}", recipient="sentry").exists()


def test_a_sentry_error_answer_or_no_server_fails(settings, http_server):
    settings.SENTRY_DSN = f"http://key@127.0.0.1:{http_server.port}/1"
    http_server.default = Reply(403, '{"detail":"event submission rejected with_reason: ProjectId"}')
    ok, detail = check_test_sentry()
    assert not ok
    assert detail.endswith("Sentry answered 403")

    settings.SENTRY_DSN = f"http://key@127.0.0.1:{free_port()}/1"
    ok, detail = check_test_sentry()
    assert not ok
    assert "not sent: network" in detail


def test_no_sentry_dsn_fails(settings):
    settings.SENTRY_DSN = ""
    assert check_test_sentry() == (False, "SENTRY_DSN is not set")
    settings.SENTRY_DSN = "not a dsn"
    ok, detail = check_test_sentry()
    assert not ok
    assert detail.startswith("SENTRY_DSN not usable: ")


# --- widget JWKS ------------------------------------------------------------------------------------------


def _jwks() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    return json.dumps({"keys": [{**jwk, "kid": "widget-1", "use": "sig", "alg": "ES256"}]})


def test_the_widget_jwks_is_fetched_and_parsed(settings, http_server):
    settings.WIDGET_JWKS_URL = http_server.url("/.well-known/jwks.json")
    http_server.default = Reply(200, _jwks())
    assert check_widget_jwks() == (True, "1 key(s) (widget-1)")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(200, "<html>hello</html>"), "is not a JWKS: "),
        (Reply(200, '{"keys": []}'), "is not a JWKS: "),
        (Reply(500, "oops"), "answered 500"),
        (Reply(200, "{}", delay=1.0), "unreachable: "),
    ],
    ids=["garbage", "no keys", "500", "timeout"],
)
def test_a_bad_widget_jwks_fails(settings, http_server, reply, expected):
    settings.WIDGET_JWKS_URL = http_server.url("/jwks")
    settings.WIDGET_JWKS_TIMEOUT_SECONDS = 0.3
    http_server.default = reply
    ok, detail = check_widget_jwks()
    assert not ok
    assert detail.startswith(http_server.url("/jwks") + " ")
    assert expected in detail


def test_no_widget_jwks_url_is_fine(settings):
    settings.WIDGET_JWKS_URL = ""
    ok, detail = check_widget_jwks()
    assert ok
    assert "not set" in detail


# --- alert rules --------------------------------------------------------------------------------------------


def test_the_pre_installed_alert_rules_must_stay_enabled():
    ok, detail = alert_rules_configured()
    assert ok, detail
    AlertRule.objects.filter(name="DatabaseHealthFailing").update(enabled=False)
    assert alert_rules_configured() == (False, "disabled: DatabaseHealthFailing")
    AlertRule.objects.filter(name="DatabaseHealthFailing").delete()
    assert alert_rules_configured() == (False, "missing: DatabaseHealthFailing")


# --- the command and the page ----------------------------------------------------------------------------------


def test_no_send_skips_the_deliveries(capsys):
    with pytest.raises(Exception, match="launch check failed"):
        call_command("launch_check", "--no-send")
    out = capsys.readouterr().out
    assert "[SKIP] auto   A test email delivered through the mail server: skipped (--no-send)" in out
    assert "test_email" not in out.split("[SKIP]")[0]
    assert not LaunchDeliveryResult.objects.exists()


def test_an_admin_sends_the_test_deliveries_from_the_page(client_as, smtp_server, slack, settings):
    settings.SENTRY_DSN = f"http://key@127.0.0.1:{slack.port}/1"
    client = client_as(Role.ADMIN)
    with CaptureQueriesContext(connection) as never_run:
        page = client.get("/launch/")
    assert page.content.decode().count("never run (send the test deliveries)") == 3

    response = client.post("/launch/", {"send_deliveries": "1"})
    assert response.status_code == 302
    results = {row.key: row for row in LaunchDeliveryResult.objects.all()}
    assert set(results) == {"test_email", "test_slack", "sentry_test_event"}
    assert all(row.ok and row.ran_by == client.user for row in results.values()), results
    assert len(smtp_server.wait_for(1)) == 1
    event = AuditEvent.objects.get(resource_type="launch_item", resource_id="test_deliveries")
    assert event.actor_id == client.user.pk
    assert event.changes["test_slack"]["ok"] is True

    # The page shows the stored runs and sends nothing. Its queries are bounded, not equal before and after: the live
    # checks it also runs (the audit trail's verification) read a few more rows once the run's audit event exists.
    sent = len(slack.requests)
    with CaptureQueriesContext(connection) as after_run:
        page = client.get("/launch/")
    assert len(never_run) <= 30
    assert len(after_run) <= 30
    html = page.content.decode()
    assert "never run" not in html
    assert "alerts: 200 ok; status: 200 ok" in html
    assert len(slack.requests) == sent
    assert len(smtp_server.messages) == 1


def test_the_button_needs_csrf_and_an_admin(make_user, client_as):
    admin = make_user(Role.ADMIN)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin)
    assert strict.post("/launch/", {"send_deliveries": "1"}).status_code == 403
    assert client_as(Role.ENGINEER).post("/launch/", {"send_deliveries": "1"}).status_code == 403
    assert not LaunchDeliveryResult.objects.exists()
    assert not AuditEvent.objects.filter(resource_id="test_deliveries").exists()


def test_free_port_is_closed():
    # (helper sanity: the "unreachable" tests rely on nothing listening on a fresh free port)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", free_port())) != 0
