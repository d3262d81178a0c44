"""Scorecard targets edited by product managers and admins: audited, validated, read by the scorecard."""

import pytest

from audit.models import AuditEvent
from kpis.models import ScorecardTargetSetting
from tests.kpis.test_pages import _rollups
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def test_product_manager_changes_a_target_and_the_scorecard_follows(client_as, django_assert_max_num_queries):
    # given signups rolled up for 3 days (9 signups: "Monthly signups" fails the seed's 50)
    _rollups(3)
    client = client_as(Role.PRODUCT_MANAGER)
    assert 'href="/kpis/targets/"' in client.get("/kpis/?from=2026-05-02&to=2026-05-31").content.decode()
    # when the product manager lowers the target to 5 and onboarding's to 90%
    assert client.post("/kpis/targets/", {"label": "Monthly signups", "threshold": "5"}).status_code == 302
    assert client.post("/kpis/targets/", {"label": "Onboarding completion", "threshold": "90"}).status_code == 302
    # then the scorecard compares against the new thresholds, in the same number of queries
    with django_assert_max_num_queries(8):
        response = client.get("/kpis/?from=2026-05-02&to=2026-05-31")
    rows = {row["target"].label: row for row in response.context["scorecard"]}
    assert rows["Monthly signups"]["status"] == "pass"
    assert rows["Onboarding completion"]["status"] == "fail"  # 85% < 90%
    assert ScorecardTargetSetting.objects.get(label="Onboarding completion").threshold == pytest.approx(0.9)
    # and each change is in the audit trail with the old and new value
    event = AuditEvent.objects.filter(resource_type="kpi_target").order_by("id").first()
    assert event.action == "update"
    assert event.changes["label"] == "Monthly signups"
    assert event.changes["threshold"] == [50, 5.0]
    with django_assert_max_num_queries(6):
        page = client.get("/kpis/targets/").content.decode()
    assert 'value="90.0"' in page


@pytest.mark.parametrize(
    ("label", "threshold", "message"),
    [
        ("Uptime", "120", "A share is between 0% and 100%."),
        ("Churn of the moon", "150", "No measured target has this name."),
        ("Monthly signups", "-1", "Must be at least 0."),
        ("Monthly signups", "lots", "Enter a number."),
    ],
)
def test_bad_targets_are_refused_with_a_form_error(client_as, label, threshold, message):
    response = client_as(Role.ADMIN).post("/kpis/targets/", {"label": label, "threshold": threshold})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ScorecardTargetSetting.objects.exists()
    assert not AuditEvent.objects.filter(resource_type="kpi_target").exists()


@pytest.mark.parametrize("role", [Role.SUPPORT_LEAD, Role.SUPPORT_REP])
def test_only_product_managers_and_admins_edit_targets(client_as, role):
    client = client_as(role)
    assert client.post("/kpis/targets/", {"label": "Uptime", "threshold": "50"}).status_code == 403
    assert not ScorecardTargetSetting.objects.exists()
