"""System log: record_deployment, the token-protected deployment API, and the record after migrations."""

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader
from django.db.models.signals import post_migrate

from audit.models import AppendOnlyError, DeploymentRecord

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit/deployments/"


def test_record_deployment_command(capsys):
    call_command(
        "record_deployment",
        "--version",
        "2.4.0",
        "--deployed-by",
        "ci-bot",
        "--rollback-available",
        "--config-change",
        "FEATURE_X=on",
        "--config-change",
        "workers 4->6",
    )
    record = DeploymentRecord.objects.latest("id")
    assert (record.version, record.deployed_by, record.rollback_available) == ("2.4.0", "ci-bot", True)
    assert record.migration_status == "pending"
    assert record.configuration_changes == ["FEATURE_X=on", "workers 4->6"]
    assert record.source == "command"
    assert record.deployment_id in capsys.readouterr().out
    with pytest.raises(AppendOnlyError):
        record.save()


def test_api_records_a_deployment_with_the_token(client, settings, django_assert_max_num_queries):
    settings.DEPLOY_API_TOKEN = "s3cret-token"
    body = {
        "version": "2.5.0",
        "deployed_by": "github-actions",
        "deployment_id": "run-77",
        "rollback_available": True,
        "migration_status": "complete",
        "configuration_changes": ["SENTRY_TRACES_SAMPLE_RATE=0.1"],
    }
    with django_assert_max_num_queries(3):
        response = client.post(URL, body, content_type="application/json", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 201, response.content
    assert response.json()["deployment_id"] == "run-77"
    record = DeploymentRecord.objects.get(deployment_id="run-77")
    assert (record.migration_status, record.source) == ("complete", "api")


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Token s3cret-token", "Bearer "])
def test_api_refuses_a_missing_or_wrong_token(client, settings, header):
    settings.DEPLOY_API_TOKEN = "s3cret-token"
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    before = DeploymentRecord.objects.count()
    response = client.post(URL, {"version": "1", "deployed_by": "x"}, content_type="application/json", **extra)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert DeploymentRecord.objects.count() == before


def test_api_is_off_without_a_configured_token(client, settings):
    settings.DEPLOY_API_TOKEN = ""
    response = client.post(
        URL, {"version": "1", "deployed_by": "x"}, content_type="application/json", HTTP_AUTHORIZATION="Bearer "
    )
    assert response.status_code == 401


def test_api_rejects_bad_input_with_field_errors(client, settings):
    settings.DEPLOY_API_TOKEN = "t"
    before = DeploymentRecord.objects.count()
    response = client.post(
        URL,
        {"version": "1", "deployed_by": "x", "migration_status": "half-done"},
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer t",
    )
    assert response.status_code == 400
    assert "migration_status" in response.json()["error"]["fields"]
    assert DeploymentRecord.objects.count() == before


def test_a_migrate_run_that_applied_migrations_is_recorded():
    # given the post_migrate signal of the last app after a plan that applied two migrations
    loader = MigrationLoader(None, ignore_no_migrations=True)
    plan = [
        (loader.get_migration("audit", "0001_compliance"), False),
        (loader.get_migration("audit", "0002_events"), False),
    ]
    last_app = list(apps.get_app_configs())[-1]
    before = DeploymentRecord.objects.count()
    # when migrate finishes
    post_migrate.send(sender=last_app, app_config=last_app, verbosity=0, interactive=False, using="default", plan=plan)
    # then the system log has a "complete" row naming the migrations
    record = DeploymentRecord.objects.latest("id")
    assert DeploymentRecord.objects.count() == before + 1
    assert (record.migration_status, record.source, record.deployed_by) == ("complete", "migrate", "migrate")
    assert record.configuration_changes == ["migration audit.0001_compliance", "migration audit.0002_events"]
    # and a run that applied nothing (or a flush) records nothing
    post_migrate.send(sender=last_app, app_config=last_app, verbosity=0, interactive=False, using="default", plan=[])
    assert DeploymentRecord.objects.count() == before + 1
