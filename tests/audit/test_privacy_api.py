"""GET/POST /api/v1/me/consents/: the signed-in user's own policy acceptance and consents, in the API's
one error format, with a constant query count and a place in the OpenAPI schema."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.gdpr import consent_record, policy_version_publish
from audit.models import AuditEvent, ConsentRecord

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/consents/"


@pytest.fixture
def policy():
    return policy_version_publish(version="2026-01", published_at=timezone.now() - timedelta(days=1))


@pytest.fixture
def customer(client_as):
    return client_as(None)


def _post(client, data):
    return client.post(URL, data, content_type="application/json")


def test_anonymous_gets_401_in_the_error_format(client):
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_get_lists_the_policy_and_every_purpose(customer, policy):
    consent_record(user=customer.user, purpose="product_analytics", granted=True, source="widget")
    body = customer.get(URL).json()
    assert body["policy"] == {
        "version": "2026-01",
        "published_at": body["policy"]["published_at"],
        "url": "",
        "accepted": False,
        "accepted_at": None,
        "previously_accepted": None,
    }
    by_purpose = {c["purpose"]: c for c in body["consents"]}
    assert set(by_purpose) == {"marketing_email", "product_analytics", "beta_program"}
    assert by_purpose["product_analytics"]["granted"] is True
    assert by_purpose["product_analytics"]["recorded_at"]
    assert by_purpose["marketing_email"] == {
        "purpose": "marketing_email",
        "label": "Marketing email",
        "description": by_purpose["marketing_email"]["description"],
        "granted": False,
        "recorded_at": None,
    }


def test_get_without_a_published_policy(customer):
    assert customer.get(URL).json()["policy"] is None


def test_post_records_a_change_once_and_answers_the_new_state(customer, policy):
    # the first withdrawal after a grant is a change: 201, one record from the API, audited
    consent_record(user=customer.user, purpose="marketing_email", granted=True, source="signup")
    response = _post(customer, {"purpose": "marketing_email", "granted": False})
    assert response.status_code == 201
    state = {c["purpose"]: c["granted"] for c in response.json()["consents"]}
    assert state["marketing_email"] is False
    latest = ConsentRecord.objects.filter(purpose="marketing_email").first()
    assert (latest.granted, latest.source) == (False, "api")
    assert AuditEvent.objects.filter(resource_type="consent", resource_id=str(latest.pk)).exists()
    # the same again changes nothing: 200 and no record
    assert _post(customer, {"purpose": "marketing_email", "granted": False}).status_code == 200
    assert ConsentRecord.objects.filter(purpose="marketing_email").count() == 2


def test_post_accepts_the_current_policy_version(customer, policy):
    response = _post(customer, {"purpose": "privacy_policy", "granted": True, "policy_version": "2026-01"})
    assert response.status_code == 201
    assert response.json()["policy"]["accepted"] is True
    record = ConsentRecord.objects.get()
    assert (record.policy_version, record.source) == (policy, "api")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"purpose": "no_such_purpose", "granted": True}, "purpose"),
        ({"purpose": "marketing_email"}, "granted"),
        ({"purpose": "marketing_email", "granted": "perhaps"}, "granted"),
        ({"purpose": "privacy_policy", "granted": True}, "policy_version"),
        ({"purpose": "privacy_policy", "granted": False, "policy_version": "2026-01"}, "granted"),
        ({"purpose": "privacy_policy", "granted": True, "policy_version": "x" * 41}, "policy_version"),
    ],
)
def test_bad_input_is_a_validation_error(customer, policy, data, field):
    response = _post(customer, data)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert not ConsentRecord.objects.exists()


def test_an_outdated_policy_version_is_refused_with_its_code(customer, policy):
    policy_version_publish(version="2026-06", published_at=timezone.now())
    response = _post(customer, {"purpose": "privacy_policy", "granted": True, "policy_version": "2026-01"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "stale_policy_version"
    assert "2026-06" in response.json()["error"]["message"]
    assert not ConsentRecord.objects.exists()


def test_accepting_when_no_policy_is_published_is_a_conflict(customer):
    response = _post(customer, {"purpose": "privacy_policy", "granted": True, "policy_version": "2026-01"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_policy"


def test_malformed_json_is_a_400_in_the_error_format(customer):
    response = customer.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_session_posts_need_the_csrf_token(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user())
    response = client.post(URL, {"purpose": "marketing_email", "granted": True}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not ConsentRecord.objects.exists()


def test_get_query_count_does_not_grow_with_history(client, make_user, policy, django_assert_max_num_queries):
    counts = []
    for records in (1, 60):
        person = make_user()
        for n in range(records):
            consent_record(user=person, purpose="beta_program", granted=n % 2 == 0, source="portal")
            consent_record(user=person, purpose="privacy_policy", granted=True, source="portal")
        client.force_login(person)
        with django_assert_max_num_queries(6) as captured:
            assert client.get(URL).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_schema_documents_both_operations(customer):
    schema = customer.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = schema["paths"][URL]
    assert set(operations) >= {"get", "post"}
    assert set(operations["post"]["responses"]) >= {"200", "201"}
    assert "MyConsentInput" in schema["components"]["schemas"]
    assert {"cookieAuth": []} in operations["get"]["security"]
