"""Staff ticket page: matching help articles with a one-click link for public ones."""

import pytest

from knowledge_base.models import Article
from tests.knowledge_base.factories import ArticleFactory
from tests.tickets.factories import TicketFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def test_ticket_page_lists_matching_articles(client_as, kb_content, django_assert_max_num_queries):
    ArticleFactory(title="Zeppelin refund override", audience=Article.Audience.INTERNAL)
    ArticleFactory(title="Zeppelin tour basics")
    ArticleFactory.create_batch(20, title="Calendar export variant")
    ticket = TicketFactory(subject="Zeppelin tour refund")
    client = client_as(Role.SUPPORT_REP)
    with django_assert_max_num_queries(17):
        response = client.get(f"/queue/{ticket.reference}/")
    page = response.content.decode()
    panel = page[page.index('data-testid="kb-panel"') :]
    panel = panel[: panel.index("</section>")]
    assert panel.count("<li>") == 5
    assert 'Zeppelin refund override</a> <span class="badge">Internal</span>' in panel
    assert 'data-title="Zeppelin tour basics"' in panel
    assert panel.count("kb-insert-link") == 4  # internal articles are not linked into customer replies
    assert 'data-url="http://testserver/docs/' in panel
    assert 'data-target="id_body"' in panel


def test_ticket_with_no_match_shows_a_browse_link(client_as, kb_content):
    ticket = TicketFactory(subject="Zzqx")
    response = client_as(Role.SUPPORT_REP).get(f"/queue/{ticket.reference}/")
    assert "No matching articles" in response.content.decode()
