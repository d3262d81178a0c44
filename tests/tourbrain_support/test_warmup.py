"""A web worker's warm-up (tourbrain_support.warmup, run by gunicorn's post_worker_init) does the first
request's lazy work up front, reads only, and never stops a worker from serving when a step fails."""

import logging

import pytest
from django.template import engines
from django.template.loaders.cached import Loader as CachedLoader

from tests.sentry_utils import database_unreachable
from tests.tickets.factories import TicketFactory
from tickets import warmup as tickets_warmup
from tickets.models import Ticket
from tourbrain_support import gunicorn_conf
from tourbrain_support.models import User
from tourbrain_support.warmup import warm, warm_templates

pytestmark = pytest.mark.django_db


def test_warm_runs_every_step_and_writes_nothing(django_assert_max_num_queries):
    # given a few active tickets and one solved
    TicketFactory.create_batch(3)
    TicketFactory(status=Ticket.Status.SOLVED)
    users, tickets = User.objects.count(), Ticket.objects.count()

    # when a worker warms up
    with django_assert_max_num_queries(8):
        timings = warm()

    # then every step ran and nothing was written
    assert set(timings) == {"urls", "templates", "database", "tickets"}
    assert (User.objects.count(), Ticket.objects.count()) == (users, tickets)


def test_the_queue_step_builds_the_default_first_page_of_a_support_rep():
    TicketFactory.create_batch(3)
    TicketFactory(status=Ticket.Status.SOLVED)
    assert tickets_warmup.warm() == 3  # the active tickets, as /queue/ lists them by default


def test_the_project_templates_are_compiled_into_the_cached_loader():
    names = warm_templates()
    assert "tickets/queue.html" in names
    assert "base.html" in names
    [loader] = engines["django"].engine.template_loaders
    assert isinstance(loader, CachedLoader)
    assert {"tickets/queue.html", "base.html"} <= set(loader.get_template_cache)


def test_a_step_that_fails_is_logged_and_skipped(caplog):
    # given a database that does not answer
    with database_unreachable(), caplog.at_level(logging.WARNING, logger="tourbrain_support.warmup"):
        timings = warm()

    # then the steps that need it are reported, the others done, and nothing is raised
    assert set(timings) == {"urls", "templates"}
    failed = {record.args[0] for record in caplog.records if "warm-up step" in record.getMessage()}
    assert failed == {"database", "tickets"}


def test_gunicorn_warms_unless_switched_off(monkeypatch):
    monkeypatch.delenv("WEB_WARMUP", raising=False)
    assert gunicorn_conf.warmup_enabled()
    for off in ("0", "false", "off"):
        monkeypatch.setenv("WEB_WARMUP", off)
        assert not gunicorn_conf.warmup_enabled()
