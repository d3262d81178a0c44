"""Query-count bounds as the data grows: bulk actions, saved views, roadmap merge, attachment downloads.

Bulk actions are set-based: one locking SELECT, one UPDATE, one history INSERT and one notification
INSERT whatever the number of tickets (SQLite's 999-parameter limit splits the history INSERT into a
batch per ~20 rows; PostgreSQL takes up to a few thousand in one). Only the audit trail is written per
ticket, one event each (as for a single change: every event is its own sealed row), which is
AUDIT_QUERIES_PER_EVENT statements: one on PostgreSQL, three on SQLite (the event's savepoint).
"""

import math
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from audit.models import AuditEvent
from tests.tickets.factories import TicketFactory
from tickets import services
from tickets.models import SavedView, Ticket
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

SIZES = (3, 30)
AUDIT_QUERIES_PER_EVENT = 1 if connection.vendor == "postgresql" else 3


def _history_inserts(size: int) -> int:
    """INSERT statements Django needs for `size` history rows on this database (batched by parameter count)."""
    fields = [field for field in Ticket.history.model._meta.concrete_fields if not field.primary_key]
    batch = connection.ops.bulk_batch_size(fields, [None] * size) or size
    return math.ceil(size / batch)


@pytest.fixture
def lead(client_as):
    return client_as(Role.SUPPORT_LEAD)


def _bulk_data(tickets, **data) -> dict:
    return {"ticket": [t.pk for t in tickets], **{f"version_{t.pk}": t.version for t in tickets}, **data}


@pytest.mark.parametrize("action", ["assign", "status"])
def test_bulk_actions_are_set_based(lead, make_user, django_assert_max_num_queries, action):
    rep = make_user(Role.SUPPORT_REP)
    extra = (
        {"action": "assign", "assignee": rep.pk} if action == "assign" else {"action": "status", "status": "pending"}
    )
    fixed = []
    for size in SIZES:
        tickets = TicketFactory.create_batch(size)
        before = {t.pk: t.version for t in tickets}

        # when the lead applies the action to all of them: a fixed number of queries besides one audit event each
        per_size = AUDIT_QUERIES_PER_EVENT * size + _history_inserts(size)
        with django_assert_max_num_queries(17 + per_size) as captured:
            response = lead.post("/queue/bulk/", _bulk_data(tickets, **extra))
        assert response.status_code == 302
        fixed.append(len(captured) - per_size)

        # then every ticket changed once: version, history row, audit event (and the assignee's email)
        changed = Ticket.objects.filter(pk__in=before)
        assert all(t.version == before[t.pk] + 1 for t in changed)
        if action == "assign":
            assert {t.assignee_id for t in changed} == {rep.pk}
            assert OutboxMessage.objects.filter(kind="ticket.assigned", recipient=rep.email).count() >= size
        else:
            assert {t.status for t in changed} == {"pending"}
            assert all(t.paused_at is not None for t in changed)
        assert all(t.history.filter(history_type="~").count() == 1 for t in changed)
        audited = AuditEvent.objects.filter(
            resource_type="ticket", changes__bulk=True, resource_id__in=map(str, before)
        )
        assert audited.count() == size
    assert fixed[-1] <= fixed[0], f"queries besides the audit events grew with the tickets: {fixed}"


def test_saved_views_bound(lead, django_assert_max_num_queries):
    counts = []
    for size in SIZES:
        for index in range(size):
            SavedView.objects.create(owner=lead.user, name=f"view {size}-{index}", filters={"status": "open"})
        with django_assert_max_num_queries(10) as created:
            response = lead.post("/queue/views/", {"name": f"mine {size}", "query": "status=pending"})
        assert response.status_code == 302
        view = SavedView.objects.get(owner=lead.user, name=f"mine {size}")
        assert view.filters == {"status": "pending"}
        with django_assert_max_num_queries(10) as deleted:
            assert lead.post(f"/queue/views/{view.pk}/delete/").status_code == 302
        assert not SavedView.objects.filter(pk=view.pk).exists()
        # and the queue lists every saved view with the same count
        with django_assert_max_num_queries(10) as listed:
            page = lead.get("/queue/").content.decode()
        assert page.count("view ") >= SavedView.objects.filter(owner=lead.user).count()
        counts.append((len(created), len(deleted), len(listed)))
    assert counts[-1] <= counts[0], counts


def test_roadmap_merge_bound(client_as, django_assert_max_num_queries):
    pm = client_as(Role.PRODUCT_MANAGER)
    counts = []
    for size in SIZES:
        requests = [TicketFactory(type=Ticket.Type.FEATURE_REQUEST) for _ in range(size)]
        for duplicate in requests[2:]:
            services.ticket_merge_duplicate(duplicate=duplicate, original=requests[0], actor=pm.user)
        with django_assert_max_num_queries(20) as captured:
            response = pm.post(
                "/roadmap/merge/", {"duplicate": requests[1].reference, "original": requests[0].reference}
            )
        assert response.status_code == 302
        assert Ticket.objects.get(pk=requests[1].pk).duplicate_of_id == requests[0].pk
        counts.append(len(captured))
    assert counts[-1] <= counts[0], counts


def test_attachment_download_bound(client_as_rep, django_assert_max_num_queries):
    counts = []
    for size in SIZES:
        ticket = TicketFactory()
        for index in range(size):
            upload = SimpleUploadedFile(f"f{index}.txt", f"file {index}".encode(), content_type="text/plain")
            services.ticket_reply(ticket=ticket, author=ticket.user, body=f"m{index}", attachments=[upload])
        last = ticket.messages.latest("id").attachments.get()
        with django_assert_max_num_queries(6) as captured:
            response = client_as_rep.get(f"/queue/{ticket.reference}/attachments/{last.pk}/")
            body = b"".join(response.streaming_content)
        assert body == f"file {size - 1}".encode()
        assert re.search(r'filename="f\d+\.txt"', response["Content-Disposition"])
        counts.append(len(captured))
    assert counts[-1] <= counts[0], counts
