"""Alerting's periodic job (beat, every minute): run the probes, then evaluate the rules on what they found.

One task for both, in that order, so a rule over a one-minute window always sees the sample of this minute
(two beat entries would race). Each part is also a task of its own, for running by hand.
"""

import logging

from celery import shared_task

from tourbrain_support.alerting.evaluation import alerts_evaluate
from tourbrain_support.alerting.probes import probes_run

logger = logging.getLogger(__name__)


# Safe to run twice: samples are per run, and evaluation changes a rule only from the state it read.
@shared_task(ignore_result=True, soft_time_limit=50, time_limit=55)
def alert_tick() -> int:
    try:
        probes_run()
    except Exception:  # the rules on other sources must still be evaluated
        logger.exception("probe run failed")
    return alerts_evaluate().changed


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=55)
def alert_probes_run() -> int:
    return len(probes_run())


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=55)
def alert_rules_evaluate() -> int:
    return alerts_evaluate().changed
