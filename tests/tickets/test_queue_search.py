"""Queue text search (`q`): references, subject, requester email and name; short and hostile terms; indexes."""

from urllib.parse import urlencode

import pytest
from django.db import connection, transaction

from tests.factories import UserFactory
from tests.tickets.factories import TicketFactory
from tickets import search, selectors
from tickets.models import SavedView, Ticket
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm indexes exist on PostgreSQL")


def _search(client, term: str, **filters):
    return client.get(f"/queue/?{urlencode({'q': term, **filters})}")


def _rows(response) -> list[str]:
    return [row.ticket.reference for row in response.context["rows"]]


def test_matches_subject_words_in_any_case(client_as_rep):
    export = TicketFactory(subject="Tour PDF export is blank")
    TicketFactory(subject="How do I add a venue?")

    assert _rows(_search(client_as_rep, "pdf EXPORT")) == [export.reference]
    assert _rows(_search(client_as_rep, "xport")) == [export.reference]


def test_matches_the_requesters_email_and_name(client_as_rep):
    jane = UserFactory(email="jane.doe@acme-tours.test", name="Jane Doe")
    mine = TicketFactory(requester=jane, subject="Invoice question")
    TicketFactory(subject="Invoice question")

    assert _rows(_search(client_as_rep, "acme-tours")) == [mine.reference]
    assert _rows(_search(client_as_rep, "JANE.DOE@")) == [mine.reference]
    assert _rows(_search(client_as_rep, "jane doe")) == [mine.reference]


def test_subject_and_requester_matches_are_combined(client_as_rep):
    by_subject = TicketFactory(subject="Routing for the Berlin show")
    by_requester = TicketFactory(requester=UserFactory(email="berlin-office@example.test"))
    TicketFactory(subject="Something else")

    assert set(_rows(_search(client_as_rep, "berlin"))) == {by_subject.reference, by_requester.reference}


def test_staff_who_filed_nothing_do_not_match(client_as_rep, make_user):
    make_user(Role.SUPPORT_REP, name="Quentin Rep")
    TicketFactory(subject="Something else")

    response = _search(client_as_rep, "quentin")

    assert response.status_code == 200
    assert _rows(response) == []


@pytest.mark.parametrize("form", ["{ref}", "{ref_lower}", "{id}", "TB-{id}", " {ref} "])
def test_a_reference_is_an_exact_hit(client_as_rep, form):
    ticket = TicketFactory()
    TicketFactory(subject=f"Mentions {ticket.pk} and {ticket.reference}")
    term = form.format(ref=ticket.reference, ref_lower=ticket.reference.lower(), id=ticket.pk)

    assert _rows(_search(client_as_rep, term)) == [ticket.reference]


def test_a_reference_search_respects_the_other_filters(client_as_rep):
    solved = TicketFactory(status=Ticket.Status.SOLVED)

    assert _rows(_search(client_as_rep, solved.reference)) == []
    assert _rows(_search(client_as_rep, solved.reference, status="any")) == [solved.reference]


def test_huge_numbers_are_not_errors(client_as_rep):
    for term in ("999999999999999999", "99999999999999999999999999"):
        response = _search(client_as_rep, term)
        assert response.status_code == 200
        assert _rows(response) == []


@pytest.mark.parametrize("term", ["ab", "a b c", "%%%", "___", "\\\\\\", "--- ..", "a%b", "TB-"])
def test_terms_without_three_letters_or_digits_in_a_row_are_form_errors(client_as_rep, term):
    TicketFactory(subject="ab a b c %%% ___ --- ..")

    response = _search(client_as_rep, term)

    assert response.status_code == 400
    body = response.content.decode()
    assert "at least 3 letters or digits in a row" in body
    assert response.context["rows"] == []


def test_the_search_box_explains_what_it_matches(client_as_rep):
    body = client_as_rep.get("/queue/").content.decode()

    assert 'placeholder="Reference, subject, requester email or name"' in body
    assert "A ticket number (TB-000123 or 123), or at least 3 letters or digits" in body


def test_short_numbers_are_references_not_errors(client_as_rep):
    ticket = TicketFactory()

    response = _search(client_as_rep, str(ticket.pk))

    assert response.status_code == 200
    assert _rows(response) == [ticket.reference]


