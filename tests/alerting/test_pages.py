"""The alerts page and the silences page: who may open them, what they show, creating and expiring silences
(audited), and a query count that does not grow with the rules."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.models import AlertEvent, ProbeSample, Silence

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "status"), [("admin", 200), ("support_lead", 200), ("engineer", 200), ("support_rep", 403), (None, 403)]
)
def test_alerts_page_roles(client_as, role, status):
    client = client_as(role)
    assert client.get("/alerts/").status_code == status
    assert client.get("/alerts/silences/").status_code == status


def test_anonymous_is_sent_to_login(client):
    response = client.get("/alerts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_alerts_page_shows_firing_first_no_source_and_probes(client_as_admin, make_rule, scripted_source):
    make_rule(name="Quiet", threshold=100)
    make_rule(name="Loud")
    make_rule(name="Orphan", source="nobody.registered_this")
    ProbeSample.objects.create(probe="database", status="healthy", latency_ms=1.5, detail="reachable")
    scripted_source.value = 10
    alerts_evaluate()
    page = client_as_admin.get("/alerts/").content.decode()
    assert page.index('data-rule="Loud" data-state="firing"') < page.index('data-rule="Quiet"')
    assert 'data-rule="Orphan" data-state="nosource"' in page
    assert "no source" in page
    assert "reachable" in page


def test_alerts_page_query_count_does_not_grow(
    client_as_admin, make_rule, scripted_source, django_assert_max_num_queries
):
    scripted_source.value = 10
    for index in range(3):
        make_rule(name=f"R{index}")
    alerts_evaluate()
    with django_assert_max_num_queries(12) as few:
        client_as_admin.get("/alerts/")
    for index in range(3, 40):
        make_rule(name=f"R{index}")
    alerts_evaluate()
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client_as_admin.get("/alerts/").status_code == 200


def test_create_a_silence_mutes_the_rule(client_as, make_rule, scripted_source):
    client = client_as("engineer")
    make_rule(name="ClerkUnavailable")
    response = client.post(
        "/alerts/silences/",
        {"matchers": "alertname=ClerkUnavailable", "duration_minutes": "60", "reason": "Clerk maintenance window"},
    )
    assert response.status_code == 302
    silence = Silence.objects.get()
    assert silence.matchers == [["alertname", "=", "ClerkUnavailable"]]
    assert silence.created_by == client.user
    assert timedelta(minutes=59) < silence.ends_at - timezone.now() <= timedelta(minutes=60)
    scripted_source.value = 10
    result = alerts_evaluate()
    assert result.notices == []
    assert AlertEvent.objects.get(kind="firing").silenced is True
    assert "(silenced)" in client.get("/alerts/").content.decode()


def test_silence_is_audited(client_as_admin):
    from audit.models import AuditEvent

    client_as_admin.post(
        "/alerts/silences/", {"matchers": "severity=warning", "duration_minutes": "30", "reason": "noise"}
    )
    silence = Silence.objects.get()
    client_as_admin.post(f"/alerts/silences/{silence.pk}/expire/")
    events = list(
        AuditEvent.objects.filter(resource_type="alerting.silence", resource_id=str(silence.pk)).values_list(
            "action", flat=True
        )
    )
    assert sorted(events) == ["create", "update"]


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"matchers": "alertname", "duration_minutes": "60", "reason": "x"}, "matchers"),
        ({"matchers": "alertname=~(", "duration_minutes": "60", "reason": "x"}, "matchers"),
        ({"matchers": "alertname=X", "duration_minutes": "60", "reason": ""}, "reason"),
        ({"matchers": "alertname=X", "duration_minutes": "5", "reason": "x"}, "duration_minutes"),
    ],
)
def test_bad_silences_are_form_errors(client_as_admin, form, field):
    response = client_as_admin.post("/alerts/silences/", form)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not Silence.objects.exists()


def test_expire_ends_the_silence_now(client_as_admin, make_rule, scripted_source):
    make_rule(name="Loud")
    scripted_source.value = 10
    silence = Silence.objects.create(
        matchers=[["alertname", "=", "Loud"]], ends_at=timezone.now() + timedelta(hours=1), reason="test"
    )
    assert alerts_evaluate().notices == []
    response = client_as_admin.post(f"/alerts/silences/{silence.pk}/expire/")
    assert response.status_code == 302
    silence.refresh_from_db()
    assert silence.ends_at <= timezone.now()
    assert [notice.kind for notice in alerts_evaluate().notices] == ["firing"]


def test_expire_needs_post_and_a_role(client_as):
    silence = Silence.objects.create(
        matchers=[["a", "=", "b"]], ends_at=timezone.now() + timedelta(hours=1), reason="r"
    )
    assert client_as("admin").get(f"/alerts/silences/{silence.pk}/expire/").status_code == 405
    assert client_as("support_rep").post(f"/alerts/silences/{silence.pk}/expire/").status_code == 403
    assert Silence.objects.get().ends_at > timezone.now()
