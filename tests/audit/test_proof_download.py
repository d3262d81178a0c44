"""The event detail page's "Proof" download: auditors only, a verifiable bundle, audited, constant queries."""

import datetime as dt
import json

import pytest
import time_machine

from audit import signing
from audit.archive import archive_purge, archive_write
from audit.models import AuditEvent
from audit.proofs import proof_verify, public_keys_from
from audit.sealing import seal_all, seal_stream
from audit.services import audit_record
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def _events(n):
    return [audit_record(actor=None, action="update", resource_type="ticket", resource_id=i) for i in range(n)]


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ADMIN])
def test_the_proof_downloads_verifies_and_is_audited(audit_dirs, client_as, role):
    # given a sealed event
    events = _events(4)
    seal_all(wait_seconds=5)
    client = client_as(role)
    # when its proof is downloaded
    response = client.get(f"/audit/events/{events[1].pk}/proof.json")
    # then it is a JSON attachment that verifies offline with the public key
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="audit-event-{events[1].pk}-proof.json"'
    bundle = json.loads(response.content)
    assert proof_verify(bundle, keys=public_keys_from([signing.public_key_b64()]))
    assert (bundle["row_id"], bundle["leaf_index"], bundle["tree_size"]) == (events[1].pk, 1, 4)
    # and the download is itself an audited export
    export = AuditEvent.objects.filter(action="export", resource_type="audit_event").latest("id")
    assert (export.actor_id, export.resource_id) == (client.user.pk, str(events[1].pk))
    assert export.changes == {"format": "proof", "checkpoint": bundle["checkpoint"]["sequence"]}


def test_the_detail_page_links_the_proof_once_sealed(audit_dirs, client_as):
    (event,) = _events(1)
    auditor = client_as(Role.AUDITOR)
    page = auditor.get(f"/audit/events/{event.pk}/").content.decode()
    assert "not sealed yet" in page
    assert "proof.json" not in page
    seal_all(wait_seconds=5)
    page = auditor.get(f"/audit/events/{event.pk}/").content.decode()
    assert f'href="/audit/events/{event.pk}/proof.json"' in page


def test_unsealed_and_unknown_events_answer_with_a_machine_readable_error(audit_dirs, client_as):
    (event,) = _events(1)
    auditor = client_as(Role.AUDITOR)
    response = auditor.get(f"/audit/events/{event.pk}/proof.json")
    assert response.status_code == 409
    assert response.json()["error"] == "not_sealed"
    response = auditor.get("/audit/events/99999999999999999999/proof.json")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert not AuditEvent.objects.filter(action="export").exists()


@pytest.mark.parametrize("role", [Role.SUPPORT_REP, Role.SUPPORT_LEAD, Role.PRODUCT_MANAGER, None])
def test_other_roles_are_refused(audit_dirs, client_as, role):
    (event,) = _events(1)
    seal_all(wait_seconds=5)
    assert client_as(role).get(f"/audit/events/{event.pk}/proof.json").status_code == 403


def test_a_purged_event_is_proved_from_the_archive(audit_dirs, client_as):
    with time_machine.travel(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), tick=False):
        old = _events(3)
        seal_all(wait_seconds=5)
    archive_purge(path=archive_write(stream_name="events", before=dt.datetime(2025, 6, 1, tzinfo=dt.UTC)))
    response = client_as(Role.AUDITOR).get(f"/audit/events/{old[2].pk}/proof.json")
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["source"] == "archive events-00000001-00000001.jsonl.gz"
    proof_verify(bundle, keys=public_keys_from([signing.public_key_b64()]))


@pytest.mark.parametrize("batch", [3, 400])
def test_the_download_query_count_does_not_grow_with_the_batch(
    audit_dirs, client_as, django_assert_max_num_queries, batch
):
    events = _events(batch)
    seal_stream("events", batch_rows=10000)
    auditor = client_as(Role.AUDITOR)
    with django_assert_max_num_queries(11):  # 8 on PostgreSQL; SQLite adds its savepoint statements
        response = auditor.get(f"/audit/events/{events[batch // 2].pk}/proof.json")
    assert response.status_code == 200
    assert response.json()["tree_size"] == batch
