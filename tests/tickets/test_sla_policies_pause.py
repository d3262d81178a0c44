"""Pause/resume against a minute-stepping oracle: the due time equals the target counted in open minutes
of the business calendar with the paused span removed (hypothesis draws creation, pause and resume)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.factories import UserFactory
from tests.tickets.factories import TicketFactory
from tickets import services, sla
from tickets.models import BusinessCalendarConfig
from tickets.sla_policies import calendar_of
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

BASE = datetime(2026, 3, 23, 0, 0, tzinfo=UTC)  # a week spanning the London DST change (29 March)
MINUTE = timedelta(minutes=1)
TARGET = 120  # beta, medium: first response


def oracle_due(calendar, created: datetime, paused: datetime, resumed: datetime) -> datetime:
    """Step minute by minute, counting open minutes outside [paused, resumed)."""
    instant, counted = created, 0
    while counted < TARGET:
        if sla.is_open(calendar, instant) and not paused <= instant < resumed:
            counted += 1
        instant += MINUTE
    return instant


def open_minutes(calendar, start: datetime, end: datetime) -> int:
    instant, counted = start, 0
    while instant < end:
        counted += sla.is_open(calendar, instant)
        instant += MINUTE
    return counted


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    created=st.integers(0, 8 * 24 * 60),
    pause_after=st.integers(0, 2 * 24 * 60),
    pause_for=st.integers(0, 4 * 24 * 60),
    resume_by_customer=st.booleans(),
)
def test_pause_resume_matches_the_oracle(make_user, created, pause_after, pause_for, resume_by_customer):
    calendar = calendar_of(BusinessCalendarConfig.objects.get(name="Business hours"))
    created_at = BASE + created * MINUTE
    paused_at = created_at + pause_after * MINUTE
    resumed_at = paused_at + pause_for * MINUTE
    assume(open_minutes(calendar, created_at, paused_at) < TARGET)  # still running when paused
    rep = make_user(Role.SUPPORT_REP)
    with time_machine.travel(created_at, tick=False) as clock:
        ticket = TicketFactory(requester=UserFactory(is_beta=True), type="question", priority="medium")
        clock.move_to(paused_at)
        services.ticket_set_status(ticket=ticket, status="pending", actor=rep)
        clock.move_to(resumed_at)
        if resume_by_customer:
            services.ticket_reply(ticket=ticket, author=ticket.user, body="Here you go")
        else:
            services.ticket_set_status(ticket=ticket, status="open", actor=rep)
    ticket.refresh_from_db()
    assert ticket.first_response_due_at == oracle_due(calendar, created_at, paused_at, resumed_at)
    assert ticket.next_due_at == ticket.first_response_due_at
