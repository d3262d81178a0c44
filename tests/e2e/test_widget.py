"""A customer uses the drop-in widget on /widget/demo/ in chromium, against the real widget API.

File a ticket (suggestions while typing), find it by reference in "My requests", get a staff reply through
the real service (unread mark), reply back, rate it once solved.
"""

import pytest
from django.core.cache import cache
from django.db import connection  # noqa: F401 (read by the skipif condition)
from playwright.sync_api import expect

from knowledge_base.selectors import kb_suggestions
from tests.e2e.widget_helpers import demo_widget_fixture, open_widget, widget  # noqa: F401 (a fixture)
from tickets import intake, services
from tickets.customer_selectors import sla_promises
from tickets.intake import FILING_SCHEDULED_KEY
from tickets.models import Attachment, Ticket, TicketIntake, TicketSatisfaction
from tourbrain_support.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def assert_suggestions(page, titles: list[str]) -> None:
    """Wait until the suggestions for what was typed arrived, then check them (no titles: the area stays hidden)."""
    area = widget(page, "[data-testid=suggestions]")
    page.wait_for_function(
        "() => ['empty', 'results'].includes(document.querySelector('tourbrain-support').shadowRoot"
        ".querySelector('[data-testid=suggestions]').dataset.state)"
    )
    shown = [item.inner_text().split("\n")[0] for item in widget(page, "[data-testid=suggestion]").all()]
    assert shown == titles
    assert area.is_visible() == bool(titles)
    assert area.get_attribute("data-state") == ("results" if titles else "empty")


def type_quickly(page, field_id: str, text: str) -> None:
    """Type `text` in the page itself, one character every 40 ms (a fast typist). The keystrokes run on the page's
    own timers, so a loaded machine delays them together with the widget's debounce timer and keeps their order."""
    page.evaluate(
        """async ([id, text]) => {
            const field = document.querySelector('tourbrain-support').shadowRoot.getElementById(id);
            field.focus();
            for (let end = 1; end <= text.length; end++) {
                field.value = text.slice(0, end);
                field.dispatchEvent(new Event('input', { bubbles: true }));
                await new Promise((resolve) => setTimeout(resolve, 40));
            }
        }""",
        [field_id, text],
    )


