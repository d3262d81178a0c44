"""Deployment freeze: Vercel's signed webhook records deployments and freezes shipping when a production
deploy fails or is rolled back; CI reads the freeze with the deploy token; a person lifts it with a note."""

import hashlib
import hmac
import json

import pytest

from audit.models import AuditEvent, DeploymentFreeze, DeploymentRecord

pytestmark = pytest.mark.django_db

WEBHOOK = "/api/v1/deployments/vercel/"
FREEZE = "/api/v1/deployments/freeze"
SECRET = "vercel-webhook-secret"
TOKEN = "deploy-token-for-tests"


@pytest.fixture(autouse=True)
def secrets(settings):
    settings.VERCEL_WEBHOOK_SECRET = SECRET
    settings.DEPLOY_API_TOKEN = TOKEN


def _event(kind: str, deployment_id: str = "dpl_89qyp1cskzkLrVicDaZoDbjyHuDJ", target: str = "production", **meta):
    # The shape of Vercel's webhook body (id, type, createdAt, payload.deployment, payload.target).
    return {
        "id": f"evt_{kind}_{deployment_id}",
        "type": kind,
        "createdAt": 1765000000000,
        "payload": {
            "team": {"id": "team_1"},
            "user": {"id": "user_1"},
            "deployment": {
                "id": deployment_id,
                "url": "tourbrain-abc123.vercel.app",
                "name": "tourbrain",
                "meta": {"githubCommitSha": "4b825dc6", "githubCommitAuthorLogin": "sam", **meta},
            },
            "target": target,
            "project": {"id": "prj_1"},
        },
    }


def _vercel_records():
    # The test database also holds the "after migrations" record of its own set-up.
    return DeploymentRecord.objects.filter(source=DeploymentRecord.Source.VERCEL)


def _post(client, event, *, secret: str = SECRET, body: bytes | None = None):
    body = json.dumps(event).encode() if body is None else body
    signature = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return client.post(WEBHOOK, body, content_type="application/json", HTTP_X_VERCEL_SIGNATURE=signature)


def _freeze(client, method: str = "get", token: str = TOKEN, **data):
    call = getattr(client, method)
    return call(
        FREEZE,
        json.dumps(data) if data else None,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_a_failed_production_deploy_is_recorded_and_freezes_shipping_once(client):
    # when Vercel reports a production deployment error, twice (a resent event)
    first = _post(client, _event("deployment.error"))
    again = _post(client, _event("deployment.error"))

    # then it is in the system log once, failed, and shipping is frozen with the deployment named
    assert (first.json(), again.json()) == ({"outcome": "frozen"}, {"outcome": "duplicate"})
    record = _vercel_records().get()
    assert (record.deployment_id, record.migration_status, record.version, record.deployed_by) == (
        "dpl_89qyp1cskzkLrVicDaZoDbjyHuDJ",
        "failed",
        "4b825dc6",
        "sam",
    )
    answer = _freeze(client).json()
    assert answer["frozen"] is True
    assert "dpl_89qyp1cskzkLrVicDaZoDbjyHuDJ" in answer["reason"]
    assert answer["source"] == "vercel"
    assert AuditEvent.objects.filter(resource_type="deployment_freeze", action="create").count() == 1


def test_a_rollback_freezes_and_a_second_failure_keeps_the_first_freeze(client):
    _post(client, _event("deployment.promoted", deployment_id="dpl_old", action="rollback"))
    _post(client, _event("deployment.canceled", deployment_id="dpl_next"))
    freeze = DeploymentFreeze.objects.get(is_active=True)
    assert "dpl_old" in freeze.reason
    assert "rolled back" in freeze.reason
    assert DeploymentFreeze.objects.count() == 1
    assert _vercel_records().filter(migration_status="failed").count() == 2


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_event("deployment.succeeded"), id="success"),
        pytest.param(_event("deployment.error", target="preview"), id="preview-failure"),
    ],
)
def test_successes_and_preview_failures_are_recorded_without_a_freeze(client, event):
    assert _post(client, event).json() == {"outcome": "recorded"}
    assert _vercel_records().count() == 1
    assert _freeze(client).json()["frozen"] is False


def test_other_event_types_are_ignored(client):
    assert _post(client, _event("project.created")).json() == {"outcome": "ignored"}
    assert not _vercel_records().exists()


@pytest.mark.parametrize(
    ("secret", "body", "status", "code"),
    [
        ("another-secret", None, 401, "not_authenticated"),
        (SECRET, b"{not json", 400, "parse_error"),
        (SECRET, b'{"type": "deployment.error"}', 400, "parse_error"),
        (SECRET, b"[1, 2, 3]", 400, "parse_error"),
        (SECRET, b" " * (1024 * 1024 + 1), 413, "request_too_large"),
    ],
)
def test_unsigned_or_malformed_events_are_refused_and_change_nothing(client, secret, body, status, code):
    response = _post(client, _event("deployment.error"), secret=secret, body=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not _vercel_records().exists()
    assert not DeploymentFreeze.objects.exists()


def test_the_webhook_does_not_exist_until_its_secret_is_set(client, settings):
    settings.VERCEL_WEBHOOK_SECRET = ""
    assert _post(client, _event("deployment.error"), secret="").status_code == 404


def test_ci_sets_reads_and_lifts_a_freeze_with_the_deploy_token(client):
    # when CI turns a freeze on, then on again, then a person lifts it with a note
    created = _freeze(client, "post", reason="Launch day: no deploys")
    repeated = _freeze(client, "post", reason="Another reason")
    lifted = _freeze(client, "delete", note="Launch went fine")

    # then the first call created it, the second kept it, and the lift turned it off, each audited
    assert (created.status_code, repeated.status_code, lifted.status_code) == (201, 200, 200)
    assert repeated.json()["reason"] == "Launch day: no deploys"
    assert lifted.json()["frozen"] is False
    freeze = DeploymentFreeze.objects.get()
    assert (freeze.is_active, freeze.lift_note, freeze.source) == (False, "Launch went fine", "api")
    operations = list(AuditEvent.objects.filter(resource_type="deployment_freeze").values_list("action", flat=True))
    assert sorted(operations) == ["create", "update"]


@pytest.mark.parametrize("token", ["", "wrong"])
def test_the_freeze_answers_only_the_deploy_token(client, token):
    assert _freeze(client, token=token).status_code == 401
    assert _freeze(client, "post", token=token, reason="x").status_code == 401
    assert not DeploymentFreeze.objects.exists()


def test_setting_or_lifting_without_a_reason_is_a_400(client):
    assert _freeze(client, "post").status_code == 400
    assert _freeze(client, "delete").status_code == 400


def test_ci_can_read_it_with_or_without_the_trailing_slash(client):
    assert client.get(FREEZE + "/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()["frozen"] is False
