"""Security headers and cookies on every kind of response: pages, API, admin, API docs, login, error pages
(404, 403, 500), the 413 refusal. CSP (django-csp), HSTS when not DEBUG, frame options, referrer policy,
nosniff, no-store on authenticated responses, cookie flags. Also the CSP report endpoint and per-view CSP."""

import json
import re

import pytest
from csp.decorators import csp_replace
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path
from django.views.decorators.clickjacking import xframe_options_exempt
from prometheus_client import REGISTRY

from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def crash(request):
    raise RuntimeError("boom")


@csp_replace({"frame-ancestors": ["https://app.tourbrain.ai"]})
@xframe_options_exempt
def embeddable(request):
    return HttpResponse("<p>widget</p>")


urlpatterns = [
    path("test/crash/", crash),
    path("api/test/crash/", crash),
    path("test/embeddable/", embeddable),
    path("", include("tourbrain_support.urls")),
]
handler403 = "tourbrain_support.views.permission_denied"
handler404 = "tourbrain_support.views.page_not_found"
handler500 = "tourbrain_support.views.server_error"


def _csp(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_security_headers(response, *, authenticated: bool):
    csp = _csp(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"][0] == "'self'"
    assert all(value == "'self'" or value.startswith("'nonce-") for value in csp["script-src"]), csp
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-src"] == ["https://www.youtube-nocookie.com", "https://player.vimeo.com"]
    assert csp["report-uri"] == ["/csp-report/"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cache_control = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    if authenticated:
        assert {"no-store", "private"} <= cache_control, response.get("Cache-Control")


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("role", "url", "status"),
    [
        (Role.SUPPORT_REP, "/queue/", 200),
        (Role.SUPPORT_REP, "/", 200),
        (Role.SUPPORT_REP, "/api/v1/me/", 200),
        (Role.SUPPORT_REP, "/api/v1/tickets/", 200),
        (Role.SUPPORT_REP, "/api/docs/", 200),
        (Role.SUPPORT_REP, "/api/schema/", 200),
        (Role.ADMIN, "/admin/", 200),
        (Role.ADMIN, "/admin/tourbrain_support/user/", 200),
        (Role.AUDITOR, "/audit/", 200),
        (Role.SUPPORT_REP, "/no-such-page/", 404),
        (Role.SUPPORT_REP, "/api/v1/no-such-endpoint/", 404),
        (None, "/queue/", 403),
        (None, "/api/v1/tickets/", 403),
    ],
)
def test_signed_in_responses_carry_every_header_and_are_not_stored(client_as, role, url, status):
    client = client_as(role)

    response = client.get(url, secure=True)

    assert response.status_code == status
    assert_security_headers(response, authenticated=True)


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("url", ["/test/crash/", "/api/test/crash/"])
def test_500_pages_carry_every_header(make_user, url):
    client = Client(raise_request_exception=False)
    client.force_login(make_user(Role.SUPPORT_REP))

    response = client.get(url, secure=True)

    assert response.status_code == 500
    assert_security_headers(response, authenticated=True)


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("url", "status"), [("/accounts/login/", 200), ("/api/v1/me/", 401), ("/nope/", 404)])
def test_anonymous_responses_carry_every_header(client, url, status):
    response = client.get(url, secure=True)

    assert response.status_code == status
    assert_security_headers(response, authenticated=False)


def test_the_413_refusal_carries_every_header(client_as, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = client_as(None)

    response = client.post(
        "/api/v1/me/consents/", "[" + "1," * 1000 + "1]", content_type="application/json", secure=True
    )

    assert response.status_code == 413
    assert_security_headers(response, authenticated=True)


def test_login_sets_secure_httponly_samesite_cookies_and_the_next_page_is_not_stored(client, make_user):
    user = make_user(Role.SUPPORT_REP)
    user.set_password("a-long-enough-password")
    user.save()
    client.get("/accounts/login/", secure=True)

    response = client.post(
        "/accounts/login/", {"username": user.email, "password": "a-long-enough-password"}, secure=True
    )

    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] is True
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    csrf = client.cookies["csrftoken"]
    assert csrf["secure"] is True
    assert csrf["samesite"] == "Lax"
    assert "no-store" in response["Cache-Control"]
    assert_security_headers(client.get("/queue/", secure=True), authenticated=True)


def test_debug_relaxes_only_transport_settings(settings):
    # The settings module decides HSTS and secure cookies at import time: check the decision itself.
    import subprocess
    import sys

    code = "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.DEBUG)"
    outputs = {}
    for debug in ("0", "1"):
        done = subprocess.run(  # noqa: S603 - fixed command line
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env={
                "DJANGO_SETTINGS_MODULE": "tourbrain_support.settings",
                "SECRET_KEY": "test-only-secret-key",
                "DEBUG": debug,
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": str(settings.BASE_DIR),
                "DATA_DIR": str(settings.DATA_DIR),
            },
            capture_output=True,
            text=True,
            check=True,
        )
        outputs[debug] = done.stdout.strip()
    assert outputs["0"] == "True 31536000 False"
    assert outputs["1"] == "False 0 True"


def test_swagger_ui_has_no_inline_script_and_its_inline_style_carries_the_nonce(client_as_rep):
    response = client_as_rep.get("/api/docs/")

    html = response.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert f'<style nonce="{nonce}">' in html
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # every script is a file
    init_script = re.search(r'<script src="(/api/docs/\?script=[^"]*)"', html).group(1)
    script = client_as_rep.get(init_script)
    assert script.status_code == 200
    assert b"SwaggerUIBundle" in script.content


def test_a_page_without_inline_code_gets_no_nonce(client_as_rep):
    response = client_as_rep.get("/queue/")
    assert "nonce-" not in response["Content-Security-Policy"]


@pytest.mark.urls(__name__)
def test_a_view_may_allow_being_framed_by_a_named_origin(client):
    response = client.get("/test/embeddable/")

    assert _csp(response)["frame-ancestors"] == ["https://app.tourbrain.ai"]
    assert "X-Frame-Options" not in response
    assert _csp(response)["script-src"] == ["'self'"]  # the rest of the policy stays


def _violations(directive: str) -> float:
    return REGISTRY.get_sample_value("tourbrain_csp_violations_total", {"directive": directive}) or 0.0


def test_csp_report_in_the_legacy_format_is_logged_and_counted(client, caplog, django_assert_num_queries):
    before = _violations("script-src-elem")
    report = {
        "csp-report": {
            "document-uri": "https://support.tourbrain.ai/queue/",
            "blocked-uri": "https://evil.example/x.js",
            "effective-directive": "script-src-elem",
            "violated-directive": "script-src-elem",
        }
    }

    with django_assert_num_queries(0):
        response = client.post("/csp-report/", json.dumps(report), content_type="application/csp-report")

    assert response.status_code == 204
    assert _violations("script-src-elem") == before + 1
    assert "https://evil.example/x.js" in caplog.text
    assert 'tourbrain_csp_violations_total{directive="script-src-elem"}' in client.get("/metrics").content.decode()


def test_csp_reports_from_the_reporting_api_are_each_counted(client):
    before = _violations("frame-src")
    reports = [
        {"type": "csp-violation", "body": {"effectiveDirective": "frame-src", "blockedURL": "https://youtube.com/"}},
        {"type": "csp-violation", "body": {"effectiveDirective": "frame-src", "blockedURL": "https://x.example/"}},
        {"type": "deprecation", "body": {"id": "something-else"}},
    ]

    response = client.post("/csp-report/", json.dumps(reports), content_type="application/reports+json")

    assert response.status_code == 204
    assert _violations("frame-src") == before + 2


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"csp-report": {}}', "text/plain", 415),
        ("{not json", "application/csp-report", 400),
        ('{"csp-report": {"effective-directive": "' + "x" * 70_000 + '"}}', "application/csp-report", 413),
        ("[" * 5000 + "]" * 5000, "application/csp-report", 400),
    ],
    ids=["wrong-type", "malformed", "too-large", "too-deep"],
)
def test_csp_report_refuses_bad_bodies(client, body, content_type, status):
    before = _violations("other")
    assert client.post("/csp-report/", body, content_type=content_type).status_code == status
    assert _violations("other") == before
    assert client.get("/csp-report/").status_code == 405


