"""The widget when things go wrong, in chromium against the real widget API: an expired token (the callback is
asked once more, then a clear message), a lost network answer (the typed text stays; the retry reuses the
Idempotency-Key, so exactly one ticket is filed) and hostile text in every field shown back (rendered inert)."""

import json
import time

import jwt
import pytest
from playwright.sync_api import expect

from tests.e2e.widget_helpers import WIDGET_SECRET, demo_widget_fixture, open_widget, widget  # noqa: F401
from tests.tickets.factories import TicketFactory
from tickets import services
from tickets.models import Ticket
from tourbrain_support.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=2</script>",
    '"><svg onload="window.__pwned=3"></svg>',
    '<iframe srcdoc="<script>parent.__pwned=4</script>"></iframe>',
]
STAFF_NAME = "<img/src=x/onerror=window.__pwned=5>"
FILE_NAME = "<img src=x onerror=window.__pwned=6>.txt"


def _token(email: str, *, expires_in: int) -> str:
    now = int(time.time())
    claims = {"sub": f"e2e-{email}", "email": email, "iat": now - 600, "nbf": now - 600, "exp": now + expires_in}
    return jwt.encode(claims, WIDGET_SECRET, algorithm="HS256")


def _serve_tokens(page, tokens: list[str]) -> list[int]:
    """Answer the demo page's token callback (standing in for TourBrain's backend) with `tokens` in turn,
    the last one repeated; returns the list of calls, which grows as the widget asks."""
    calls = []

    def handle(route):
        calls.append(1)
        token = tokens[min(len(calls), len(tokens)) - 1]
        route.fulfill(status=200, content_type="application/json", body=json.dumps({"token": token}))

    page.route("**/widget/demo/token/**", handle)
    return calls


def test_expired_token_asks_the_callback_once_more_then_says_so(page, demo_widget):
    expired = _token("customer@backline.test", expires_in=-300)
    calls = _serve_tokens(page, [expired])
    demo_widget()

    panel = open_widget(page)

    alert = widget(page, "[data-testid=alert]")
    alert.get_by_text("Your session has expired").wait_for()
    assert len(calls) == 2  # the first token, then one new token that is refused too: no loop
    page.wait_for_timeout(300)
    assert len(calls) == 2
    # Filing stays refused (one more ask per action), nothing is written
    page.get_by_label("Describe the problem or question").fill("The map does not load")
    panel.get_by_role("button", name="Send request").click()
    alert.get_by_text("Your session has expired").wait_for()
    assert page.get_by_label("Describe the problem or question").input_value() == "The map does not load"
    assert len(calls) == 3
    assert Ticket.objects.count() == 0


def test_expired_token_is_replaced_by_the_callback(page, demo_widget):
    calls = _serve_tokens(
        page,
        [_token("customer@backline.test", expires_in=-300), _token("customer@backline.test", expires_in=300)],
    )
    demo_widget()
    panel = open_widget(page)

    page.get_by_label("Describe the problem or question").fill("Calendar feed stopped updating")
    panel.get_by_role("button", name="Send request").click()

    reference = widget(page, "[data-testid=done-reference]").inner_text()
    assert Ticket.objects.get(reference=reference).user.email == "customer@backline.test"
    assert len(calls) == 2
    assert widget(page, "[data-testid=alert]").is_hidden()


def test_network_error_keeps_the_text_and_the_retry_files_one_ticket(page, demo_widget):
    demo_widget()
    keys = []
    attempts = {"count": 0}

    def flaky(route):
        if route.request.method != "POST":
            route.continue_()
            return
        attempts["count"] += 1
        keys.append(route.request.headers.get("idempotency-key"))
        if attempts["count"] == 1:
            route.abort("internetdisconnected")  # never reaches the server
        elif attempts["count"] == 2:
            route.fetch()  # the server files the ticket...
            route.abort("connectionreset")  # ...but the answer is lost on the way back
        else:
            route.continue_()

    page.route("**/api/v1/widget/tickets/", flaky)
    panel = open_widget(page)
    description = page.get_by_label("Describe the problem or question")
    description.fill("Duplicate shows after import")
    page.get_by_label("Steps to reproduce (optional)").fill("Import the routing sheet")

    panel.get_by_role("button", name="Send request").click()
    alert = widget(page, "[data-testid=alert]")
    alert.get_by_text("could not reach TourBrain Support").wait_for()
    assert description.input_value() == "Duplicate shows after import"
    assert widget(page, "[data-testid=retry-note]").is_visible()
    assert Ticket.objects.count() == 0

    alert.get_by_role("button", name="Try again").click()  # clears the alert at once, then resends
    alert.get_by_text("could not reach TourBrain Support").wait_for()
    assert Ticket.objects.count() == 1  # filed, though the browser never heard back
    assert description.input_value() == "Duplicate shows after import"

    alert.get_by_role("button", name="Try again").click()
    reference = widget(page, "[data-testid=done-reference]").inner_text()

    assert Ticket.objects.count() == 1
    assert Ticket.objects.get().reference == reference
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert keys[0]


