"""Alerting's periodic jobs (beat, every minute): run the probes, evaluate the rules."""

from celery import shared_task

from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.probes import probes_run


# Both are safe to run twice: samples are per run, and evaluation changes a rule only from the state it read.
@shared_task(ignore_result=True, soft_time_limit=50, time_limit=55)
def alert_probes_run() -> int:
    return len(probes_run())


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=55)
def alert_rules_evaluate() -> int:
    return alerts_evaluate().changed
