"""Widget tokens: HS256 and JWKS (RS256/ES256 from a real local HTTP server) verified, each refusal a 401
with its own code, and the profile claims creating/updating the customer and organization."""

import time

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from tests.servers import Reply
from tests.widget_tokens import ISSUER, SECRET, bearer, claims, ec_key, hs256, jwks_body, rsa_key
from tourbrain_support.identities import PLACEHOLDER_EMAIL_DOMAIN
from tourbrain_support.models import ExternalIdentity, Membership, Organization, User
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db
ME = "/api/v1/widget/me/"


def _code(response) -> str:
    return response.json()["error"]["code"]


def test_hs256_token_creates_the_customer_and_organization(client, widget_settings):
    token = hs256(
        claims(
            sub="tb_42", email="Ana@Band.test", name="Ana Lima", org_id="org_9", org_name="The Band", org_role="admin"
        )
    )
    response = client.get(ME, **bearer(token))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["email"] == "ana@band.test"
    assert body["name"] == "Ana Lima"
    assert body["tier"] == "general"
    assert body["organization"]["name"] == "The Band"
    assert body["organization"]["is_admin"] is True
    identity = ExternalIdentity.objects.select_related("user", "organization").get(subject="tb_42")
    assert identity.issuer == ""
    assert Membership.objects.get(user=identity.user).role == Membership.Role.ADMIN
    assert AuditEvent.objects.filter(resource_type="user", actor=identity.user, action="create").exists()
    assert AuditEvent.objects.filter(resource_type="organization", action="create").exists()


def test_profile_changes_are_applied_and_the_tier_is_current(client, widget_settings):
    base = {"sub": "tb_7", "email": "bo@x.test", "org_id": "org_1", "org_name": "Old name"}
    assert client.get(ME, **bearer(hs256(claims(**base)))).json()["tier"] == "general"
    assert client.get(ME, **bearer(hs256(claims(**base, beta=True)))).json()["tier"] == "beta"
    body = client.get(ME, **bearer(hs256(claims(**{**base, "org_name": "New name"}, plan="enterprise")))).json()
    assert body["tier"] == "enterprise"
    assert Organization.objects.get().name == "New name"
    assert Organization.objects.get().plan == "enterprise"
    assert User.objects.get(email="bo@x.test").is_beta is True  # absent claim leaves it as it was
    assert User.objects.count() == 1


def test_a_token_never_takes_a_user_out_of_the_beta_cohort(client, widget_settings):
    # given a customer who joined the beta (e.g. by accepting an invitation)
    base = {"sub": "tb_8", "email": "cy@x.test"}
    client.get(ME, **bearer(hs256(claims(**base, beta=True))))

    # when TourBrain's token says beta: false
    body = client.get(ME, **bearer(hs256(claims(**base, beta=False)))).json()

    # then they stay beta: only support takes someone out of the cohort
    assert body["tier"] == "beta"
    assert User.objects.get(email="cy@x.test").is_beta is True


def test_unchanged_profile_costs_one_query(client, widget_settings):
    token = hs256(claims(sub="tb_q", email="q@x.test", org_id="org_q"))
    assert client.get("/api/v1/widget/suggestions/?q=ab", **bearer(token)).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/widget/suggestions/?q=ab", **bearer(token))
    assert response.status_code == 200
    # the token's identity is one read and nothing is written; the rest is the knowledge-base search
    outside_the_search = [q["sql"] for q in queries.captured_queries if "knowledge_base" not in q["sql"]]
    assert len(outside_the_search) == 1, outside_the_search
    assert "externalidentity" in outside_the_search[0]


def test_sub_without_email_is_a_customer_with_an_undeliverable_address(client, widget_settings):
    response = client.get(ME, **bearer(hs256(claims(sub="anon_1"))))
    assert response.status_code == 200
    assert response.json()["email"] is None
    user = ExternalIdentity.objects.get(subject="anon_1").user
    assert user.email.endswith("@" + PLACEHOLDER_EMAIL_DOMAIN)
    # the same sub from another issuer is another person
    other = client.get(ME, **bearer(hs256(claims(sub="anon_1", iss="https://other.test"))))
    assert other.status_code == 200
    assert ExternalIdentity.objects.filter(subject="anon_1").count() == 2


def test_token_naming_a_staff_account_is_refused(client, widget_settings, make_user):
    make_user(Role.SUPPORT_REP, email="rep@tourbrain.test")
    response = client.get(ME, **bearer(hs256(claims(sub="x", email="rep@tourbrain.test"))))
    assert response.status_code == 403
    assert _code(response) == "staff_account"
    assert not ExternalIdentity.objects.exists()


