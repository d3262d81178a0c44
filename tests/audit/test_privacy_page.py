"""The account privacy page (/account/privacy/): policy acceptance, consents, the person's own
data-subject requests and their export; bad input is a form error or a 4xx, and the page's query count
does not grow with the person's history."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.gdpr import consent_record, dsr_create, dsr_transition, policy_version_publish
from audit.models import AuditEvent, ConsentRecord, DataSubjectRequest
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

PAGE = "/account/privacy/"


@pytest.fixture
def customer(client_as):
    return client_as(None, email="casey@example.test", name="Casey Customer")


@pytest.fixture
def policy():
    return policy_version_publish(
        version="2026-01",
        published_at=timezone.now() - timedelta(days=1),
        url="https://tourbrain.test/privacy",
        text="We keep your tickets.\n\nWe never sell data.",
    )


def _complete(dsr, admin):
    for status in ("verifying", "in_progress", "completed"):
        dsr = dsr_transition(dsr=dsr, status=status, actor=admin)
    return dsr


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", PAGE),
        ("get", "/account/privacy/erasure/"),
        ("get", "/account/privacy/requests/1/export.json"),
        ("post", "/account/privacy/policy/accept/"),
        ("post", "/account/privacy/consents/"),
        ("post", "/account/privacy/requests/"),
    ],
)
def test_anonymous_visitors_are_sent_to_login(client, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


@pytest.mark.parametrize("url", ["/account/privacy/policy/accept/", "/account/privacy/consents/"])
def test_changes_are_post_only(customer, url):
    assert customer.get(url).status_code == 405


def test_a_post_without_the_csrf_token_is_refused(make_user, policy):
    # given a browser session without the CSRF token (a forged cross-site form)
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user())
    # when it posts, then nothing is recorded
    response = client.post("/account/privacy/consents/", {"purpose": "marketing_email", "action": "grant"})
    assert response.status_code == 403
    assert not ConsentRecord.objects.exists()


@pytest.mark.parametrize("role", [None, Role.SUPPORT_REP, Role.AUDITOR])
def test_every_signed_in_user_has_the_page_and_its_link(client_as, role):
    client = client_as(role)
    response = client.get(PAGE)
    assert response.status_code == 200
    assert f'<a href="{PAGE}" aria-current="page">Privacy</a>' in response.content.decode()


# --- the page -----------------------------------------------------------------------------------


def test_page_shows_the_policy_consents_and_nothing_requested(customer, policy):
    response = customer.get(PAGE)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<h1>My privacy</h1>" in body
    assert "<strong>2026-01</strong>" in body
    assert 'href="https://tourbrain.test/privacy"' in body
    assert "<p>We never sell data.</p>" in body  # the text, escaped and in paragraphs
    assert "Not accepted" in body
    assert 'value="2026-01"' in body
    for label in ("Marketing email", "Product analytics", "Beta programme"):
        assert f'aria-label="Give consent: {label}"' in body
    assert body.count("Not given") == 3
    assert "You have not made any request." in body
    assert "Request a copy of my data" in body


def test_page_without_a_published_policy(customer):
    body = customer.get(PAGE).content.decode()
    assert "No privacy policy has been published yet." in body
    response = customer.post("/account/privacy/policy/accept/", {"policy_version": "2026-01"})
    assert response.status_code == 400
    assert "No privacy policy is published yet." in response.content.decode()
    assert not ConsentRecord.objects.exists()


# --- privacy policy -----------------------------------------------------------------------------


def test_accepting_the_current_policy_records_one_portal_consent(customer, policy):
    # when the person accepts the version the page showed
    response = customer.post("/account/privacy/policy/accept/", {"policy_version": "2026-01"})

    # then one acceptance is recorded from the portal, audited, and the page says so
    assert response.status_code == 302
    assert response.url == PAGE
    record = ConsentRecord.objects.get()
    assert (record.user, record.purpose, record.policy_version, record.granted, record.source) == (
        customer.user,
        "privacy_policy",
        policy,
        True,
        "portal",
    )
    assert AuditEvent.objects.filter(resource_type="consent", resource_id=str(record.pk), actor=customer.user).exists()
    body = customer.get(PAGE).content.decode()
    assert "You accepted this version on" in body
    assert "Accept version 2026-01" not in body

    # and accepting again (a second tab) records nothing more
    response = customer.post("/account/privacy/policy/accept/", {"policy_version": "2026-01"}, follow=True)
    assert "You had already accepted version 2026-01" in response.content.decode()
    assert ConsentRecord.objects.count() == 1


def test_a_new_version_asks_again_and_an_outdated_acceptance_is_refused(customer, policy):
    consent_record(user=customer.user, purpose="privacy_policy", granted=True, source="signup", policy_version=policy)
    newer = policy_version_publish(version="2026-06", published_at=timezone.now())

    # the page names what was accepted and asks for the new version
    body = customer.get(PAGE).content.decode()
    assert "You accepted version 2026-01; version 2026-06 replaces it." in body

    # accepting the version of a page shown before the new one was published is refused with the reason
    response = customer.post("/account/privacy/policy/accept/", {"policy_version": "2026-01"})
    assert response.status_code == 400
    assert "Version 2026-06 of the privacy policy is now current" in response.content.decode()
    assert ConsentRecord.objects.filter(policy_version=newer).count() == 0


@pytest.mark.parametrize("data", [{}, {"policy_version": "no-such-version"}, {"policy_version": "x" * 500}])
def test_tampered_policy_acceptance_is_a_form_error(customer, policy, data):
    response = customer.post("/account/privacy/policy/accept/", data)
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not ConsentRecord.objects.exists()


# --- consents -----------------------------------------------------------------------------------


def test_giving_and_withdrawing_a_consent_records_each_change_once(customer, policy):
    # when the person gives, then withdraws, then withdraws again (a stale page)
    for action in ("grant", "withdraw", "withdraw"):
        response = customer.post("/account/privacy/consents/", {"purpose": "marketing_email", "action": action})
        assert response.status_code == 302

    # then two records (one per change), both audited as the person's own
    records = list(ConsentRecord.objects.order_by("recorded_at", "id"))
    assert [(r.purpose, r.granted, r.source) for r in records] == [
        ("marketing_email", True, "portal"),
        ("marketing_email", False, "portal"),
    ]
    events = AuditEvent.objects.filter(resource_type="consent", actor=customer.user)
    assert events.count() == 2
    # and the page shows it withdrawn, with when, and offers to give it again
    body = customer.get(PAGE).content.decode()
    row = body.split('data-purpose="marketing_email"')[1].split("</tr>")[0]
    assert "Withdrawn" in row
    assert records[1].recorded_at.strftime("%Y-%m-%d %H:%M") in row
    assert 'aria-label="Give consent: Marketing email"' in row


@pytest.mark.parametrize(
    "data",
    [
        {"purpose": "no_such_purpose", "action": "grant"},
        {"purpose": "privacy_policy", "action": "withdraw"},  # accepted per version, not toggled
        {"purpose": "marketing_email", "action": "explode"},
        {"purpose": "marketing_email"},
        {},
    ],
)
def test_tampered_consent_changes_are_a_form_error(customer, data):
    response = customer.post("/account/privacy/consents/", data)
    assert response.status_code == 400
    assert "That consent or change is not offered here." in response.content.decode()
    assert not ConsentRecord.objects.exists()


# --- data-subject requests ----------------------------------------------------------------------


def test_asking_for_a_copy_creates_one_access_request(customer):
    response = customer.post("/account/privacy/requests/", {"kind": "access"}, follow=True)
    body = response.content.decode()
    dsr = DataSubjectRequest.objects.get()
    assert (dsr.kind, dsr.status, dsr.subject, dsr.subject_email) == (
        "access",
        "received",
        customer.user,
        "casey@example.test",
    )
    assert f"We received your request for a copy of your data (#{dsr.pk})" in body
    row = body.split(f'data-request="{dsr.pk}"')[1].split("</tr>")[0]
    assert "Received" in row
    assert dsr.due_at.strftime("%Y-%m-%d") in row
    assert "Request a copy of my data" not in body  # open: the button gives way to a note
    event = AuditEvent.objects.get(resource_type="data_subject_request", resource_id=str(dsr.pk))
    assert (event.action, event.actor) == ("create", customer.user)

    # a second request while the first is open (another tab) is refused with a clear error
    response = customer.post("/account/privacy/requests/", {"kind": "access"})
    assert response.status_code == 400
    assert f"You already asked for a copy of your data on {dsr.received_at:%Y-%m-%d} (request #{dsr.pk}" in (
        response.content.decode()
    )
    assert DataSubjectRequest.objects.count() == 1


def test_a_closed_request_does_not_block_a_new_one(customer, make_user):
    admin = make_user(Role.ADMIN)
    first = dsr_create(kind="access", subject=customer.user, actor=customer.user)
    dsr_transition(dsr=first, status="rejected", actor=admin)
    assert customer.post("/account/privacy/requests/", {"kind": "access"}).status_code == 302
    assert DataSubjectRequest.objects.filter(subject=customer.user).count() == 2


def test_erasure_needs_the_confirmation_step(customer):
    # the link leads to a page that explains erasure and asks to confirm
    page = customer.get("/account/privacy/erasure/").content.decode()
    assert "<h1>Erase my data</h1>" in page
    assert '<label for="id_confirm"><input type="checkbox" name="confirm" id="id_confirm"' in page

    # without the box ticked nothing is requested
    response = customer.post("/account/privacy/requests/", {"kind": "erasure"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Tick the box to confirm that you want your data erased." in body
    assert 'aria-invalid="true"' in body
    assert not DataSubjectRequest.objects.exists()

    # confirmed, one erasure request for the person, due in 30 days
    response = customer.post("/account/privacy/requests/", {"kind": "erasure", "confirm": "on"}, follow=True)
    dsr = DataSubjectRequest.objects.get()
    assert (dsr.kind, dsr.subject) == ("erasure", customer.user)
    assert "We received your erasure request" in response.content.decode()
    assert "Your erasure request is being handled." in response.content.decode()

    # and a second one is refused with the reason, on the confirmation page
    response = customer.post("/account/privacy/requests/", {"kind": "erasure", "confirm": "on"})
    assert response.status_code == 400
    assert f"You already asked for erasure on {dsr.received_at:%Y-%m-%d} (request #{dsr.pk}" in (
        response.content.decode()
    )
    assert DataSubjectRequest.objects.count() == 1


@pytest.mark.parametrize("data", [{"kind": "everything"}, {}, {"kind": ["access", "erasure"]}])
def test_tampered_requests_are_a_form_error(customer, data):
    response = customer.post("/account/privacy/requests/", data)
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not DataSubjectRequest.objects.exists()


def test_only_the_persons_own_requests_are_listed(customer, make_user):
    other = make_user(email="someone.else@example.test")
    theirs = dsr_create(kind="access", subject=other)
    mine = dsr_create(kind="erasure", subject=customer.user, notes="Internal: caller sounded unsure.")
    body = customer.get(PAGE).content.decode()
    assert f'data-request="{mine.pk}"' in body
    assert f'data-request="{theirs.pk}"' not in body
    assert "someone.else@example.test" not in body
    assert "caller sounded unsure" not in body  # staff notes stay on the staff page


# --- export -------------------------------------------------------------------------------------


def test_the_export_of_a_completed_access_request_downloads_for_its_owner_only(customer, make_user, client):
    admin = make_user(Role.ADMIN)
    dsr = dsr_create(kind="access", subject=customer.user, actor=customer.user)
    url = f"/account/privacy/requests/{dsr.pk}/export.json"

    # not ready before completion
    assert customer.get(url).status_code == 404
    assert "Download my data" not in customer.get(PAGE).content.decode()

    _complete(dsr, admin)
    body = customer.get(PAGE).content.decode()
    assert f'href="{url}" download>Download my data (JSON)</a>' in body
    response = customer.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="my-data-request-{dsr.pk}.json"'
    export = json.loads(response.content)
    assert export["profile"]["email"] == "casey@example.test"
    assert "password" not in export["profile"]
    event = AuditEvent.objects.get(action="export", resource_type="data_subject_request", resource_id=str(dsr.pk))
    assert event.actor == customer.user
    assert event.changes["by"] == "subject"

    # another signed-in person gets 404 for the same id, as for an id that does not exist
    client.force_login(make_user(email="nosy@example.test"))
    assert client.get(url).status_code == 404
    assert client.get("/account/privacy/requests/999999/export.json").status_code == 404


def test_erasure_requests_have_no_export(customer, make_user):
    dsr = dsr_create(kind="erasure", subject=customer.user)
    dsr_transition(dsr=dsr, status="rejected", actor=make_user(Role.ADMIN))
    assert customer.get(f"/account/privacy/requests/{dsr.pk}/export.json").status_code == 404


# --- query count --------------------------------------------------------------------------------


def _history(user, *, consents: int, requests: int):
    for n in range(consents):
        consent_record(
            user=user, purpose=["marketing_email", "product_analytics"][n % 2], granted=n % 3 != 0, source="portal"
        )
        consent_record(user=user, purpose="privacy_policy", granted=True, source="portal")
    for _ in range(requests):
        dsr = dsr_create(kind="access", subject=user)
        dsr.status = "completed"
        dsr.completed_at = timezone.now()
        dsr.save(update_fields=["status", "completed_at"])


def test_page_query_count_does_not_grow_with_history(client, make_user, policy, django_assert_max_num_queries):
    counts = []
    for consents, requests in ((1, 1), (40, 25)):
        person = make_user()
        _history(person, consents=consents, requests=requests)
        client.force_login(person)
        with django_assert_max_num_queries(8) as captured:
            response = client.get(PAGE)
        assert response.status_code == 200
        assert response.content.decode().count("Download my data") == requests
        counts.append(len(captured))
    assert counts[0] == counts[1]