def test_hostile_text_in_every_field_renders_inert(page, demo_widget, make_user):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    # Staff are shown by first name: a name with no spaces keeps the whole payload.
    lead = make_user(Role.SUPPORT_LEAD, name=STAFF_NAME, email="hostile-lead@tourbrain.test")
    customer = demo_widget()
    # The widget's first calls (with a token naming the customer as seeded) update the profile: let them finish
    # before the name changes, or one could write the seeded name back over it.
    page.wait_for_load_state("networkidle")
    customer.name = HOSTILE[1]
    customer.save(update_fields=["name"])
    page.reload()
    panel = open_widget(page)

    # The customer files, support replies, the customer replies, support solves, the customer rates
    page.get_by_label("Describe the problem or question").fill(HOSTILE[0] + "\n" + HOSTILE[1])
    page.get_by_label("Steps to reproduce (optional)").fill(HOSTILE[2])
    panel.get_by_role("button", name="Send request").click()
    ticket = Ticket.objects.get(reference=widget(page, "[data-testid=done-reference]").inner_text())
    services.ticket_reply(ticket=ticket, author=lead, body=HOSTILE[3])
    panel.get_by_role("button", name="See my requests").click()
    row = widget(page, f"[data-testid=ticket-row][data-reference={ticket.reference}]")
    expect(row).to_contain_text(HOSTILE[0])  # the subject, derived from the description
    row.get_by_role("button").click()
    page.get_by_label("Your reply").fill(HOSTILE[2])
    page.get_by_label("Add files (optional)").set_input_files(
        [{"name": FILE_NAME, "mimeType": "text/plain", "buffer": b"log"}]
    )
    panel.get_by_role("button", name="Send reply").click()
    expect(widget(page, "[data-testid=message]")).to_have_count(3)  # description, staff reply, own reply
    services.ticket_set_status(ticket=ticket, status=Ticket.Status.SOLVED, actor=lead)
    widget(page, "[data-testid=tab-list]").click()
    row.get_by_role("button").click()
    page.get_by_label("5 - Excellent").check()
    page.get_by_label("Comment (optional)").fill(HOSTILE[3])
    panel.get_by_role("button", name="Send rating").click()
    widget(page, "[data-testid=rating-status]").get_by_text("You rated this 5").wait_for()
    # Shown back from the server: the list and the conversation again
    widget(page, "[data-testid=tab-list]").click()
    row.get_by_role("button").click()
    expect(widget(page, "[data-testid=message]")).to_have_count(3)

    # Every hostile string is shown as text; nothing ran and no element was made from it.
    messages = [item.inner_text() for item in widget(page, "[data-testid=message]").all()]
    assert HOSTILE[0] in messages[0]
    assert HOSTILE[1] in messages[0]
    assert STAFF_NAME in messages[1]
    assert HOSTILE[3] in messages[1]
    assert HOSTILE[2] in messages[2]
    assert FILE_NAME in messages[2]  # the attachment's name
    assert HOSTILE[2] in widget(page, "[data-testid=steps]").inner_text()
    assert widget(page, "[data-testid=detail-subject]").inner_text().endswith(HOSTILE[0])
    assert page.get_by_label("Comment (optional)").input_value() == HOSTILE[3]
    assert page.locator("[data-testid=demo-customer-name]").inner_text() == HOSTILE[1]
    page.wait_for_timeout(200)  # give any injected handler the chance to run
    assert dialogs == []
    assert page.evaluate("() => window.__pwned") is None
    for tag in ("img", "svg", "iframe", "script"):
        assert widget(page, tag).count() == 0, tag
    assert page.evaluate("() => document.querySelectorAll('img, svg, iframe').length") == 0


def test_a_reply_whose_answer_is_lost_is_sent_again_and_added_once(page, demo_widget):
    customer = demo_widget()
    ticket = TicketFactory(requester=customer, subject="Routing sheet import")
    keys, lost = [], []

    def answer_lost_once(route):
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            lost.append(route.fetch().status)  # the server adds the reply...
            route.abort("connectionreset")  # ...but the answer is lost on the way back
        else:
            route.continue_()

    page.route("**/api/v1/widget/tickets/*/messages/", answer_lost_once)
    panel = open_widget(page)
    widget(page, "[data-testid=tab-list]").click()
    widget(page, f"[data-testid=ticket-row][data-reference={ticket.reference}]").get_by_role("button").click()
    page.get_by_label("Your reply").fill("Still duplicated after the fix.")

    panel.get_by_role("button", name="Send reply").click()
    alert = widget(page, "[data-testid=alert]")
    alert.get_by_text("could not reach TourBrain Support").wait_for()
    assert lost == [201]  # added, though the browser never heard back

    alert.get_by_role("button", name="Try again").click()
    widget(page, "[data-testid=conversation]").get_by_text("Still duplicated after the fix.").wait_for()
    assert ticket.messages.filter(author=customer).count() == 1
    assert len(keys) == 2
    assert keys[0]
    assert keys[0] == keys[1]
