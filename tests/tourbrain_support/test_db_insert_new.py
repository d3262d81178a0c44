"""`insert_new`: one INSERT that skips rows whose unique key exists and returns the inserted ones with ids."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tourbrain_support.db import insert_new
from tourbrain_support.notifications.models import OutboxMessage

pytestmark = pytest.mark.django_db


def message(key: str) -> OutboxMessage:
    now = timezone.now()
    return OutboxMessage(
        kind=OutboxMessage.Kind.CUSTOMER_ACK,
        channel=OutboxMessage.Channel.EMAIL,
        recipient="ana@band.example.com",
        subject=f"About {key}",
        body="Hello",
        idempotency_key=key,
        next_attempt_at=now,
        created_at=now,
    )


def test_new_rows_are_inserted_with_their_ids_in_one_statement():
    with CaptureQueriesContext(connection) as queries:
        created = insert_new([message("a"), message("b")], key="idempotency_key")
    assert len(queries.captured_queries) == 1
    assert [row.idempotency_key for row in created] == ["a", "b"]
    stored = {row.idempotency_key: row.pk for row in OutboxMessage.objects.all()}
    assert stored == {"a": created[0].pk, "b": created[1].pk}
    assert not created[0]._state.adding


def test_a_key_that_exists_is_skipped_not_an_error_and_the_transaction_goes_on():
    [first] = insert_new([message("a")], key="idempotency_key")

    assert insert_new([message("a")], key="idempotency_key") == []
    created = insert_new([message("a"), message("c")], key="idempotency_key")

    assert [row.idempotency_key for row in created] == ["c"]
    assert OutboxMessage.objects.get(idempotency_key="a").pk == first.pk
    assert OutboxMessage.objects.get(idempotency_key="a").subject == "About a"
    assert OutboxMessage.objects.count() == 2  # the transaction is still usable after the skipped row
