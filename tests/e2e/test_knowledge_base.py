"""Help center in a real browser: suggestions while typing, search, chapter seek through the player API, a video
page without the player's network, a vote, a rep inserting an article link into a reply, and hostile Markdown
that must stay inert."""

import re

import pytest
from playwright.sync_api import expect

from knowledge_base.help_content import load_help_content
from knowledge_base.models import Article, Category, Feedback, SuggestionOpen
from tests.tickets.factories import TicketFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.e2e

# Stands in for the YouTube player inside the iframe: records the postMessage commands it receives.
FAKE_PLAYER = """<!doctype html><html><body><script>
window.commands = [];
window.addEventListener("message", function (event) {
  try { window.commands.push(JSON.parse(event.data)); } catch (error) {}
});
</script></body></html>"""


@pytest.fixture
def content(transactional_db):
    load_help_content(Article, Category)


def test_suggestion_while_typing_opens_the_article(page, content):
    page.goto("/docs/")
    page.fill("#kb-q", "calendar fe")
    page.type("#kb-q", "ed")
    suggestion = page.locator("#kb-suggestions a").first
    suggestion.wait_for()
    assert "/docs/exports/?src=suggestion" in suggestion.get_attribute("href")
    suggestion.click()
    page.wait_for_url("**/docs/exports/?src=suggestion")
    assert page.locator("h1").inner_text().startswith("Exports")


def test_search_shows_highlighted_results(page, content):
    page.goto("/docs/")
    page.fill("#kb-q", "routing scenarios")
    page.press("#kb-q", "Enter")
    page.wait_for_url("**/docs/search/?q=routing+scenarios")
    first = page.locator("[data-testid=results] li").first
    assert "AI routing" in first.locator("h2").inner_text()
    assert first.locator("mark").count() >= 1


def test_chapter_seeks_the_player_and_highlights_the_transcript(page, content):
    page.route(
        "https://www.youtube-nocookie.com/**",
        lambda route: route.fulfill(body=FAKE_PLAYER, content_type="text/html"),
    )
    page.goto("/docs/videos/quick-start/")
    page.frame_locator("iframe.kb-frame").locator("body").wait_for(state="attached")
    player = next(frame for frame in page.frames if "youtube-nocookie" in frame.url)
    player.wait_for_function("Array.isArray(window.commands)")  # the player listens before we seek
    # Keyboard, not a pointer: the lazy iframe can still move the layout under a computed click point.
    page.locator(".kb-chapter").nth(2).focus()
    page.keyboard.press("Enter")
    player.wait_for_function("window.commands.some(c => c.func === 'seekTo')")
    commands = player.evaluate("window.commands")
    assert {"event": "command", "func": "seekTo", "args": [110, True]} in commands
    assert page.locator(".kb-chapter").nth(2).get_attribute("aria-current") == "true"
    assert "current" in page.locator(".kb-transcript-part").nth(2).get_attribute("class")
    # the player reports its time: the highlight follows playback
    player.evaluate("parent.postMessage(JSON.stringify({event: 'infoDelivery', info: {currentTime: 200}}), '*')")
    page.wait_for_function("document.querySelectorAll('.kb-transcript-part')[3].classList.contains('current')")


def test_video_page_reads_without_the_player_network(page, content, live_server):
    # given no network but this portal's: the player's domain (and any other) cannot be reached
    blocked = []

    def block(route):
        blocked.append(route.request.url)
        route.abort("internetdisconnected")

    page.route(lambda url: not url.startswith(live_server.url), block)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/docs/videos/ai-routing/")
    # the chapters and the transcript still read,
    expect(page.locator(".kb-chapter")).to_have_count(5)
    expect(page.locator("[data-testid=transcript] .kb-transcript-part")).to_have_count(5)
    expect(page.locator(".kb-transcript-part").nth(1)).to_contain_text("Fixed and flexible dates")
    # and a chapter still moves the highlight in the list and the transcript, without a script error
    # (keyboard first: scrolling the lazy iframe into view can move the layout under a computed click point)
    page.locator(".kb-chapter").nth(3).focus()
    page.keyboard.press("Enter")
    expect(page.locator(".kb-chapter").nth(3)).to_have_attribute("aria-current", "true")
    expect(page.locator(".kb-transcript-part").nth(3)).to_have_class(re.compile(r"\bcurrent\b"))
    page.locator(".kb-chapter").nth(1).click()  # in view now: a pointer click
    expect(page.locator(".kb-chapter").nth(1)).to_have_attribute("aria-current", "true")
    expect(page.locator(".kb-transcript-part").nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator(".kb-chapter[aria-current=true]")).to_have_count(1)
    expect(page.locator(".kb-transcript-part.current")).to_have_count(1)
    assert any("youtube-nocookie.com" in url for url in blocked)
    assert errors == []


