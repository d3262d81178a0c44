"""audit_record: pseudonymous sealed rows, personal data in its own store, erasure."""

import json

import pytest
from django.db import connection, transaction
from django.test import RequestFactory

from audit.models import AuditEvent, AuditPersonalData, AuditSubject
from audit.sealing import seal_all
from audit.selectors_events import audit_events_for_user
from audit.services import audit_erase_user, audit_record, personal_digest
from audit.verification import verify_trail
from tests.prepared_statements import prepared_statement_runs
from tourbrain_support.request_context import set_request_id

pytestmark = pytest.mark.django_db


def _request(**meta):
    return RequestFactory().get("/x", **{"REMOTE_ADDR": "127.0.0.1", **meta})


def test_record_keeps_personal_data_out_of_the_sealed_row(make_user, organization, settings):
    # given a user acting through a proxied request
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    user = make_user(email="ada@example.com", name="Ada Lovelace")
    set_request_id("req-123")
    request = _request(HTTP_X_FORWARDED_FOR="198.51.100.9, 203.0.113.77", HTTP_USER_AGENT="Firefox/1")
    # when the change is audited
    event = audit_record(
        actor=user,
        action="update",
        resource_type="ticket",
        resource_id=42,
        organization=organization,
        changes={"status": ["open", "closed"], "requester_email": "bob@example.com"},
        request=request,
    )
    set_request_id(None)
    # then the sealed row is pseudonymous and the personal data is stored apart with a salted digest
    event.refresh_from_db()
    assert event.resource_id == "42"
    assert event.request_id == "req-123"
    assert event.organization_id == organization.pk
    assert event.changes == {"status": ["open", "closed"], "requester_email": {"$personal": "requester_email"}}
    assert event.actor_subject == AuditSubject.objects.get(user=user).subject_id
    sealed_text = json.dumps([event.changes, event.personal_digests, event.resource_type, event.request_id])
    for secret in ("ada@example.com", "Ada Lovelace", "203.0.113.77", "Firefox", "bob@example.com"):
        assert secret not in sealed_text
    (personal,) = AuditPersonalData.objects.filter(event=event)
    assert personal.data["ip"] == "203.0.113.77"
    assert "actor_email" not in personal.data  # the actor's identity is recorded once, not per event
    assert personal.data["user_agent"] == "Firefox/1"
    assert personal.data["changes"] == {"requester_email": "bob@example.com"}
    assert event.personal_digests == [personal_digest(salt=personal.salt, data=personal.data)]


def test_same_user_keeps_one_pseudonym(make_user):
    user = make_user()
    first = audit_record(actor=user, action="create", resource_type="ticket", resource_id=1)
    second = audit_record(actor=user, action="delete", resource_type="ticket", resource_id=1)
    assert first.actor_subject == second.actor_subject is not None


def _identity_events(user):
    subject_id = str(AuditSubject.objects.get(user=user).subject_id)
    return AuditEvent.objects.filter(resource_type="audit_subject", resource_id=subject_id).order_by("id")


def test_the_actors_identity_is_recorded_once_per_change(make_user):
    # given a user who acts three times, then changes their email and acts again
    user = make_user(email="ida@example.com", name="Ida Identity")
    for ticket in (1, 2, 3):
        audit_record(actor=user, action="update", resource_type="ticket", resource_id=ticket)
    type(user).objects.filter(pk=user.pk).update(email="ida.new@example.com")
    user.email = "ida.new@example.com"
    audit_record(actor=user, action="update", resource_type="ticket", resource_id=4)
    # then the trail holds two identity events (sealed markers, values in personal data), in order
    first, second = _identity_events(user)
    assert first.changes == {"email": {"$personal": "email"}, "name": {"$personal": "name"}}
    assert [row.data for row in AuditPersonalData.objects.filter(event__in=[first, second]).order_by("event_id")] == [
        {"changes": {"email": "ida@example.com", "name": "Ida Identity"}},
        {"changes": {"email": "ida.new@example.com", "name": "Ida Identity"}},
    ]
    # and no other event of theirs copies the identity
    assert AuditPersonalData.objects.filter(data__icontains="ida").count() == 2
    assert AuditEvent.objects.filter(actor_id=user.pk).count() == 6


def test_the_pseudonym_still_names_a_deleted_account(make_user):
    # given a user whose actions were audited, then whose account was deleted
    user = make_user(email="gone@example.com", name="Gone Soon")
    event = audit_record(actor=user, action="delete", resource_type="ticket", resource_id=9)
    user.delete()
    # then the event's pseudonym still says who acted, from the identity recorded in the trail
    subject = AuditSubject.objects.get(subject_id=event.actor_subject)
    assert (subject.user_id, subject.email, subject.name) == (None, "gone@example.com", "Gone Soon")


