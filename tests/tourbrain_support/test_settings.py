"""Settings come from the environment with safe production defaults (checked in fresh processes)."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'debug': s.DEBUG, 'session_secure': getattr(s, 'SESSION_COOKIE_SECURE', False), "
    "'csrf_secure': getattr(s, 'CSRF_COOKIE_SECURE', False), 'hsts': getattr(s, 'SECURE_HSTS_SECONDS', 0), "
    "'db': s.DATABASES['default']['ENGINE'], 'broker': s.CELERY_BROKER_URL, 'sentry_pii': s.SENTRY_SEND_PII}))"
)


def _settings_in_fresh_process(**overrides: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tourbrain_support.settings"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG"):
        env.pop(name, None)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(  # noqa: S603 - fixed command line
        [sys.executable, "-c", PROBE], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def test_missing_secret_key_outside_debug_is_a_clear_startup_error(tmp_path):
    done = _settings_in_fresh_process(DATA_DIR=str(tmp_path))
    assert done.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off" in done.stderr


@pytest.mark.parametrize("name", ["WIDGET_THROTTLE_IP", "WIDGET_THROTTLE_USER"])
def test_a_malformed_widget_rate_is_a_clear_startup_error(tmp_path, name):
    for rate in ("lots", "100/0min"):
        done = _settings_in_fresh_process(DATA_DIR=str(tmp_path), SECRET_KEY="s3cret", **{name: rate})
        assert done.returncode != 0
        assert f"ImproperlyConfigured: {name} must be a rate like 120/min" in done.stderr
    for rate in ("50/hour", "10/minute", "5/s", "1000/days"):
        accepted = _settings_in_fresh_process(DATA_DIR=str(tmp_path), SECRET_KEY="s3cret", **{name: rate})
        assert accepted.returncode == 0, accepted.stderr


def test_production_defaults_are_safe_and_embedded(tmp_path):
    done = _settings_in_fresh_process(DATA_DIR=str(tmp_path), SECRET_KEY="s3cret")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "debug": False,
        "session_secure": True,
        "csrf_secure": True,
        "hsts": 31536000,
        "db": "django.db.backends.sqlite3",
        "broker": "filesystem://localhost//",
        "sentry_pii": False,
    }
    assert (tmp_path / "broker" / "queue").is_dir()


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("postgres://u:p@db.example:5432/tb", "tourbrain_support.postgresql"),  # Django's, with a cheaper check
        ("sqlite:////tmp/x.db", "django.db.backends.sqlite3"),
    ],
)
def test_database_comes_from_database_url(tmp_path, url, engine):
    done = _settings_in_fresh_process(DATA_DIR=str(tmp_path), DEBUG="1", DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    assert probe["db"] == engine
    assert probe["debug"] is True
    assert probe["hsts"] == 0