def test_customer_files_follows_replies_and_rates_a_ticket(page, demo_widget):
    token_requests = []
    page.on("request", lambda r: "/widget/demo/token/" in r.url and token_requests.append(r.url))
    customer = demo_widget("customer@backline.test")
    lead = User.objects.get(email="lead@tourbrain.test")
    panel = open_widget(page)
    suggestion_queries = []
    page.on("request", lambda r: "/suggestions/" in r.url and suggestion_queries.append(r.url))

    # The customer describes the problem; the form shows the first-response promise of their tier for the
    # chosen priority, and suggestions are looked up while they type (debounced)
    promises = {row["priority"]: row["first_response"] for row in sla_promises(tier="general")}
    expect(widget(page, "[data-testid=promise]")).to_have_text(f"We aim to reply {promises['medium']}.")
    page.get_by_label("What is it about?").select_option("bug")
    page.get_by_label("How urgent is it?").select_option("high")
    expect(widget(page, "[data-testid=promise]")).to_have_text(f"We aim to reply {promises['high']}.")
    type_quickly(page, "tbw-description", "PDF export is blank")
    expected = [item["title"] for item in kb_suggestions(query="PDF export is blank", user=customer, limit=5)]
    assert "Exports: PDF, CSV and iCal" in expected or expected, expected
    assert_suggestions(page, expected)
    assert len(suggestion_queries) == 1, suggestion_queries  # one lookup for the whole burst of keystrokes
    assert suggestion_queries[0].endswith("q=PDF%20export%20is%20blank")
    # a suggestion link names the widget, its signed user and this draft (deflection: once per person and draft)
    link = widget(page, "[data-testid=suggestion] a").first.get_attribute("href")
    assert all(part in link for part in ("src=suggestion", "from=widget", "&who=", "&draft=")), link
    page.get_by_label("Steps to reproduce (optional)").fill("1. Open the spring tour\n2. Export the tour book")
    widget(page, "[data-testid=submit]").click()

    # and gets the reference and the first-response promise
    reference = widget(page, "[data-testid=done-reference]").inner_text()
    ticket = Ticket.objects.get(reference=reference)
    assert ticket.user == customer
    assert ticket.channel == Ticket.Channel.WIDGET
    assert (ticket.type, ticket.priority) == ("bug", "high")
    assert ticket.subject == "PDF export is blank"
    assert ticket.reproduction_steps == "1. Open the spring tour\n2. Export the tour book"
    assert "Chrome" in ticket.browser_info
    assert ticket.url.endswith(f"/widget/demo/?customer={customer.pk}")
    assert "business" in widget(page, "[data-testid=done-promise]").inner_text()

    # The ticket is in "My requests", nothing unread
    panel.get_by_role("button", name="See my requests").click()
    row = widget(page, f"[data-testid=ticket-row][data-reference={reference}]")
    assert "PDF export is blank" in row.inner_text()
    assert row.locator("[data-testid=unread]").count() == 0

    # Support answers through the real service; the list marks the reply unread, the launcher counts it
    services.ticket_reply(ticket=ticket, author=lead, body="Thanks! Which browser do you export from?")
    widget(page, "[data-testid=tab-list]").click()
    expect(row.locator("[data-testid=unread]")).to_have_text("New reply")
    expect(widget(page, "[data-testid=list-unread]")).to_have_text("1")

    # Opening the conversation shows the reply and marks it read
    row.get_by_role("button").click()
    conversation = widget(page, "[data-testid=conversation]")
    conversation.get_by_text("Which browser do you export from?").wait_for()
    assert "Lee" in conversation.inner_text()
    expect(widget(page, "[data-testid=list-unread]")).to_be_hidden()
    ticket.refresh_from_db()
    assert ticket.requester_last_seen_at is not None

    # The customer replies back
    page.get_by_label("Your reply").fill("Chrome 131 on macOS.")
    panel.get_by_role("button", name="Send reply").click()
    conversation.get_by_text("Chrome 131 on macOS.").wait_for()
    assert ticket.messages.filter(author=customer, body="Chrome 131 on macOS.").count() == 1

    # Support solves it; the customer rates it
    services.ticket_set_status(ticket=ticket, status=Ticket.Status.SOLVED, actor=lead)
    widget(page, "[data-testid=tab-list]").click()
    row.get_by_role("button").click()
    expect(widget(page, "[data-testid=detail-status]")).to_have_text("Solved")
    page.get_by_label("4 - Good").check()
    page.get_by_label("Comment (optional)").fill("Quick and friendly.")
    panel.get_by_role("button", name="Send rating").click()
    widget(page, "[data-testid=rating-status]").get_by_text("You rated this 4 out of 5").wait_for()
    rating = TicketSatisfaction.objects.get(ticket=ticket)
    assert (rating.score, rating.comment, rating.rated_by) == (4, "Quick and friendly.", customer)
    # One token served every call, including the ones made at the same moment when the panel opened
    assert len(token_requests) == 1


def test_a_customer_sees_only_their_own_requests(page, demo_widget):
    def file(email: str, subject: str) -> Ticket:
        user = User.objects.get(email=email)
        return services.ticket_create(
            requester=user,
            organization=user.organizations.first(),
            type="question",
            priority="low",
            subject=subject,
            description=subject,
            channel=Ticket.Channel.WIDGET,
        )

    own = file("beta@roadcase.test", "How do I merge two tours?")
    file("customer@backline.test", "Invoice shows the wrong VAT number")
    demo_widget("beta@roadcase.test")
    open_widget(page)

    widget(page, "[data-testid=tab-list]").click()

    rows = widget(page, "[data-testid=ticket-row]")
    rows.first.wait_for()
    assert [row.get_attribute("data-reference") for row in rows.all()] == [own.reference]
    assert "VAT" not in widget(page, "[data-testid=view-list]").inner_text()


