"""Query-count bounds that hold as the data grows: the audit export and event page, the GDPR request pages
and export, the privacy page's actions, POST /api/v1/me/consents/ and the login page.

Each test builds a small and a larger history (SIZES) outside the measure, runs the request under one
bound for both, checks that the rows were really read (rendered, exported or listed), and that the count
did not grow.
"""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from audit.gdpr import consent_record, dsr_create, policy_version_publish
from audit.models import AuditEvent, ConsentRecord, DataSubjectRequest, LoginLockout
from audit.services import audit_record
from tests.tickets.factories import TicketFactory, TicketMessageFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

SIZES = (2, 20)


@pytest.fixture
def bounded(django_assert_max_num_queries):
    """bounded(bound, setup, act): for each size, `state = setup(size)`, then `act(state, size)` measured."""

    def run(bound: int, setup, act) -> list[int]:
        counts = []
        for size in SIZES:
            state = setup(size)
            with django_assert_max_num_queries(bound) as captured:
                act(state, size)
            counts.append(len(captured))
        assert counts[-1] <= counts[0], f"the query count grew with the data: {counts}"
        return counts

    return run


@pytest.fixture
def policy():
    return policy_version_publish(version="2026-01", published_at=timezone.now() - timedelta(days=1))


def _history(person, size: int, policy=None) -> None:
    """`size` tickets with messages, consents, closed requests and audit events about the person."""
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.9", HTTP_USER_AGENT="agent")
    for index in range(size):
        ticket = TicketFactory(requester=person, subject=f"history {index}")
        TicketMessageFactory(ticket=ticket, author=person, body=f"message {index}")
        consent_record(user=person, purpose="marketing_email", granted=bool(index % 2), source="portal")
        audit_record(actor=person, action="update", resource_type="user", resource_id=person.pk, request=request)
        dsr = dsr_create(kind="access", subject=person)
        DataSubjectRequest.objects.filter(pk=dsr.pk).update(status="completed", completed_at=timezone.now())
    if policy is not None:
        consent_record(user=person, purpose="privacy_policy", granted=True, source="portal", policy_version=policy)


# --- audit review ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_bound(client_as, bounded, fmt):
    auditor = client_as(Role.AUDITOR)

    def setup(size):
        for _ in range(size):
            audit_record(actor=auditor.user, action="update", resource_type="ticket", resource_id=f"77-{size}")

    def act(_, size):
        response = auditor.get(f"/audit/export.{fmt}?resource_type=ticket&resource_id=77-{size}")
        body = b"".join(response.streaming_content).decode()  # the rows are read while streaming
        rows = list(csv.DictReader(io.StringIO(body))) if fmt == "csv" else json.loads(body)
        assert len(rows) == size

    bounded(12, setup, act)


def test_event_page_bound(client_as, make_user, bounded):
    auditor = client_as(Role.AUDITOR)

    def setup(size):
        person = make_user()
        _history(person, size)
        return AuditEvent.objects.filter(actor=person, resource_type="user").latest("id")

    def act(event, _):
        response = auditor.get(f"/audit/events/{event.pk}/")
        assert response.status_code == 200
        assert "192.0.2.9" in response.content.decode()  # its personal data, from its own table

    bounded(8, setup, act)


# --- GDPR request pages (staff) ---------------------------------------------------------------------


def test_gdpr_request_page_and_export_bound(client_as, make_user, bounded):
    admin = client_as(Role.ADMIN)

    def setup(size):
        person = make_user()
        _history(person, size)
        dsr = DataSubjectRequest.objects.filter(subject=person).latest("id")
        DataSubjectRequest.objects.filter(pk=dsr.pk).update(status="received", completed_at=None)
        return dsr

    def page(dsr, _):
        response = admin.get(f"/audit/gdpr/requests/{dsr.pk}/")
        assert response.status_code == 200
        assert dsr.subject_email in response.content.decode()

    bounded(8, setup, page)

    def export(dsr, size):
        DataSubjectRequest.objects.filter(pk=dsr.pk).update(status="in_progress")
        response = admin.get(f"/audit/gdpr/requests/{dsr.pk}/export.json")
        assert response.status_code == 200
        tickets = json.loads(response.content)["records"].get("tickets.ticket", [])
        assert len({row["id"] for row in tickets}) == size  # every ticket the person filed

    bounded(80, setup, export)  # one query per kind of personal data (surveys, pages, ...), whatever its size