def test_existing_customer_with_the_email_is_linked(client, widget_settings, make_user):
    customer = make_user(email="old@customer.test")
    assert client.get(ME, **bearer(hs256(claims(sub="s1", email="old@customer.test")))).status_code == 200
    assert ExternalIdentity.objects.get(subject="s1").user == customer


@pytest.mark.parametrize(
    ("make_token", "code"),
    [
        (lambda: jwt.encode(claims(), None, algorithm="none"), "alg_none"),
        (lambda: hs256(claims(exp=int(time.time()) - 60)), "token_expired"),
        (lambda: hs256(claims(nbf=int(time.time()) + 120)), "token_not_yet_valid"),
        (lambda: hs256(claims(), secret="another-secret-that-is-also-long-enough"), "bad_signature"),
        (lambda: hs256({k: v for k, v in claims().items() if k != "sub"}), "missing_sub"),
        (lambda: hs256(claims(sub="")), "missing_sub"),
        (lambda: hs256({k: v for k, v in claims().items() if k != "exp"}), "missing_exp"),
        (lambda: "not.a.jwt", "token_malformed"),
        (lambda: "abc", "token_malformed"),
        (lambda: hs256(claims(pad="x" * 9000)), "token_too_large"),
        (lambda: hs256(claims(email="not an email")), "invalid_claim"),
        (lambda: hs256(claims(plan="platinum")), "invalid_claim"),
        (lambda: hs256(claims(beta="yes")), "invalid_claim"),
    ],
)
def test_refused_tokens_get_401_with_a_code(client, widget_settings, make_token, code):
    response = client.get(ME, **bearer(make_token()))
    assert response.status_code == 401, response.content
    assert _code(response) == code
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not User.objects.exists()


def test_leeway_accepts_a_just_expired_token(client, widget_settings):
    widget_settings.WIDGET_JWT_LEEWAY_SECONDS = 10
    assert client.get(ME, **bearer(hs256(claims(exp=int(time.time()) - 3)))).status_code == 200


@pytest.fixture
def verified(monkeypatch) -> list:
    """One entry per signature check PyJWT makes."""
    calls, decode = [], jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *args, **kwargs: calls.append(1) or decode(*args, **kwargs))
    return calls


def test_a_token_verified_moments_ago_is_not_verified_again(client, widget_settings, verified):
    token = hs256(claims())
    assert [client.get(ME, **bearer(token)).status_code for _ in range(3)] == [200, 200, 200]
    assert len(verified) == 1
    assert client.get(ME, **bearer(hs256(claims(sub="user_other")))).status_code == 200
    assert len(verified) == 2  # another token is verified


def test_a_remembered_token_is_checked_again_when_settings_change_or_it_expires(client, widget_settings, time_machine):
    time_machine.move_to(time.time(), tick=False)
    widget_settings.WIDGET_JWT_LEEWAY_SECONDS = 10
    token = hs256(claims(exp=int(time.time()) + 30))
    assert client.get(ME, **bearer(token)).status_code == 200
    widget_settings.WIDGET_JWT_SECRET = "a-rotated-secret-with-enough-bytes-for-hs256"
    assert _code(client.get(ME, **bearer(token))) == "bad_signature"
    widget_settings.WIDGET_JWT_SECRET = SECRET
    assert client.get(ME, **bearer(token)).status_code == 200
    time_machine.shift(30 + 10 + 1)  # past its expiry and the leeway
    assert _code(client.get(ME, **bearer(token))) == "token_expired"


def test_a_remembered_token_is_verified_again_after_a_minute(client, widget_settings, time_machine, verified):
    time_machine.move_to(time.time(), tick=False)
    token = hs256(claims(exp=int(time.time()) + 3600))
    assert client.get(ME, **bearer(token)).status_code == 200
    time_machine.shift(59)
    assert client.get(ME, **bearer(token)).status_code == 200
    assert len(verified) == 1
    time_machine.shift(2)  # after a minute the token is verified again (its key may have been withdrawn)
    assert client.get(ME, **bearer(token)).status_code == 200
    assert len(verified) == 2


def test_wrong_issuer_and_azp(client, widget_settings):
    widget_settings.WIDGET_JWT_ISSUER = ISSUER
    widget_settings.WIDGET_ALLOWED_ORIGINS = ["https://app.tourbrain.test"]
    assert _code(client.get(ME, **bearer(hs256(claims(iss="https://evil.test"))))) == "wrong_issuer"
    assert _code(client.get(ME, **bearer(hs256(claims())))) == "missing_iss"
    evil = hs256(claims(iss=ISSUER, azp="https://evil.test"))
    assert _code(client.get(ME, **bearer(evil))) == "wrong_azp"
    good = hs256(claims(iss=ISSUER, azp="https://app.tourbrain.test"))
    assert client.get(ME, **bearer(good)).status_code == 200