def test_older_requests_load_on_demand(page, demo_widget):
    customer = User.objects.get(email="enterprise@arena.test")
    for number in range(21):  # one more than the API's page
        services.ticket_create(
            requester=customer,
            organization=customer.organizations.first(),
            type="question",
            priority="low",
            subject=f"Question {number}",
            description="Where is the setting?",
            channel=Ticket.Channel.WIDGET,
        )
    demo_widget(customer.email)
    open_widget(page)
    widget(page, "[data-testid=tab-list]").click()
    rows = widget(page, "[data-testid=ticket-row]")
    expect(rows).to_have_count(20)

    widget(page, "[data-testid=more]").click()

    expect(rows).to_have_count(21)
    assert rows.last.inner_text().endswith("Question 0")
    assert widget(page, "[data-testid=more]").count() == 0


def test_files_go_with_the_request_and_the_reply_and_download_again(page, demo_widget):
    demo_widget()
    panel = open_widget(page)
    page.get_by_label("Describe the problem or question").fill("CSV export drops accented names")
    page.get_by_label("Attach files (optional)").set_input_files(
        [{"name": "venues.csv", "mimeType": "text/csv", "buffer": "name\nCafé Oto\n".encode()}]
    )
    widget(page, "[data-testid=submit]").click()
    reference = widget(page, "[data-testid=done-reference]").inner_text()
    ticket = Ticket.objects.get(reference=reference)
    assert [a.filename for a in Attachment.objects.filter(message__ticket=ticket)] == ["venues.csv"]

    panel.get_by_role("button", name="See my requests").click()
    widget(page, f"[data-testid=ticket-row][data-reference={reference}] button").click()
    page.get_by_label("Your reply").fill("And the log")
    panel.get_by_label("Add files (optional)").set_input_files(
        [{"name": "export.txt", "mimeType": "text/plain", "buffer": b"export failed at row 2"}]
    )
    panel.get_by_role("button", name="Send reply").click()
    expect(widget(page, "[data-testid=attachments]")).to_have_count(2)

    with page.expect_download() as download:
        panel.get_by_role("button", name="Download venues.csv").click()
    assert download.value.suggested_filename == "venues.csv"
    assert download.value.path().read_text(encoding="utf-8") == "name\nCafé Oto\n"
    assert sorted(a.filename for a in Attachment.objects.filter(message__ticket=ticket)) == ["export.txt", "venues.csv"]


def test_a_refused_file_is_reported_and_nothing_is_filed(page, demo_widget):
    demo_widget()
    panel = open_widget(page)
    page.get_by_label("Describe the problem or question").fill("See the attached program")
    page.get_by_label("Attach files (optional)").set_input_files(
        [{"name": "tool.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"}]
    )

    panel.get_by_role("button", name="Send request").click()

    error = widget(page, "#tbw-attachments-error")
    expect(error).to_contain_text("file type not allowed")
    assert widget(page, "#tbw-attachments").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Describe the problem or question").input_value() == "See the attached program"
    assert Ticket.objects.count() == 0


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="background filing takes the id from PostgreSQL")
def test_a_ticket_accepted_for_background_filing_is_there_in_my_requests(page, demo_widget, settings, monkeypatch):
    settings.WIDGET_BACKGROUND_FILING = True
    monkeypatch.setattr(intake, "_recent_policy", None)  # this test's SLA version, not an earlier test's
    cache.add(FILING_SCHEDULED_KEY, 1, timeout=60)  # as if a filing task were on its way: this test's reads file it
    customer = demo_widget("customer@backline.test")
    panel = open_widget(page)
    page.get_by_label("What is it about?").select_option("question")
    page.get_by_label("Describe the problem or question").fill("Can I share a tour with my tour manager?")
    widget(page, "[data-testid=submit]").click()

    reference = widget(page, "[data-testid=done-reference]").inner_text()
    accepted = TicketIntake.objects.get(reference=reference)
    assert accepted.requester == customer
    assert not Ticket.objects.filter(reference=reference).exists()  # answered before it was filed

    panel.get_by_role("button", name="See my requests").click()
    row = widget(page, f"[data-testid=ticket-row][data-reference={reference}]")
    assert "Can I share a tour" in row.inner_text()
    ticket = Ticket.objects.get(reference=reference)
    assert ticket.created_at == accepted.accepted_at
    assert ticket.channel == Ticket.Channel.WIDGET
