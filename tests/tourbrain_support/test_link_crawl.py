"""Every link a demo role is shown leads somewhere it may go.

For each demo login (`seed_demo`), start at the home page and follow the same-site links found in the
HTML (breadth first, GET only: forms are not submitted), and check that each answers 200, or redirects
somewhere other than a login page or the admin index (the answers for "not yours" and "does not exist").
The crawl is bounded: one page per URL shape (the path with numbers replaced, and the names of the query
parameters; in the admin the path alone, so its filter and sort links are not walked), so every kind of
page is reached without walking every row. The demo data is seeded once and every login crawls it.
"""

import io
import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from django.core.management import call_command

from tourbrain_support.demo import DEMO_PASSWORD, DEMO_USERS

pytestmark = pytest.mark.django_db

PER_SHAPE = 1
MAX_PAGES = 300
# Redirect targets that mean "you may not see this" or "this does not exist".
REFUSING_REDIRECTS = ("/accounts/login/", "/admin/login/")
ADMIN_INDEX = "/admin/"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _links(page_url: str, html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    found = []
    for href in parser.hrefs:
        absolute = urljoin(f"http://testserver{page_url}", href)
        parts = urlsplit(absolute)
        if parts.scheme not in ("http", "https") or parts.netloc != "testserver":
            continue  # another site (e.g. the privacy policy's own URL): not ours to check
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def _shape(url: str) -> tuple[str, tuple[str, ...]]:
    parts = urlsplit(url)
    path = re.sub(r"\d+", "N", parts.path)
    if path.startswith("/admin/"):
        return path, ()
    return path, tuple(sorted({key for key, _ in parse_qsl(parts.query, True)}))


def crawl(client, start: str = "/") -> tuple[dict[str, int], list[str]]:
    """Visit the links reachable from `start`; returns {url: status} and the problems found."""
    seen_shapes: dict[tuple, int] = {}
    visited: dict[str, int] = {}
    problems: list[str] = []
    queue = deque([(start, "(start)")])
    while queue and len(visited) < MAX_PAGES:
        url, found_on = queue.popleft()
        if url in visited:
            continue
        shape = _shape(url)
        if seen_shapes.get(shape, 0) >= PER_SHAPE:
            continue
        seen_shapes[shape] = seen_shapes.get(shape, 0) + 1
        response = client.get(url)
        visited[url] = response.status_code
        if response.status_code in (301, 302, 303, 307, 308):
            target = urlsplit(response["Location"])
            if target.path.startswith(REFUSING_REDIRECTS) or target.path == ADMIN_INDEX != urlsplit(url).path:
                problems.append(f"{url} (linked from {found_on}) redirects to {response['Location']}")
            else:
                queue.append((target.path + (f"?{target.query}" if target.query else ""), url))
            continue
        if response.status_code != 200:
            problems.append(f"{url} (linked from {found_on}) answers {response.status_code}")
            continue
        if response.get("Content-Type", "").startswith("text/html") and not response.streaming:
            for link in _links(url, response.content.decode()):
                if link not in visited:
                    queue.append((link, url))
    return visited, problems


DEMO_LOGINS = [row[0] for row in DEMO_USERS if row[0] != "rep2@tourbrain.test"]  # one login per role


def test_every_link_shown_to_each_demo_role_answers(client):
    # given the demo data (seeded once: every login crawls the same)
    call_command("seed_demo", stdout=io.StringIO())
    problems, sizes = [], {}
    for email in DEMO_LOGINS:
        # when each demo login, signed in through the login backend, follows every link from the home page on
        client.logout()
        assert client.login(email=email, password=DEMO_PASSWORD), email
        visited, found = crawl(client)
        sizes[email] = len(visited)
        problems += [f"{email}: {problem}" for problem in found]
        # (the home page, or for a customer the portal it sends them to, answers)
        assert visited["/"] == 200 or (visited["/"] == 302 and visited.get("/portal/") == 200), (email, visited)

    # then none of the links they were shown is refused, missing or broken
    assert not problems, "links that do not work for the role that is shown them:\n" + "\n".join(problems)
    # and the crawl reached past the navigation (staff reach the admin and their areas)
    assert all(size >= 3 for size in sizes.values()), sizes
    assert sizes["admin@tourbrain.test"] > 40, sizes
    assert max(sizes.values()) < MAX_PAGES, sizes