def test_an_admin_editing_someone_else_files_each_persons_data_under_their_own_pseudonym(make_user):
    # given an admin changing another user's email from a request
    admin = make_user(email="root@example.com", name="Rita Root")
    member = make_user(email="mo@example.com", name="Mo Member")
    request = _request(REMOTE_ADDR="192.0.2.81", HTTP_USER_AGENT="AdminBrowser/2")
    event = audit_record(
        actor=admin,
        action="update",
        resource_type="user",
        resource_id=member.pk,
        changes={"email": ["mo@example.com", "mo.new@example.com"], "is_active": [True, False]},
        request=request,
    )
    # then the admin's request data and the member's old and new email are two rows, one per pseudonym
    rows = {row.subject_id: row for row in AuditPersonalData.objects.filter(event=event)}
    admin_subject = AuditSubject.objects.get(user=admin).subject_id
    member_subject = AuditSubject.objects.get(user=member).subject_id
    assert rows[admin_subject].data == {"ip": "192.0.2.81", "user_agent": "AdminBrowser/2"}
    assert rows[member_subject].data == {"changes": {"email": ["mo@example.com", "mo.new@example.com"]}}
    event.refresh_from_db()
    assert event.changes == {"email": {"$personal": "email"}, "is_active": [True, False]}
    assert event.personal_digests == sorted(personal_digest(salt=row.salt, data=row.data) for row in rows.values())


def test_unknown_action_is_refused(make_user):
    with pytest.raises(ValueError, match="Unknown audit action"):
        audit_record(actor=None, action="explode", resource_type="ticket", resource_id=1)


def test_erasure_removes_personal_data_everywhere_and_the_trail_still_verifies(make_user, audit_dirs):
    # given audited activity by and about a person, sealed
    person = make_user(email="erase.me@example.com", name="Erin Erasable")
    request = _request(REMOTE_ADDR="192.0.2.55", HTTP_USER_AGENT="Agent/9")
    audit_record(actor=person, action="login", resource_type="user", resource_id=person.pk, request=request)
    audit_record(
        actor=None,
        action="update",
        resource_type="user",
        resource_id=person.pk,
        changes={"email": ["old.erase.me@example.com", "erase.me@example.com"]},
        error_message="typo in Erin Erasable's address",
        request=request,
    )
    seal_all(wait_seconds=5)
    assert verify_trail().ok
    assert len(list(audit_events_for_user(person))) == 3  # their identity, the login, the change
    # when the person is erased (their user row anonymised by the GDPR service)
    audit_erase_user(user=person)
    type(person).objects.filter(pk=person.pk).update(email=f"erased-{person.pk}@invalid", name="")
    # then no audit table holds their email, name or IP, and the chain still verifies
    with connection.cursor() as cursor:
        for table in ("audit_auditevent", "audit_auditpersonaldata", "audit_auditsubject", "audit_auditcheckpoint"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
            dump = repr(cursor.fetchall())
            for secret in ("erase.me@example.com", "Erin Erasable", "192.0.2.55", "Agent/9"):
                assert secret not in dump, (table, secret)
    report = verify_trail()
    assert report.ok, report.problems
    assert AuditEvent.objects.filter(resource_id=str(person.pk)).count() == 2


def test_nul_characters_never_break_the_callers_transaction(make_user):
    # given hostile input carrying NUL characters (PostgreSQL stores none in text or JSON)
    user = make_user()
    request = _request(HTTP_USER_AGENT="evil\x00agent")
    # when it is audited inside a business transaction that goes on afterwards
    with transaction.atomic():
        event = audit_record(
            actor=user,
            action="update",
            resource_type="ticket",
            resource_id="7\x00",
            changes={"subject\x00": ["a\x00b", {"k": "\x00"}]},
            error_message="bad\x00",
            request=request,
        )
        audit_record(actor=user, action="update", resource_type="ticket", resource_id=8)
    # then both rows are written, with the NULs replaced, and the trail verifies
    event.refresh_from_db()
    assert event.resource_id == "7\ufffd"
    assert event.changes == {"subject\ufffd": ["a\ufffdb", {"k": "\ufffd"}]}
    personal = AuditPersonalData.objects.get(event=event).data
    assert (personal["user_agent"], personal["error_message"]) == ("evil\ufffdagent", "bad\ufffd")
    assert AuditEvent.objects.filter(resource_id="8").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="server-side prepared statements are PostgreSQL's")
@pytest.mark.parametrize("enabled", [True, False])
def test_the_audit_insert_is_parsed_once_per_connection_and_nothing_else_is(make_user, settings, enabled):
    # given audit inserts as prepared statements (the default) or not (behind a transaction-pooling proxy)
    settings.DATABASE_PREPARED_STATEMENTS = enabled
    user = make_user()
    audit_record(actor=user, action="login", resource_type="user", resource_id=user.pk)  # identity recorded
    before = prepared_statement_runs()
    # when a request writes three audit events and the ORM runs the same query three times
    for n in range(3):
        audit_record(actor=user, action="update", resource_type="ticket", resource_id=n, request=_request())
        list(AuditEvent.objects.filter(resource_id=str(n)))
    # then, when enabled, one statement writing events with their personal data ran three times as prepared,
    # and no ORM query was prepared
    runs = {text: count - before.get(text, 0) for text, count in prepared_statement_runs().items()}
    runs = {text: count for text, count in runs.items() if count}
    if enabled:
        assert len(runs) == 1, runs
        [(text, count)] = runs.items()
        assert "audit_auditpersonaldata" in text
        assert count == 3
    else:
        assert runs == {}
    assert AuditPersonalData.objects.filter(event__actor=user, data__has_key="ip").count() == 3
