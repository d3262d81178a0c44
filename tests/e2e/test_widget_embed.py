"""Embedding the widget as TourBrain does, in chromium: from another origin (CORS, the README snippet) and on a
page under a strict Content-Security-Policy (no inline script or style)."""

import json
import time

import jwt
import pytest

from tests.e2e.widget_helpers import WIDGET_SECRET, demo_widget_fixture, open_widget, widget  # noqa: F401
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tickets.models import Ticket

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)


def test_embedded_from_another_origin(page, live_server, settings, tourbrain_app):
    """TourBrain's page includes the script as the README shows; its backend signs the token; the API answers
    with CORS for the allowed origin."""
    origin = tourbrain_app.origin
    settings.WIDGET_JWT_SECRET = WIDGET_SECRET
    settings.WIDGET_JWT_ISSUER = ""
    settings.WIDGET_ALLOWED_ORIGINS = settings.CORS_ALLOWED_ORIGINS = [origin]
    person = UserFactory(email="new.person@venue.test", name="Nia New")
    MembershipFactory(user=person, organization=OrganizationFactory(name="Venue Co"))
    now = int(time.time())
    claims = {"sub": "user_2xyz", "email": person.email, "azp": origin, "iat": now, "exp": now + 300}
    (tourbrain_app.root / "support-token.json").write_text(
        json.dumps({"token": jwt.encode(claims, WIDGET_SECRET, algorithm="HS256")})
    )
    (tourbrain_app.root / "app.js").write_text(
        f"""TourBrainSupport.init({{
          apiBase: {json.dumps(live_server.url + "/api/v1/widget/")},
          getToken: async () => (await (await fetch("/support-token.json")).json()).token,
        }});"""
    )
    (tourbrain_app.root / "index.html").write_text(
        f"""<!doctype html><html><head><title>TourBrain</title>
        <script src="{live_server.url}/static/widget/tourbrain-widget.js" defer></script>
        <script src="/app.js" defer></script></head><body><h1>Tours</h1></body></html>"""
    )
    page.goto(origin + "/index.html")
    panel = open_widget(page)

    page.get_by_label("Describe the problem or question").fill("Offline access on the tour bus?")
    panel.get_by_role("button", name="Send request").click()

    reference = widget(page, "[data-testid=done-reference]").inner_text()
    ticket = Ticket.objects.get(reference=reference)
    assert ticket.user == person
    assert ticket.url == origin + "/index.html"
    # The stylesheet came from the widget's own origin, next to the script
    assert widget(page, "[data-testid=launcher]").evaluate("b => getComputedStyle(b).borderRadius") == "999px"


def test_works_under_a_strict_content_security_policy(page, demo_widget):
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))

    def with_csp(route):
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

    page.route("**/widget/demo/**", with_csp)
    demo_widget()
    panel = open_widget(page)

    # styled (the stylesheet loaded into the shadow root) and working (API calls allowed by connect-src)
    assert widget(page, "[data-testid=launcher]").evaluate("b => getComputedStyle(b).borderRadius") == "999px"
    page.get_by_label("Describe the problem or question").fill("Tour map stays grey in Safari")
    panel.get_by_role("button", name="Send request").click()
    reference = widget(page, "[data-testid=done-reference]").inner_text()
    assert Ticket.objects.get().reference == reference
    assert violations == []
