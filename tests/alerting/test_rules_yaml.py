"""Rules as Prometheus-style YAML: export, import (create/update by name, all or nothing), the command and the
admin's import page and export action."""

from datetime import timedelta

import pytest
import yaml
from django.core.management import CommandError, call_command

from tourbrain_support.alerting.models import AlertRule
from tourbrain_support.alerting.rules_yaml import parse_duration, rules_export, rules_import
from tourbrain_support.api import ApplicationError

pytestmark = pytest.mark.django_db

RULES = """
groups:
- name: tourbrain
  rules:
  - alert: HighErrorRate
    expr: kpis.error_rate[5m] > 0.05
    for: 2m
    labels: {severity: critical, team: engineering}
    annotations:
      summary: More than 5% of requests failed
      runbook: https://runbooks.example/errors
      channels: slack:alerts, oncall
      recovery_threshold: "0.03"
      nodata_after: 10m
      repeat_interval: 1h
  - alert: ClerkUnavailable
    expr: probe:clerk:down >= 1
"""


def test_import_creates_rules_with_every_field(no_default_rules):
    assert rules_import(text=RULES) == (2, 0)
    rule = AlertRule.objects.get(name="HighErrorRate")
    assert (rule.source, rule.window, rule.comparator, rule.threshold) == (
        "kpis.error_rate",
        timedelta(minutes=5),
        ">",
        0.05,
    )
    assert rule.for_duration == timedelta(minutes=2)
    assert rule.severity == "critical"
    assert rule.labels == {"team": "engineering"}
    assert rule.channels == ["slack:alerts", "oncall"]
    assert (rule.recovery_threshold, rule.nodata_after, rule.repeat_interval) == (
        0.03,
        timedelta(minutes=10),
        timedelta(hours=1),
    )
    clerk = AlertRule.objects.get(name="ClerkUnavailable")
    assert (clerk.window, clerk.severity, clerk.for_duration) == (timedelta(minutes=1), "warning", timedelta(0))


def test_export_then_import_round_trips(no_default_rules):
    rules_import(text=RULES)
    exported = rules_export()
    document = yaml.safe_load(exported)
    assert document["groups"][0]["rules"][1]["expr"] == "kpis.error_rate[5m] > 0.05"
    assert document["groups"][0]["rules"][1]["for"] == "2m"
    before = list(AlertRule.objects.order_by("name").values())
    assert rules_import(text=exported) == (0, 2)
    after = list(AlertRule.objects.order_by("name").values())
    strip = lambda rows: [{k: v for k, v in row.items() if k != "updated_at"} for row in rows]  # noqa: E731
    assert strip(after) == strip(before)


def test_import_updates_by_name_and_keeps_other_rules(no_default_rules):
    AlertRule.objects.create(name="Other", source="x", threshold=1)
    AlertRule.objects.create(name="ClerkUnavailable", source="probe:clerk:down", threshold=5)
    assert rules_import(text=RULES) == (1, 1)
    assert AlertRule.objects.get(name="ClerkUnavailable").threshold == 1
    assert AlertRule.objects.filter(name="Other").exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("groups: [", "Not valid YAML"),
        ("rules: []", "Expected a mapping with `groups:`"),
        ("groups:\n- rules:\n  - alert: X\n    expr: error_rate is high\n", "`expr` must read"),
        ("groups:\n- rules:\n  - alert: X\n    expr: a > 1\n    for: soon\n", "not a duration"),
        ("groups:\n- rules:\n  - alert: X\n    expr: a > 1\n    labels: {severity: page}\n", "severity must be"),
        ("groups:\n- rules:\n  - alert: X\n    expr: a > 1\n  - alert: X\n    expr: a > 2\n", "appears twice"),
        ("groups:\n- rules:\n  - alert: X\n    expr: a > 1\n    annotations: {channels: pager}\n", "not a channel"),
    ],
)
def test_bad_files_import_nothing(no_default_rules, text, problem):
    with pytest.raises(ApplicationError) as caught:
        rules_import(text=text)
    assert problem in caught.value.message + " ".join(caught.value.fields.get("rules", []))
    assert not AlertRule.objects.exists()


