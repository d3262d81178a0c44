"""The beat task: probes first, then the rules read this minute's samples; a service that comes back resolves."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tourbrain_support.alerting.models import AlertState, HttpProbe, ProbeSample
from tourbrain_support.alerting.tasks import alert_tick

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_down_service_fires_and_resolves_when_it_returns(make_rule, http_server, settings):
    settings.CELERY_BROKER_URL = "filesystem://localhost//"
    settings.REDIS_URL = ""
    HttpProbe.objects.create(name="vendor", url=http_server.url("/status"), timeout_seconds=2)
    rule = make_rule(name="VendorDown", source="probe:vendor:down", comparator=">=", threshold=1)
    http_server.script([503])
    alert_tick()
    assert AlertState.objects.get(rule=rule).state == "firing"
    assert ProbeSample.objects.filter(probe="vendor", status="down").count() == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=1, seconds=5)):
        alert_tick()  # a minute later the service answers 200 again
    assert AlertState.objects.get(rule=rule).state == "resolved"
