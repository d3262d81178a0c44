"""Alerting fixtures: a scripted source rules can read, rule factory, a clean slate of rules."""

from datetime import UTC, datetime, timedelta

import pytest

from tourbrain_support.alerting.models import AlertRule
from tourbrain_support.alerting.sources import register_source, unregister_source

# A fixed minute boundary: evaluations step from here with time_machine.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class ScriptedSource:
    """A registered source whose next value the test sets (None: no data)."""

    def __init__(self, name: str):
        self.name = name
        self.value: float | None = None
        self.calls: list[tuple[timedelta, datetime]] = []

    def __call__(self, window: timedelta, now: datetime) -> float | None:
        self.calls.append((window, now))
        return self.value


@pytest.fixture
def scripted_source():
    source = ScriptedSource("test.value")
    register_source(source.name, source, description="set by the test")
    yield source
    unregister_source(source.name)


@pytest.fixture
def no_default_rules(db):
    """The seed's rules (installed by a migration) would be evaluated too; these tests state their own."""
    AlertRule.objects.all().delete()


@pytest.fixture
def make_rule(no_default_rules):
    def factory(**fields) -> AlertRule:
        defaults = {
            "name": f"Rule{AlertRule.objects.count() + 1}",
            "source": "test.value",
            "comparator": ">",
            "threshold": 5,
            "window": timedelta(minutes=1),
            "for_duration": timedelta(0),
            "channels": ["email:ops@example.com"],
            "severity": AlertRule.Severity.WARNING,
        }
        return AlertRule.objects.create(**{**defaults, **fields})

    return factory


@pytest.fixture(autouse=True)
def _fresh_customer_notices():
    """Customer notices are cached across requests (and tests): each test starts and leaves without a copy."""
    from django.core.cache import cache

    from tourbrain_support.alerting.selectors import NOTICES_CACHE_KEY

    cache.delete(NOTICES_CACHE_KEY)
    yield
    cache.delete(NOTICES_CACHE_KEY)