def test_static_files_stay_cacheable_for_signed_in_users(client_as_rep):
    response = client_as_rep.get("/static/tickets/queue.js")

    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_a_token_authenticated_api_answer_is_not_stored(client, settings):
    settings.DEPLOY_API_TOKEN = "deploy-token"

    response = client.post(
        "/api/v1/audit/deployments/",
        {"version": "1.2.3", "deployed_by": "ci"},
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer deploy-token",
        secure=True,
    )

    assert response.status_code == 201
    assert_security_headers(response, authenticated=True)


def test_the_csp_configuration_passes_django_csp_checks():
    from csp.checks import check_django_csp_lt_4_0, check_exclude_url_prefixes_is_not_string

    # A setting named CSP_* reads as django-csp 3 configuration and fails the system check.
    assert check_django_csp_lt_4_0(None) == []
    assert check_exclude_url_prefixes_is_not_string(None) == []


def test_an_unknown_directive_is_counted_as_other(client):
    before = _violations("other")
    report = {"csp-report": {"effective-directive": "made-up-directive-" + "x" * 30}}

    response = client.post("/csp-report/", json.dumps(report), content_type="application/csp-report")

    assert response.status_code == 204
    assert _violations("other") == before + 1
    assert _violations("made-up-directive-" + "x" * 30) == 0.0