def test_staff_insert_an_article_link_into_the_reply_with_one_click(page, content, login_as, live_server):
    # given a ticket about exports and a rep on its page who has started a reply
    ticket = TicketFactory(subject="Calendar feed export")
    login_as(Role.SUPPORT_REP)
    page.goto(f"/queue/{ticket.reference}/")
    page.fill("#id_body", "Hello, see")
    # when the rep clicks "Insert link" on the exports article
    panel = page.locator("[data-testid=kb-panel]")
    panel.locator("li", has_text="Exports").locator(".kb-insert-link").click()
    # then the reply holds the article's title and its full URL after what was typed
    title = Article.objects.get(slug="exports").title
    expect(page.locator("#id_body")).to_have_value(f"Hello, see\n{title}: {live_server.url}/docs/exports/")


def test_portal_suggestion_opens_in_a_new_tab_and_a_ticket_filed_after_it_is_no_deflection(page, content, login_as):
    # given a customer filling the portal's new-ticket form
    customer = login_as(None)
    page.goto("/portal/new/")
    page.fill("#id_subject", "Calendar feed")
    page.type("#id_description", "my ical export is empty")
    # when a suggestion appears while typing and the customer opens it
    suggestion = page.locator("[data-testid=suggestions] a", has_text="Exports")
    with page.context.expect_page() as opened:
        suggestion.click()
    article_tab = opened.value
    article_tab.wait_for_load_state()
    # then the article opens in a new tab, counted once for this customer and this form's draft
    assert "/docs/exports/?src=suggestion&from=portal" in article_tab.url
    expect(article_tab.locator("h1")).to_contain_text("Exports")
    opens = list(SuggestionOpen.objects.filter(user=customer))
    assert [(o.article.slug, o.source, o.outcome) for o in opens] == [("exports", "portal", "pending")]
    assert opens[0].draft_key
    # and the form still holds what was typed: filing the ticket decides that open as not deflected
    expect(page.locator("#id_description")).to_have_value("my ical export is empty")
    page.click("[data-testid=new-ticket-form] button[type=submit]")
    page.wait_for_url("**/portal/tickets/**")
    opens[0].refresh_from_db()
    assert opens[0].outcome == SuggestionOpen.Outcome.TICKET_FILED


def test_anonymous_vote_with_comment(page, content):
    page.goto("/docs/troubleshooting/")
    page.locator(".kb-feedback-no summary").click()
    page.fill("#kb-comment", "Nothing about two-factor codes")
    page.get_by_role("button", name="Send “not helpful”").click()
    page.wait_for_url("**/docs/troubleshooting/#feedback")
    assert "Thanks for your feedback." in page.content()
    assert page.locator("[data-testid=vote-status]").inner_text().startswith("You said: No")
    vote = Feedback.objects.get()
    assert (vote.helpful, vote.comment, vote.user) == (False, "Nothing about two-factor codes", None)


HOSTILE_BODY = "\n\n".join(
    [
        "<script>window.__pwned = 'script'</script>",
        "<img src=x onerror=\"window.__pwned='img'\">",
        "[click me](javascript:window.__pwned='link')",
        "[data](data:text/html,<script>parent.__pwned='data'</script>)",
        "<div style=\"background:url(javascript:window.__pwned='css')\">styled</div>",
        "<svg onload=\"window.__pwned='svg'\"></svg>",
        "<iframe src=\"javascript:parent.__pwned='iframe'\"></iframe>",
        "![img](x\" onerror=\"window.__pwned='attr')",
    ]
)


def test_hostile_markdown_is_inert_in_the_browser(page, transactional_db):
    Article.objects.create(slug="hostile", title="Hostile", body=HOSTILE_BODY, status="published")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/docs/hostile/")
    for link in page.locator("[data-testid=article-body] a").all():
        link.click(no_wait_after=True)
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned === undefined")
    assert dialogs == []
    assert page.locator("[data-testid=article-body] script, [data-testid=article-body] iframe").count() == 0
    assert page.evaluate("document.querySelectorAll('[onerror],[onload],[style]').length") == 0
