"""/widget/demo/ and its token endpoint: DEBUG only, seeded demo customers, real HS256 tokens."""

import jwt
import pytest
from django.utils import timezone

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tourbrain_support import demo as core_demo
from tourbrain_support.models import Organization

pytestmark = pytest.mark.django_db

SECRET = "widget-demo-test-secret-of-enough-length"


@pytest.fixture
def demo_settings(settings):
    settings.DEBUG = True
    settings.WIDGET_JWT_SECRET = SECRET
    settings.WIDGET_JWT_ISSUER = ""
    return settings


@pytest.fixture
def seeded():
    core_demo.seed()


@pytest.mark.parametrize("path", ["/widget/demo/", "/widget/demo/token/?customer=1"])
def test_demo_is_not_found_without_debug(client, settings, seeded, path):
    settings.DEBUG = False
    settings.WIDGET_JWT_SECRET = SECRET

    response = client.get(path)

    assert response.status_code == 404


@pytest.mark.usefixtures("demo_settings", "seeded")
def test_demo_page_lists_the_seeded_customers_and_mounts_the_widget(client, django_assert_max_num_queries):
    # More seeded-like customers must not add queries.
    extra = Organization.objects.get(slug="roadcase-touring")
    for email in ("ops@backline.test", "tm@backline.test", "agent@roadcase.test"):
        MembershipFactory(user=UserFactory(email=email), organization=extra)

    with django_assert_max_num_queries(4):
        response = client.get("/widget/demo/")

    assert response.status_code == 200
    html = response.content.decode()
    for email in ("customer@backline.test", "beta@roadcase.test", "enterprise@arena.test", "agent@roadcase.test"):
        assert f'value="{core_demo_user_pk(email)}"' in html
    assert "Rita Rep" not in html  # staff are not demo customers
    assert "widget/tourbrain-widget.js" in html
    assert 'data-api-base="http://testserver/api/v1/widget/"' in html
    # the CSP allows no inline script or style
    assert "<script>" not in html
    assert " style=" not in html


def core_demo_user_pk(email):
    from tourbrain_support.models import User

    return User.objects.get(email=email).pk


@pytest.mark.usefixtures("demo_settings", "seeded")
def test_demo_page_selects_the_requested_customer(client):
    beta = core_demo_user_pk("beta@roadcase.test")

    response = client.get(f"/widget/demo/?customer={beta}")

    assert f'data-customer="{beta}"' in response.content.decode()
    assert "Bo Beta" in response.content.decode()


@pytest.mark.usefixtures("demo_settings", "seeded")
def test_demo_token_carries_the_customer_profile(client, django_assert_max_num_queries):
    beta = core_demo_user_pk("beta@roadcase.test")

    with django_assert_max_num_queries(3):
        response = client.get(f"/widget/demo/token/?customer={beta}")

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    claims = jwt.decode(response.json()["token"], SECRET, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["sub"] == f"demo-{beta}"
    assert claims["email"] == "beta@roadcase.test"
    assert claims["name"] == "Bo Beta"
    assert claims["beta"] is True
    assert "org_id" not in claims  # the seeded membership names the organization
    assert "iss" not in claims
    lifetime = claims["exp"] - claims["iat"]
    assert lifetime == 600
    assert abs(claims["iat"] - timezone.now().timestamp()) < 5


@pytest.mark.usefixtures("seeded")
def test_demo_token_names_the_configured_issuer(client, demo_settings):
    demo_settings.WIDGET_JWT_ISSUER = "https://clerk.tourbrain.example"
    customer = core_demo_user_pk("customer@backline.test")

    token = client.get(f"/widget/demo/token/?customer={customer}").json()["token"]

    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="https://clerk.tourbrain.example")
    assert claims["email"] == "customer@backline.test"


@pytest.mark.usefixtures("demo_settings", "seeded")
@pytest.mark.parametrize("value", ["", "abc", "999999", "1" * 40, "-1"])
def test_demo_token_refuses_anyone_but_a_demo_customer(client, value):
    response = client.get("/widget/demo/token/", {"customer": value})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "customer" in response.json()["error"]["fields"]


@pytest.mark.usefixtures("demo_settings", "seeded")
def test_demo_token_refuses_staff_and_other_customers(client):
    stranger = MembershipFactory(user=UserFactory(), organization=OrganizationFactory()).user
    rep = core_demo_user_pk("rep@tourbrain.test")

    for pk in (stranger.pk, rep):
        assert client.get(f"/widget/demo/token/?customer={pk}").status_code == 400


@pytest.mark.usefixtures("seeded")
def test_demo_token_needs_a_secret(client, demo_settings):
    demo_settings.WIDGET_JWT_SECRET = ""

    response = client.get(f"/widget/demo/token/?customer={core_demo_user_pk('customer@backline.test')}")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "not_configured"


def test_debug_settings_give_the_demo_a_secret():
    """Under `make run` (DEBUG, no WIDGET_JWT_SECRET) the settings supply a demo secret; never without DEBUG."""
    import subprocess
    import sys

    code = "from django.conf import settings; print(repr(settings.WIDGET_JWT_SECRET))"
    results = {}
    for debug in ("1", "0"):
        env = {
            "DJANGO_SETTINGS_MODULE": "tourbrain_support.settings",
            "DEBUG": debug,
            "SECRET_KEY": "x" * 50,
            "WIDGET_JWT_SECRET": "",
            "PATH": "/usr/bin:/bin",
        }
        output = subprocess.run(  # noqa: S603
            [sys.executable, "-c", "import django; django.setup(); " + code],
            env={**env, "PYTHONPATH": "."},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        results[debug] = output.strip().splitlines()[-1]
    assert results["0"] == "''"
    assert results["1"] not in ("''", "")
