import base64
import gzip
import json
import threading
import uuid
from datetime import datetime, timedelta

import posthog
import pytest
from django.utils import timezone

from kpis.models import ProductEvent, ProjectApiKey, RejectedEventCount

pytestmark = pytest.mark.django_db

KEY = "phc_test_key"


@pytest.fixture
def project_key(settings):
    settings.KPI_PROJECT_API_KEYS = [KEY]
    return KEY


def _event(name="userSignup", **overrides):
    event = {
        "uuid": str(uuid.uuid4()),
        "event": name,
        "distinct_id": "user-1",
        "timestamp": timezone.now().isoformat(),
        "properties": {"method": "email"},
    }
    event.update(overrides)
    return event


@pytest.fixture
def posthog_server(live_server):
    yield live_server
    # The client keeps its HTTP connection alive; closing it ends the server's request thread within the test.
    posthog.request._session.close()
    for thread in threading.enumerate():
        if "process_request_thread" in thread.name:
            thread.join(timeout=5)


def test_posthog_python_client_batches_reach_the_store(posthog_server, project_key):
    live_server = posthog_server
    client = posthog.Posthog(project_key, host=live_server.url, sync_mode=True, gzip=True, max_retries=0)
    client.capture("userSignup", distinct_id="u-1", properties={"method": "github"}, groups={"organization": "org-9"})
    client.capture("tourCreated", distinct_id="u-1", properties={"artistCount": 2, "venueCount": 14})
    client.capture("somethingCustom", distinct_id="u-2")
    client.flush()

    events = {event.name: event for event in ProductEvent.objects.all()}
    assert set(events) == {"userSignup", "tourCreated", "somethingCustom"}
    assert events["userSignup"].properties["method"] == "github"
    assert events["userSignup"].organization_key == "org-9"
    assert events["somethingCustom"].is_custom
    assert not events["tourCreated"].is_custom


@pytest.mark.parametrize("path", ["/batch/", "/capture/", "/e/", "/i/v0/e/"])
def test_capture_paths_answer_like_posthog(client, project_key, path):
    response = client.post(path, {"api_key": KEY, "batch": [_event()]}, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"status": 1}
    assert ProductEvent.objects.count() == 1