def test_gdpr_request_create_and_transition_bound(client_as, make_user, bounded):
    admin = client_as(Role.ADMIN)

    def setup(size):
        person = make_user()
        _history(person, size)
        DataSubjectRequest.objects.filter(subject=person).delete()
        return person

    def act(person, _):
        response = admin.post("/audit/gdpr/requests/new/", {"kind": "access", "subject_email": person.email})
        assert response.status_code == 302
        dsr = DataSubjectRequest.objects.get(subject=person)
        assert admin.post(f"/audit/gdpr/requests/{dsr.pk}/", {"status": "verifying"}).status_code == 302

    bounded(400, setup, act)


# --- the person's own privacy page and API -----------------------------------------------------------


@pytest.fixture
def person_client(client, make_user, policy):
    """setup(size): a fresh person with `size` of history, signed in on `client`."""

    def setup(size):
        person = make_user()
        _history(person, size, policy)
        client.force_login(person)
        return person

    return setup


@pytest.mark.parametrize(
    ("url", "data", "expected"),
    [
        ("/account/privacy/policy/accept/", {"policy_version": "2026-01"}, 302),
        ("/account/privacy/consents/", {"purpose": "product_analytics", "action": "grant"}, 302),
        ("/account/privacy/requests/", {"kind": "access"}, 302),
    ],
    ids=["policy-accept", "consent", "request"],
)
def test_privacy_page_actions_bound(client, person_client, bounded, url, data, expected):
    def act(person, _):
        ConsentRecord.objects.filter(user=person, purpose="privacy_policy").delete()  # something to accept
        DataSubjectRequest.objects.filter(subject=person).update(status="completed")
        response = client.post(url, data)
        assert response.status_code == expected, response.content[:500]

    bounded(20, person_client, act)


def test_privacy_erasure_page_and_export_bound(client, person_client, bounded):
    def erasure(person, size):
        response = client.get("/account/privacy/erasure/")
        assert response.status_code == 200
        assert person.email in response.content.decode() or "erase" in response.content.decode().lower()

    bounded(6, person_client, erasure)

    def export(person, size):
        dsr = DataSubjectRequest.objects.filter(subject=person).latest("id")
        response = client.get(f"/account/privacy/requests/{dsr.pk}/export.json")
        assert response.status_code == 200
        tickets = json.loads(response.content)["records"].get("tickets.ticket", [])
        assert len({row["id"] for row in tickets}) == size

    bounded(80, person_client, export)  # one query per kind of personal data, whatever its size


def test_consents_api_post_bound(client, person_client, bounded):
    def act(person, _):
        granted = not ConsentRecord.objects.filter(user=person, purpose="marketing_email").latest("id").granted
        response = client.post(
            "/api/v1/me/consents/", {"purpose": "marketing_email", "granted": granted}, content_type="application/json"
        )
        assert response.status_code == 201
        assert response.json()["consents"]

    bounded(20, person_client, act)


# --- login ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "bound"), [("page", 2), ("wrong password", 32), ("right password", 30)], ids=["get", "failed", "signed-in"]
)
def test_login_page_bound(client, make_user, bounded, step, bound):
    def setup(size):
        person = make_user(password="right-password")
        for index in range(size):  # other people's failures and lockouts on record
            LoginLockout.objects.create(scope="account", key=f"other-{size}-{index}", failures=3)
        client.logout()
        return person

    def act(person, _):
        if step == "page":
            response = client.get("/accounts/login/")
            assert 'name="username"' in response.content.decode()
        elif step == "wrong password":
            response = client.post("/accounts/login/", {"username": person.email, "password": "wrong"})
            assert "Please enter a correct" in response.content.decode()
        else:
            response = client.post("/accounts/login/", {"username": person.email, "password": "right-password"})
            assert response.status_code == 302
            assert client.session["_auth_user_id"] == str(person.pk)

    bounded(bound, setup, act)
