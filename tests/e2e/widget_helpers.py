"""Shared pieces of the widget browser tests: the /widget/demo/ host page with seeded demo customers, and
locators inside the widget's shadow root (Playwright's CSS locators pierce open shadow roots)."""

import pytest

from tourbrain_support import demo as core_demo
from tourbrain_support.models import User

WIDGET_SECRET = "widget-e2e-test-secret-of-enough-length"


@pytest.fixture(name="demo_widget")
def demo_widget_fixture(page, settings):
    """demo_widget(email="customer@backline.test") -> User: opens /widget/demo/ as that seeded demo customer."""
    settings.DEBUG = True  # the demo exists only with DEBUG; read per request, so the live server sees it
    settings.WIDGET_JWT_SECRET = WIDGET_SECRET
    settings.WIDGET_JWT_ISSUER = ""
    core_demo.seed()
    page.set_default_timeout(20_000)  # each step is a real API call; leave room on a loaded CI machine

    def open_demo(email: str = "customer@backline.test") -> User:
        customer = User.objects.get(email=email)
        page.goto(f"/widget/demo/?customer={customer.pk}")
        widget(page, "[data-testid=launcher]").wait_for()
        return customer

    return open_demo


def widget(page, selector: str):
    """A locator inside the widget's shadow root."""
    return page.locator("tourbrain-support").locator(selector)


def open_widget(page):
    widget(page, "[data-testid=launcher]").click()
    panel = widget(page, "[data-testid=panel]")
    panel.wait_for()
    return panel
