"""Real browser: an auditor downloads a sealed event's inclusion proof, which verifies offline with the
published public key; before sealing the page says so, and other roles get neither the link nor the file."""

import base64
import json

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from audit.sealing import seal_all
from audit.services import audit_record
from tourbrain_support.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def audit_key(settings, tmp_path):
    # A fixed signing key and per-test checkpoint/archive directories, as in tests/audit (`audit_dirs`).
    settings.AUDIT_SIGNING_KEY = base64.b64encode(bytes(range(32))).decode()
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.AUDIT_ARCHIVE_DIR = str(tmp_path / "archive")
    return tmp_path


def _published_public_key(directory) -> str:
    """What an operator publishes: the output of `manage.py audit_public_key`, saved to a file."""
    path = directory / "audit-public-key.txt"
    with path.open("w") as handle:
        call_command("audit_public_key", stdout=handle)
    return str(path)


def test_auditor_downloads_a_proof_that_verifies_offline(page, login_as, audit_key, capsys):
    # given an audited change that is not sealed yet
    event = audit_record(actor=None, action="update", resource_type="ticket", resource_id="4711")
    auditor = login_as(Role.AUDITOR)

    # when the auditor opens the event's page, then it says it is not sealed and offers no proof
    page.goto(f"/audit/events/{event.pk}/")
    assert page.get_by_role("heading", level=1).inner_text() == f"Event #{event.pk}"
    assert "not sealed yet" in page.locator("dl.details").inner_text()
    assert page.get_by_test_id("proof").count() == 0

    # when the event is sealed and the page reloaded, then the Proof link is there
    seal_all(wait_seconds=5)
    page.reload()
    proof_link = page.get_by_test_id("proof")
    assert proof_link.is_visible()
    assert "checkpoint #" in page.locator("dl.details").inner_text()

    # when the auditor clicks it, then the browser downloads the bundle as a file
    with page.expect_download() as download_info:
        proof_link.click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == f"audit-event-{event.pk}-proof.json"
    saved = audit_key / download.suggested_filename
    download.save_as(saved)
    bundle = json.loads(saved.read_text(encoding="utf-8"))
    assert (bundle["stream"], bundle["row_id"]) == ("events", event.pk)

    # and the download is itself audited as an export by the auditor
    export = AuditEvent.objects.filter(action="export", resource_type="audit_event").latest("id")
    assert (export.actor_id, export.resource_id) == (auditor.pk, str(event.pk))

    # and the file verifies offline against the published public key, without the signing key
    public_key = _published_public_key(audit_key)
    capsys.readouterr()
    call_command("audit_proof", "--verify", str(saved), "--public-key", public_key)
    out = capsys.readouterr().out
    assert f"proof OK: events #{event.pk} is in the signed audit trail" in out
    assert "ok  chain:" in out

    # and a copy with its record altered does not
    bundle["leaf"] = bundle["leaf"].replace('"update"', '"delete"', 1)
    forged = audit_key / "forged-proof.json"
    forged.write_text(json.dumps(bundle), encoding="utf-8")
    with pytest.raises(CommandError, match="proof FAILED"):
        call_command("audit_proof", "--verify", str(forged), "--public-key", public_key)


def test_support_rep_gets_no_proof_link_and_no_proof(page, login_as, audit_key):
    # given a sealed event
    event = audit_record(actor=None, action="update", resource_type="ticket", resource_id="4712")
    seal_all(wait_seconds=5)
    login_as(Role.SUPPORT_REP)

    # when a support rep opens its page, then it is refused and there is no Proof link
    response = page.goto(f"/audit/events/{event.pk}/")
    assert response.status == 403
    assert page.get_by_test_id("proof").count() == 0

    # and the proof URL itself answers 403 with no attachment
    response = page.request.get(f"/audit/events/{event.pk}/proof.json")
    assert response.status == 403
    assert "attachment" not in response.headers.get("content-disposition", "")
    assert '"leaf"' not in response.text()
    assert not AuditEvent.objects.filter(action="export", resource_type="audit_event").exists()