def test_no_token_or_another_scheme_is_401(client, widget_settings, make_user):
    assert _code(client.get(ME)) == "not_authenticated"
    assert client.get(ME).status_code == 401
    assert _code(client.get(ME, HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")) == "bearer_required"
    # a signed-in session is not enough: the widget API takes tokens only
    client.force_login(make_user())
    assert client.get(ME).status_code == 401


def test_clerk_rs256_and_es256_tokens_verify_against_the_jwks(client, widget_settings, jwks):
    widget_settings.WIDGET_JWT_SECRET = ""
    widget_settings.WIDGET_JWT_ISSUER = ISSUER
    widget_settings.WIDGET_ALLOWED_ORIGINS = ["https://app.tourbrain.test"]
    clerk = claims(
        sub="user_2NNEqL2nrIRdJ194ndJqAHwEfxC",
        iss=ISSUER,
        azp="https://app.tourbrain.test",
        sid="sess_2NNEqU0bXrOrF3W0kJ5FdcY5Gm2",
        org_id="org_2Nn3tQ1E",
        org_role="org:admin",
        org_slug="the-band",
    )
    for key in (rsa_key(), ec_key()):
        response = client.get(ME, **bearer(key.sign(clerk)))
        assert response.status_code == 200, response.content
        assert response.json()["organization"]["is_admin"] is True
    assert len(jwks.requests) == 1  # cached across requests
    assert jwks.requests[0].path == "/.well-known/jwks.json"


def test_unknown_kid_refetches_once_then_401(client, widget_settings, jwks):
    widget_settings.WIDGET_JWT_SECRET = ""
    assert client.get(ME, **bearer(rsa_key().sign(claims()))).status_code == 200
    assert len(jwks.requests) == 1
    response = client.get(ME, **bearer(rsa_key("rotated-away").sign(claims())))
    assert response.status_code == 401
    assert _code(response) == "unknown_kid"
    assert len(jwks.requests) == 2  # one refetch for the unknown kid


def test_rotated_key_is_picked_up_by_the_refetch(client, widget_settings, jwks):
    widget_settings.WIDGET_JWT_SECRET = ""
    assert client.get(ME, **bearer(rsa_key().sign(claims()))).status_code == 200
    jwks.default = Reply(200, jwks_body(rsa_key(), rsa_key("new-key")))
    assert client.get(ME, **bearer(rsa_key("new-key").sign(claims()))).status_code == 200
    assert len(jwks.requests) == 2


def test_unknown_kid_flood_within_the_cooldown_does_not_refetch(client, widget_settings, jwks):
    widget_settings.WIDGET_JWT_SECRET = ""
    widget_settings.WIDGET_JWKS_COOLDOWN_SECONDS = 60.0
    for number in range(5):
        assert _code(client.get(ME, **bearer(rsa_key(f"guess-{number}").sign(claims())))) == "unknown_kid"
    assert len(jwks.requests) == 1


def test_key_confusion_hs256_signed_with_the_public_key_is_refused(client, widget_settings, jwks):
    public_pem = rsa_key().public_pem.decode()
    forged_header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(forged_header).encode())}.{b64(json.dumps(claims()).encode())}"
    signature = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(signature)}"
    # JWKS only: HS256 is not an accepted algorithm at all
    widget_settings.WIDGET_JWT_SECRET = ""
    response = client.get(ME, **bearer(forged))
    assert (response.status_code, _code(response)) == (401, "alg_not_allowed")
    # with a shared secret as well, HS256 is checked against the secret only, never the public key
    widget_settings.WIDGET_JWT_SECRET = SECRET
    response = client.get(ME, **bearer(forged))
    assert (response.status_code, _code(response)) == (401, "bad_signature")
    assert not User.objects.exists()


def test_rs256_token_when_only_the_secret_is_configured_is_refused(client, widget_settings):
    response = client.get(ME, **bearer(rsa_key().sign(claims())))
    assert (response.status_code, _code(response)) == (401, "alg_not_allowed")


def test_unreachable_jwks_is_503_within_the_timeout(client, widget_settings, jwks):
    widget_settings.WIDGET_JWT_SECRET = ""
    widget_settings.WIDGET_JWKS_TIMEOUT_SECONDS = 0.3
    jwks.default = Reply(200, jwks_body(rsa_key()), delay=1.0)
    started = time.monotonic()
    response = client.get(ME, **bearer(rsa_key().sign(claims())))
    assert response.status_code == 503
    assert _code(response) == "jwks_unavailable"
    assert time.monotonic() - started < 1.0
