"""Knowledge base tests: the help content (a data migration) is loaded again after a transactional test's flush."""

import pytest

from knowledge_base.help_content import load_help_content
from knowledge_base.models import Article, Category


@pytest.fixture
def kb_content(db):
    """The seven docs pages and six videos, as the data migration creates them."""
    load_help_content(Article, Category)
    return Article.objects.all()


@pytest.fixture
def customer(make_user):
    return make_user(None)