def test_unknown_key_is_401(client, project_key):
    response = client.post("/batch/", {"api_key": "nope", "batch": [_event()]}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"
    assert ProductEvent.objects.count() == 0


def test_key_from_the_admin_table_and_token_field(client, settings):
    settings.KPI_PROJECT_API_KEYS = []
    key = ProjectApiKey.objects.create(name="web").key
    response = client.post("/e/", {**_event(), "token": key}, content_type="application/json")
    assert response.status_code == 200
    ProjectApiKey.objects.update(is_active=False)
    response = client.post("/e/", {**_event(), "token": key}, content_type="application/json")
    assert response.status_code == 401


def test_gzip_and_base64_bodies(client, project_key):
    body = gzip.compress(json.dumps([{**_event(), "properties": {"method": "email", "token": KEY}}]).encode())
    response = client.post("/e/?compression=gzip-js", body, content_type="text/plain")
    assert response.status_code == 200
    encoded = base64.b64encode(json.dumps({"api_key": KEY, "batch": [_event()]}).encode()).decode()
    response = client.post("/batch/", f"data={encoded}", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert ProductEvent.objects.count() == 2


def test_malformed_and_gzip_bomb_bodies(client, project_key, settings):
    assert client.post("/batch/", b"{not json", content_type="application/json").status_code == 400
    bad_gzip = client.post("/batch/", b"\x1f\x8bxx", content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert bad_gzip.status_code == 400
    settings.KPI_MAX_DECOMPRESSED_BYTES = 10_000
    bomb = gzip.compress(b"[" + b" " * 50_000 + b"]")
    response = client.post("/batch/", bomb, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert ProductEvent.objects.count() == 0


def test_batch_size_limit_is_413(client, project_key, settings):
    settings.KPI_MAX_BATCH_EVENTS = 3
    response = client.post(
        "/batch/", {"api_key": KEY, "batch": [_event() for _ in range(4)]}, content_type="application/json"
    )
    assert response.status_code == 413
    assert ProductEvent.objects.count() == 0


def test_wrong_property_types_are_counted_not_stored(client, project_key):
    batch = [_event(properties={"method": 3}), _event(properties={"method": "github"})]
    client.post("/batch/", {"api_key": KEY, "batch": batch}, content_type="application/json")
    assert ProductEvent.objects.count() == 1
    rejected = RejectedEventCount.objects.get()
    assert (rejected.reason, rejected.event_name, rejected.count) == ("invalid_properties", "userSignup", 1)


# Native API


def _post_native(client, events, key=KEY):
    return client.post(
        "/api/v1/kpis/events/", {"events": events}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def test_native_api_reports_errors_by_index_and_stores_the_rest(client, project_key, django_assert_max_num_queries):
    now = timezone.now()
    events = [
        _event(),
        _event("exportGenerated", properties={"type": "docx", "showId": "s1"}),
        _event("tourCreated", properties={"artistCount": "two", "venueCount": 3}),
        _event(timestamp=(now + timedelta(days=2)).isoformat()),
        _event(timestamp=(now - timedelta(days=3000)).isoformat()),
        _event("aiRoutingUsed", properties={"scenariosGenerated": 3, "applied": True}),
        _event(uuid="not-a-uuid"),
        *[_event("customThing", properties={"x": i}) for i in range(40)],
    ]
    with django_assert_max_num_queries(12):
        response = _post_native(client, events)
    assert response.status_code == 200
    body = response.json()
    assert body["received"] == 42
    assert [(error["index"], error["code"]) for error in body["errors"]] == [
        (1, "invalid_properties"),
        (2, "invalid_properties"),
        (3, "future_event"),
        (4, "too_old"),
        (6, "invalid_event"),
    ]
    assert body["errors"][0]["fields"] == {"type": ["Must be one of: pdf, csv, ical."]}
    assert ProductEvent.objects.count() == 42
    assert sum(RejectedEventCount.objects.values_list("count", flat=True)) == 5


def test_native_api_retry_stores_nothing_twice(client, project_key):
    events = [_event() for _ in range(5)]
    assert _post_native(client, events).json()["received"] == 5
    assert _post_native(client, events).status_code == 200
    assert ProductEvent.objects.count() == 5


def test_native_api_partly_stored_batch_keeps_the_new_events_once(client, project_key):
    # given a batch of which two events are already stored, and one new event sent twice in the batch
    stored = [_event() for _ in range(2)]
    _post_native(client, stored)
    fresh = _event("tourCreated", properties={"artistCount": 1, "venueCount": 2})
    upper = _event(uuid=str(uuid.uuid4()).upper())
    batch = [*stored, fresh, dict(fresh), upper, _event(uuid="{" + str(uuid.uuid4()) + "}")]
    # when it is sent, and then again
    first = _post_native(client, batch).json()
    _post_native(client, batch)
    # then every acceptable event is reported received and each uuid is stored once
    assert first == {"received": 6, "rejected": 0, "errors": []}
    assert ProductEvent.objects.count() == 5
    assert ProductEvent.objects.filter(uuid=uuid.UUID(upper["uuid"])).exists()
    assert ProductEvent.objects.get(uuid=fresh["uuid"]).properties == {"artistCount": 1, "venueCount": 2}


def test_an_event_resent_with_another_timestamp_is_stored_once(client, project_key):
    # given an event stored, then resent with another timestamp (a client that stamps on sending), and a posthog
    # event without a timestamp (stamped on arrival) sent twice
    event = _event()
    _post_native(client, [event])
    later = {**event, "timestamp": (timezone.now() - timedelta(days=40)).isoformat()}
    unstamped = {k: v for k, v in _event().items() if k != "timestamp"}
    # when they arrive again, alone and in batches mixing them with new events and with each other
    assert _post_native(client, [later]).status_code == 200
    fresh = _event()
    twice = _event()
    _post_native(client, [fresh, later, twice, {**twice, "timestamp": later["timestamp"]}])
    client.post("/batch/", {"api_key": KEY, "batch": [unstamped]}, content_type="application/json")
    client.post("/batch/", {"api_key": KEY, "batch": [unstamped]}, content_type="application/json")
    # then each uuid is stored once, with the timestamp it came with first
    assert sorted(str(u) for u in ProductEvent.objects.values_list("uuid", flat=True)) == sorted(
        [event["uuid"], fresh["uuid"], twice["uuid"], unstamped["uuid"]]
    )
    assert ProductEvent.objects.get(uuid=event["uuid"]).timestamp == datetime.fromisoformat(event["timestamp"])


def test_native_api_refuses_a_body_without_events(client, project_key):
    for body in ({"events": []}, {"events": {"a": 1}}, {"nothing": 1}, [1, 2]):
        response = client.post(
            "/api/v1/kpis/events/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {KEY}"
        )
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"events": ["A non-empty list of events is required."]}


def test_native_api_auth_and_limits(client, project_key, settings):
    assert _post_native(client, [_event()], key="wrong").status_code == 401
    no_auth = client.post("/api/v1/kpis/events/", {"events": [_event()]}, content_type="application/json")
    assert no_auth.status_code == 401
    assert no_auth.json()["error"]["code"] == "not_authenticated"
    settings.KPI_MAX_BATCH_EVENTS = 2
    too_many = _post_native(client, [_event() for _ in range(3)])
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "batch_too_large"
    assert _post_native(client, "nope").status_code == 400
    assert ProductEvent.objects.count() == 0
