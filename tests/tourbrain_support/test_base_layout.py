"""The base layout: navigation by role on the home page, login/logout, messages, constant query count."""

import re

import pytest
from django.urls import NoReverseMatch

from tests.navigation import EXPECTED_NAVIGATION
from tourbrain_support import context_processors
from tourbrain_support.roles import CUSTOMER

pytestmark = pytest.mark.django_db


def _nav_links(html: str) -> list[tuple[str, str]]:
    """(label, href) of the main navigation's links, in order."""
    nav = re.search(r'<nav aria-label="Main" class="main-nav">(.*?)</nav>', html, re.S)
    assert nav, "main navigation missing"
    return [(label.strip(), href) for href, label in re.findall(r'<a href="([^"]*)"[^>]*>([^<]+)</a>', nav.group(1))]


@pytest.mark.parametrize("role", list(EXPECTED_NAVIGATION))
def test_home_shows_exactly_the_roles_navigation(client_as, role, django_assert_max_num_queries):
    # given a signed-in user with the role
    client = client_as(None if role == CUSTOMER else role, name="Nav Tester")

    # when they open the home page (a customer's home is the portal)
    if role == CUSTOMER:
        assert client.get("/").url == "/portal/"
        with django_assert_max_num_queries(9):
            response = client.get("/portal/")
    else:
        with django_assert_max_num_queries(6):
            response = client.get("/")

    # then the navigation lists exactly their areas, with a logout form and their name
    assert response.status_code == 200
    html = response.content.decode()
    assert _nav_links(html) == EXPECTED_NAVIGATION[role]
    # and each link opens for them
    for _label, url in EXPECTED_NAVIGATION[role]:
        assert client.get(url).status_code == 200, url
    assert 'action="/accounts/logout/"' in html
    assert "Nav Tester" in html


def test_a_navigation_entry_that_does_not_resolve_fails_loudly(make_user, monkeypatch):
    # given a navigation entry with a misspelled URL name
    entries = [*context_processors.NAVIGATION, ("Typo", "tickets:queu", None)]
    monkeypatch.setattr(context_processors, "NAVIGATION", entries)

    # when the navigation is built, then the mistake is an error, not a silently missing link
    with pytest.raises(NoReverseMatch):
        context_processors.navigation_items(make_user())


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    login_page = client.get(response.url).content.decode()
    assert _nav_links(login_page) == [("Log in", "/accounts/login/")]


def test_layout_is_accessible_and_has_no_external_assets(client_as_rep):
    html = client_as_rep.get("/").content.decode()
    assert '<html lang="en">' in html
    assert 'name="viewport"' in html
    assert 'href="#main"' in html  # skip link
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


def test_messages_are_shown(client_as_rep):
    # given a message waiting in the messages cookie (as a previous redirect would leave it)
    from django.contrib.messages import constants
    from django.contrib.messages.storage.base import Message
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.test import RequestFactory

    storage = CookieStorage(RequestFactory().get("/"))
    client_as_rep.cookies["messages"] = storage._encode([Message(constants.SUCCESS, "Saved the view.")])

    # when the next page renders, then it shows the message in a live region
    html = client_as_rep.get("/").content.decode()
    assert 'role="status"' in html
    assert "Saved the view." in html