@pytest.mark.parametrize(
    ("subject", "term", "found"),
    [
        ("Refund 100% of the fee", "100% of", True),
        ("Refund 1000 of the fee", "100% of", False),
        ("Field max_rows ignored", "max_rows", True),
        ("Field maxXrows ignored", "max_rows", False),
        ("Path C:\\tours\\export fails", "C:\\tours\\export", True),
        ("Path C:/tours/export fails", "C:\\tours\\export", False),
        ("Quote 'it''s' broken", "'it''s' broken", True),
    ],
)
def test_like_wildcards_and_backslashes_are_literal(client_as_rep, subject, term, found):
    ticket = TicketFactory(subject=subject)

    response = _search(client_as_rep, term)

    assert response.status_code == 200
    assert _rows(response) == ([ticket.reference] if found else [])


@pytest.mark.parametrize("term", ["x" * 10_000, "abc\x00def", "\x00\x00\x00"])
def test_oversized_and_null_terms_are_form_errors(client_as_rep, term):
    TicketFactory()

    response = _search(client_as_rep, term)

    assert response.status_code == 400
    assert response.context["rows"] == []
    assert response.context["filter_form"].errors["q"]


def test_api_search_and_its_errors(client_as_rep):
    jane = UserFactory(email="jane@acme-tours.test")
    mine = TicketFactory(requester=jane)
    TicketFactory()

    found = client_as_rep.get("/api/v1/tickets/?q=acme-tours")
    short = client_as_rep.get("/api/v1/tickets/?q=ab")
    null = client_as_rep.get("/api/v1/tickets/?q=abc%00def")

    assert [item["reference"] for item in found.json()["results"]] == [mine.reference]
    assert short.status_code == 400
    assert "at least 3 letters or digits" in str(short.json())
    assert null.status_code == 400


def test_selector_refuses_an_unsearchable_term(make_user):
    from tourbrain_support.api import ApplicationError

    with pytest.raises(ApplicationError) as error:
        selectors.ticket_queue(user=make_user(Role.SUPPORT_REP), filters={"q": "ab"})
    assert error.value.fields == {"q": [search.term_error("ab")]}


def test_a_view_with_an_unsearchable_term_is_not_saved(client_as_rep):
    response = client_as_rep.post("/queue/views/", {"name": "Short", "query": "q=ab"}, follow=True)

    assert not SavedView.objects.exists()
    assert "The view was not saved" in response.content.decode()


@pytest.mark.parametrize("rows", [5, 60])
def test_search_query_count_is_constant(client_as_rep, django_assert_max_num_queries, rows):
    requester = UserFactory(email="many@acme-tours.test")
    for index in range(rows):
        TicketFactory(requester=requester if index % 2 else None, subject=f"Acme export {index}")

    with django_assert_max_num_queries(9):
        response = _search(client_as_rep, "acme")

    assert response.status_code == 200
    assert len(response.context["rows"]) == min(rows, 50)


def test_many_matching_requesters_still_match(client_as_rep, monkeypatch):
    # Past MAX_REQUESTER_IDS the requesters stay in a subquery instead of a list of ids.
    monkeypatch.setattr(search, "MAX_REQUESTER_IDS", 2)
    tickets = [TicketFactory(requester=UserFactory(email=f"crew{n}@roadies.test")) for n in range(4)]
    TicketFactory()

    assert set(_rows(_search(client_as_rep, "roadies"))) == {ticket.reference for ticket in tickets}


# --- PostgreSQL: the trigram indexes serve the SQL the search generates ----------------------------


def _plan(queryset) -> str:
    # Tiny test tables are cheaper to scan in full: leave the planner only bitmap scans, which need an
    # index condition, to see whether the trigram indexes can serve the generated SQL.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_indexonlyscan = off")
        return queryset.explain()


@postgresql_only
def test_trigram_indexes_exist_on_the_icontains_expression():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchone() == (1,)
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%%upper_trgm'")
        definitions = dict(cursor.fetchall())
    assert set(definitions) == {"ticket_subject_upper_trgm", "user_email_upper_trgm", "user_name_upper_trgm"}
    assert "gin (upper((subject)::text) gin_trgm_ops)" in definitions["ticket_subject_upper_trgm"]


@postgresql_only
def test_the_generated_ticket_query_uses_the_subject_index(make_user):
    rep = make_user(Role.SUPPORT_REP)
    TicketFactory.create_batch(3)

    queryset = selectors.ticket_queue(user=rep, filters={"q": "export", "status": "any"})

    assert 'UPPER("tickets_ticket"."subject"::text) LIKE UPPER(' in str(queryset.query)
    assert "ticket_subject_upper_trgm" in _plan(queryset)


@postgresql_only
def test_the_generated_requester_query_uses_the_email_and_name_indexes():
    plan = _plan(search.requesters("acme"))

    assert "user_email_upper_trgm" in plan
    assert "user_name_upper_trgm" in plan
