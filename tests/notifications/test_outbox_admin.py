"""The outbox admin: a read-only list filtered by status, and "retry now" for failed messages."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import AuditEvent
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_enqueue
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:notifications_outboxmessage_changelist")


def _message(n: int, **fields) -> OutboxMessage:
    message = outbox_enqueue(
        kind="sla.warning",
        channel="email",
        recipient=f"rep{n}@example.test",
        subject=f"Warning {n}",
        body="b",
        idempotency_key=f"sla.warning:{n}",
    )
    if fields:
        OutboxMessage.objects.filter(pk=message.pk).update(**fields)
    return message


def test_list_filters_by_status_with_constant_queries(client_as, django_assert_max_num_queries):
    # given sent and failed messages
    for n in range(30):  # the query count does not depend on this number
        _message(n, status=OutboxMessage.Status.FAILED if n % 3 == 0 else OutboxMessage.Status.SENT)
    client = client_as(Role.ADMIN)

    # when an admin lists the failed ones
    with django_assert_max_num_queries(12):
        response = client.get(CHANGELIST, {"status__exact": "failed"})

    # then only failed rows are listed
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert len(rows) == 10
    assert {row.status for row in rows} == {"failed"}


def test_rows_cannot_be_edited_or_added(client_as):
    message = _message(1)
    client = client_as(Role.ADMIN)
    assert client.get(reverse("admin:notifications_outboxmessage_add")).status_code == 403
    response = client.post(reverse("admin:notifications_outboxmessage_change", args=[message.pk]), {"status": "sent"})
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.PENDING


def test_retry_now_makes_failed_messages_due_again(client_as, django_capture_on_commit_callbacks):
    # given a failed message (attempts used up) and a sent one
    failed = _message(1, status=OutboxMessage.Status.FAILED, attempts=8, last_error="503")
    sent = _message(2, status=OutboxMessage.Status.SENT, attempts=1)
    client = client_as(Role.SUPPORT_LEAD)
    _make_operator(client.user, "view", "change")

    # when a notification operator (here a support lead given the outbox permissions) runs "retry now" on both
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            CHANGELIST, {"action": "retry_now", "_selected_action": [failed.pk, sent.pk]}, follow=True
        )

    # then the failed one is pending with a fresh budget and a delivery is scheduled; the sent one is untouched
    assert response.status_code == 200
    assert "1 message(s) queued for delivery." in response.content.decode()
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.attempts) == (OutboxMessage.Status.PENDING, 0)
    assert (sent.status, sent.attempts) == (OutboxMessage.Status.SENT, 1)
    assert len(callbacks) == 1

    # and the retry is in the audit trail under the lead's name
    event = AuditEvent.objects.get(resource_type="outbox_message")
    assert event.actor_id == client.user.pk
    assert event.changes == {"operation": "retry_now", "messages": [failed.pk]}


def _make_operator(user, *actions: str) -> None:
    """A notification operator: the outbox permissions given to this person's account."""
    codenames = [f"{action}_outboxmessage" for action in actions]
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="notifications", codename__in=codenames)
    )


def test_retry_now_is_not_offered_to_view_only_operators(client_as):
    _message(1, status=OutboxMessage.Status.FAILED)
    client = client_as(Role.SUPPORT_REP)
    _make_operator(client.user, "view")
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert "Warning 1" in response.content.decode()
    assert "retry_now" not in response.content.decode()


@pytest.mark.parametrize(
    "role",
    [Role.SUPPORT_REP, Role.SUPPORT_LEAD, Role.ENGINEER, Role.BILLING_ADMIN, Role.PRODUCT_MANAGER, Role.AUDITOR],
)
def test_outbox_messages_are_for_admins_and_operators_only(client_as, role):
    # given a message addressed to someone, and a staff member of another role
    message = _message(1)
    client = client_as(role)

    # when they open the outbox list, a message and try a retry, then each is refused
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(reverse("admin:notifications_outboxmessage_change", args=[message.pk])).status_code == 403
    response = client.post(CHANGELIST, {"action": "retry_now", "_selected_action": [message.pk]})
    assert response.status_code == 403
    # and the admin index does not list the outbox
    assert "/admin/notifications/outboxmessage/" not in client.get(reverse("admin:index")).content.decode()
    assert not client.user.has_perm("notifications.view_outboxmessage")


def test_admins_read_the_outbox(client_as):
    message = _message(1)
    client = client_as(Role.ADMIN)
    assert "Warning 1" in client.get(CHANGELIST).content.decode()
    assert client.get(reverse("admin:notifications_outboxmessage_change", args=[message.pk])).status_code == 200
