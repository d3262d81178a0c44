"""Audit test fixtures. `audit_dirs`: a fixed signing key and per-test checkpoint/archive directories."""

import base64

import pytest

TEST_SEED = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def audit_dirs(settings, tmp_path):
    settings.AUDIT_SIGNING_KEY = TEST_SEED
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.AUDIT_ARCHIVE_DIR = str(tmp_path / "archive")
    settings.AUDIT_MAX_UNSEALED_SECONDS = 300
    return tmp_path
