"""GDPR erasure and access: after erasure the person's email, name and IPs are nowhere in the database
(every text column of every table is scanned), and the audit trail still verifies."""

import json

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from audit.gdpr import consent_record, dsr_create, dsr_transition, policy_version_publish, subject_export
from audit.models import ConsentRecord, DataSubjectRequest, LoginLockout
from audit.sealing import seal_all
from audit.services import audit_record
from audit.verification import verify_trail
from tests.factories import MembershipFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "erin.erasable@example.com"
NAME = "Erin Erasable"
IPS = ("192.0.2.77", "192.0.2.78", "192.0.2.79")


def database_scan(*needles: str) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every text-castable column of every table that contains a needle."""
    hits = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            for column in columns:
                quoted_table, quoted_column = connection.ops.quote_name(table), connection.ops.quote_name(column)
                for needle in needles:
                    cursor.execute(
                        f"SELECT COUNT(*) FROM {quoted_table} "  # noqa: S608 - quoted identifiers
                        f"WHERE LOWER(CAST({quoted_column} AS TEXT)) LIKE %s",
                        [f"%{needle.lower()}%"],
                    )
                    if cursor.fetchone()[0]:
                        hits.append((table, column, needle))
    return hits


def _tickets_of(person, rep):
    """Tickets and messages by and about the person (when the tickets app provides them)."""
    try:
        from tickets.models import Ticket, TicketMessage
    except ImportError:
        return None
    ticket = Ticket.objects.create(
        user=person,
        type="question",
        subject=f"Invoice question from {NAME}",
        description=f"Hello, I am {NAME}, write to {EMAIL}. My office IP is {IPS[0]}.",
        browser_info="Firefox",
    )
    TicketMessage.objects.create(ticket=ticket, author=person, body=f"Thanks! -- {NAME} <{EMAIL}>")
    TicketMessage.objects.create(ticket=ticket, author=rep, body="Hi Erin Erasable, fixed.", is_from_staff=True)
    return ticket


def test_erasure_leaves_no_trace_and_the_trail_verifies(client, make_user, audit_dirs):
    # given a person with a membership, logins (one failed), consents, a lockout record, tickets and
    # messages, an admin-log entry about them and an erasure request
    person = make_user(email=EMAIL, name=NAME)
    admin = make_user(Role.ADMIN)
    rep = make_user(Role.SUPPORT_REP)
    MembershipFactory(user=person)
    policy = policy_version_publish(version="2026-01", actor=admin)
    assert (
        client.post("/accounts/login/", {"username": EMAIL, "password": "wrong"}, REMOTE_ADDR=IPS[1]).status_code == 200
    )
    assert (
        client.post(
            "/accounts/login/", {"username": EMAIL, "password": "correct-horse-battery"}, REMOTE_ADDR=IPS[0]
        ).status_code
        == 302
    )
    client.logout()
    for _ in range(5):
        client.post("/accounts/login/", {"username": EMAIL.upper(), "password": "x"}, REMOTE_ADDR=IPS[2])
    consent_record(user=person, purpose="privacy_policy", granted=True, source="signup", policy_version=policy)
    consent_record(user=person, purpose="marketing_email", granted=False, source="portal")
    ticket = _tickets_of(person, rep)
    LogEntry.objects.create(
        user=admin,
        content_type=ContentType.objects.get_for_model(person),
        object_id=str(person.pk),
        object_repr=str(person),
        action_flag=CHANGE,
        change_message='[{"changed": {"fields": ["Name"]}}]',  # Django admin's format: field names only
    )
    dsr = dsr_create(
        kind="erasure", subject_email=EMAIL, notes=f"Email from {EMAIL} asking to be forgotten", actor=admin
    )
    assert dsr.subject == person
    assert LoginLockout.objects.filter(user=person).exists()
    seal_all(wait_seconds=0)
    assert database_scan(EMAIL), "the scan must see the data before erasure"

    # when the request goes through the workflow and is completed
    for status in ("verifying", "in_progress", "completed"):
        dsr = dsr_transition(dsr=dsr, status=status, actor=admin, note=f"step {status}")
    seal_all(wait_seconds=0)

    # then the email, the name and the IPs are nowhere in the database
    assert database_scan(EMAIL, NAME, *IPS) == []
    person.refresh_from_db()
    assert not person.is_active
    assert not person.has_usable_password()
    # the records stay, detached: consent counts and the request's history are kept
    assert ConsentRecord.objects.filter(user__isnull=True).count() == 2
    dsr.refresh_from_db()
    assert dsr.status == DataSubjectRequest.Status.COMPLETED
    assert dsr.subject_reference
    if ticket is not None:
        ticket.refresh_from_db()
        assert ticket.description == "[erased]"
        assert ticket.messages.get(author=rep).body == "Hi [erased], fixed."
    # and the audit trail (sealed before and after) still verifies
    report = verify_trail()
    assert report.ok, report.problems


def test_access_export_holds_everything_on_the_person(make_user, rf):
    person = make_user(email="ada.access@example.com", name="Ada Access")
    rep = make_user(Role.SUPPORT_REP)
    MembershipFactory(user=person)
    policy = policy_version_publish(version="v1")
    consent_record(user=person, purpose="privacy_policy", granted=True, source="widget", policy_version=policy)
    audit_record(
        actor=person,
        action="update",
        resource_type="user",
        resource_id=person.pk,
        request=rf.get("/", REMOTE_ADDR="198.51.100.5"),
    )
    ticket = _tickets_of(person, rep)
    admin = make_user(Role.ADMIN)
    dsr = dsr_create(kind="access", subject=person, actor=admin)
    for status in ("verifying", "in_progress"):
        dsr = dsr_transition(dsr=dsr, status=status, actor=admin)

    export = json.loads(json.dumps(subject_export(user=person), default=str))

    assert export["profile"]["email"] == "ada.access@example.com"
    assert "password" not in export["profile"]
    assert len(export["memberships"]) == 1
    assert export["consents"][0]["policy_version"] == "v1"
    assert export["data_subject_requests"][0]["kind"] == "access"
    assert any(e["action"] == "update" and e["as_actor"] for e in export["audit"]["events"])
    assert any(pd.get("ip") == "198.51.100.5" for e in export["audit"]["events"] for pd in e["personal_data"])
    if ticket is not None:
        assert [row["id"] for row in export["records"]["tickets.ticket"]] == [ticket.pk]
        bodies = {row["body"] for row in export["records"]["tickets.ticketmessage"]}
        assert "Hi Erin Erasable, fixed." in bodies  # the staff reply on their ticket is about them too