def test_a_bad_rule_rolls_back_the_good_ones(no_default_rules):
    text = RULES + "  - alert: Broken\n    expr: nonsense\n"
    with pytest.raises(ApplicationError):
        rules_import(text=text)
    assert not AlertRule.objects.exists()


def test_parse_duration():
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("")


def test_command_exports_and_imports(no_default_rules, tmp_path):
    source = tmp_path / "rules.yml"
    source.write_text(RULES)
    call_command("alert_rules", "import", str(source))
    target = tmp_path / "out.yml"
    call_command("alert_rules", "export", str(target))
    assert "alert: HighErrorRate" in target.read_text()
    source.write_text("groups: [")
    with pytest.raises(CommandError, match="Not valid YAML"):
        call_command("alert_rules", "import", str(source))


def test_the_seed_rules_are_installed():
    names = set(AlertRule.objects.values_list("name", flat=True))
    assert {
        "DatabaseHealthFailing",
        "ClerkUnavailable",
        "OpenAIRateLimitExceeded",
        "HighErrorRate",
        "SlowResponses",
        "SignupFailuresHigh",
        "CriticalBugFromBetaUser",
    } <= names
    database = AlertRule.objects.get(name="DatabaseHealthFailing")
    assert database.expression == "probe:database:down[1m] >= 1"
    assert database.for_duration == timedelta(minutes=2)


def test_admin_import_page_and_export(client_as_admin, no_default_rules):
    page = client_as_admin.get("/admin/alerting/alertrule/import/")
    assert page.status_code == 200
    assert "Import YAML" in client_as_admin.get("/admin/alerting/alertrule/").content.decode()
    bad = client_as_admin.post("/admin/alerting/alertrule/import/", {"text": "groups: ["})
    assert bad.status_code == 400
    assert "Not valid YAML" in bad.content.decode()
    done = client_as_admin.post("/admin/alerting/alertrule/import/", {"text": RULES})
    assert done.status_code == 302
    assert AlertRule.objects.count() == 2
    from audit.models import AuditEvent

    audited = AuditEvent.objects.get(resource_type="alerting.alertrule")
    assert audited.actor_id == client_as_admin.user.pk
    exported = client_as_admin.get("/admin/alerting/alertrule/export/")
    assert exported["Content-Type"] == "application/yaml"
    assert "kpis.error_rate[5m] > 0.05" in exported.content.decode()
    rule = AlertRule.objects.get(name="ClerkUnavailable")
    action = client_as_admin.post(
        "/admin/alerting/alertrule/", {"action": "export_yaml", "_selected_action": [rule.pk]}
    )
    assert "ClerkUnavailable" in action.content.decode()
    assert "HighErrorRate" not in action.content.decode()


def test_admin_import_is_for_those_who_may_edit_rules(client_as):
    client = client_as("engineer")
    assert client.get("/admin/alerting/alertrule/import/").status_code == 403
    assert "Import YAML" not in client.get("/admin/alerting/alertrule/").content.decode()


def test_the_admin_refuses_unusable_channels(client_as_admin, no_default_rules):
    form = {
        "name": "Bad",
        "source": "probe:database:down",
        "comparator": ">=",
        "threshold": "1",
        "window": "00:01:00",
        "for_duration": "00:00:00",
        "severity": "warning",
        "channels": '["alerts"]',
        "labels": "{}",
        "enabled": "on",
        "state-TOTAL_FORMS": "0",
        "state-INITIAL_FORMS": "0",
        "state-MIN_NUM_FORMS": "0",
        "state-MAX_NUM_FORMS": "1",
    }
    response = client_as_admin.post("/admin/alerting/alertrule/add/", form)
    assert response.status_code == 200
    assert "is not a channel" in response.content.decode()
    form["channels"] = '["slack:alerts", "email:ops@example.com", "oncall"]'
    assert client_as_admin.post("/admin/alerting/alertrule/add/", form).status_code == 302
    assert AlertRule.objects.get(name="Bad").channels == ["slack:alerts", "email:ops@example.com", "oncall"]
