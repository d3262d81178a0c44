"""The Content-Security-Policy breaks nothing: pages, the admin and the Swagger UI render in chromium with no
violation, and a violation a browser reports reaches /csp-report/ and is counted."""

import pytest
from prometheus_client import REGISTRY

from tests.tickets.factories import TicketFactory
from tourbrain_support.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _watch_violations(page) -> list[str]:
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return violations


def test_pages_admin_and_api_docs_render_without_a_csp_violation(page, login_as):
    violations = _watch_violations(page)
    login_as(Role.ADMIN)
    ticket = TicketFactory(subject="Tour PDF export is blank")

    for url in ["/", "/queue/", f"/queue/{ticket.reference}/", "/audit/", "/admin/", "/admin/tickets/ticket/"]:
        response = page.goto(url)
        assert response.status == 200, url
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]

    # the queue's script runs (it enables the bulk bar once a row is ticked)
    page.goto("/queue/")
    assert page.locator("h1").inner_text() == "Ticket queue"

    # the Swagger UI builds the operation list from the schema with its file-served init script
    page.goto("/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock-tag", timeout=15_000)
    assert page.locator(".swagger-ui .info .title").first.inner_text().startswith("TourBrain Support API")

    assert violations == []


def test_an_inline_script_is_blocked_and_reported(page, login_as):
    login_as(Role.SUPPORT_REP)
    before = REGISTRY.get_sample_value("tourbrain_csp_violations_total", {"directive": "script-src-elem"}) or 0.0
    violations = _watch_violations(page)
    page.goto("/queue/")

    # when something injects an inline script into the page
    page.evaluate(
        """() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';
                   document.body.appendChild(s); }"""
    )

    # then it does not run, and the browser reports it to the portal
    assert page.evaluate("() => window.injected") is None
    assert violations

    def reported() -> float:
        return REGISTRY.get_sample_value("tourbrain_csp_violations_total", {"directive": "script-src-elem"}) or 0.0

    for _ in range(50):  # the browser posts the report asynchronously
        if reported() > before:
            break
        page.wait_for_timeout(100)
    assert reported() == before + 1
