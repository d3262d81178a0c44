"""SLA policies: defaults from the seed, versioned publishing by leads, tickets keep their version."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine

from tests.factories import UserFactory
from tests.tickets.factories import TicketFactory
from tickets import services, sla
from tickets.models import BusinessCalendarConfig, SLAPolicy, SLATarget
from tickets.sla_defaults import default_targets
from tickets.sla_policies import active_policy, calendar_of, targets_for
from tourbrain_support.api import ApplicationError
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_default_policy_matches_the_seed():
    policy = active_policy()
    assert policy.version == 1
    assert policy.targets.count() == 12
    first = {
        tier: targets_for(policy, tier=tier, priority="medium").first_response
        for tier in ("enterprise", "beta", "general")
    }
    assert first == {"enterprise": 60, "beta": 120, "general": 480}
    assert targets_for(policy, tier="beta", priority="critical").first_response == 60
    assert policy.calendar.name == "Business hours"


def test_default_calendars():
    business = calendar_of(BusinessCalendarConfig.objects.get(name="Business hours"))
    assert business.holiday_country == "GB"
    assert business.weekly_hours[0] == ((time(9, 0), time(18, 0)),)
    assert business.weekly_hours[5] == ()
    always = BusinessCalendarConfig.objects.get(name="24/7").as_calendar()
    assert always.always_open
    # Christmas Day is closed in the default calendar
    christmas = datetime(2026, 12, 25, 12, 0, tzinfo=UTC)
    assert not sla.is_open(business, christmas)
    assert sla.is_open(always, christmas)


def _with(rows, cell, **values):
    return [{**row, **values} if (row["tier"], row["priority"]) == cell else row for row in rows]


def test_publishing_a_new_version_leaves_existing_tickets_on_theirs(make_user):
    lead = make_user(Role.SUPPORT_LEAD)
    with time_machine.travel(MONDAY_10, tick=False):
        before = TicketFactory(type="question", priority="medium")  # general: 480
        policy = services.sla_policy_publish(
            actor=lead,
            targets=_with(default_targets(), ("general", "medium"), first_response_minutes=120),
            calendar=BusinessCalendarConfig.objects.get(name="24/7"),
            notes="Faster first response",
        )
        after = TicketFactory(type="question", priority="medium")
    assert (policy.version, policy.is_active) == (2, True)
    assert list(SLAPolicy.objects.filter(is_active=True)) == [policy]
    assert before.sla_policy.version == 1
    assert before.first_response_due_at == MONDAY_10 + timedelta(hours=8)
    assert after.sla_policy == policy
    assert after.first_response_due_at == MONDAY_10 + timedelta(hours=2)  # 24/7 calendar
    # a priority change on the old ticket still uses version 1 (general high: 480)
    with time_machine.travel(MONDAY_10, tick=False):
        services.ticket_set_priority(ticket=before, priority="high", actor=lead)
    before.refresh_from_db()
    assert before.first_response_due_at == MONDAY_10 + timedelta(hours=8)
    assert SLATarget.objects.filter(policy__version=1).count() == 12


def test_the_active_version_is_read_once_per_ticket_and_its_targets_not_again(django_assert_num_queries):
    active_policy()  # warm the process's copy
    with django_assert_num_queries(1):  # the version's fingerprint only
        policy = active_policy()
        assert targets_for(policy, tier="general", priority="medium").first_response == 480
        assert targets_for(policy, tier="enterprise", priority="critical").first_response > 0
    with pytest.raises(ApplicationError) as refused:
        targets_for(policy, tier="general", priority="urgent")
    assert refused.value.code == "no_sla_target"


def test_a_calendar_edited_behind_the_orm_takes_effect_on_the_next_ticket():
    saturday_10 = MONDAY_10 - timedelta(days=2)
    with time_machine.travel(saturday_10, tick=False):
        before = TicketFactory(type="question", priority="medium")  # general: 480 business minutes
        calendar = active_policy().calendar
        # A set-based UPDATE: no save(), no auto_now, no signal.
        BusinessCalendarConfig.objects.filter(pk=calendar.pk).update(always_open=True)
        after = TicketFactory(type="question", priority="medium")
    assert before.first_response_due_at == MONDAY_10 + timedelta(hours=7)  # Monday 09:00 + 8 h
    assert after.first_response_due_at == saturday_10 + timedelta(hours=8)  # open around the clock now
    assert active_policy().calendar.always_open


@pytest.mark.parametrize("role", [Role.SUPPORT_REP, Role.ENGINEER, None])
def test_only_leads_publish(make_user, role):
    actor = make_user(role) if role else UserFactory()
    with pytest.raises(ApplicationError) as error:
        services.sla_policy_publish(actor=actor, targets=default_targets())
    assert error.value.code == "forbidden"
    assert SLAPolicy.objects.count() == 1


@pytest.mark.parametrize(
    ("targets", "code"),
    [
        (default_targets()[:-1], "incomplete_policy"),
        (_with(default_targets(), ("beta", "low"), resolution_minutes=0), "invalid"),
        (_with(default_targets(), ("beta", "low"), resolution_minutes="soon"), "invalid"),
        (_with(default_targets(), ("beta", "low"), tier="vip"), "invalid_choice"),
    ],
)
def test_bad_policies_are_refused_and_nothing_is_written(make_user, targets, code):
    with pytest.raises(ApplicationError) as error:
        services.sla_policy_publish(actor=make_user(Role.SUPPORT_LEAD), targets=targets)
    assert error.value.code == code
    assert SLAPolicy.objects.count() == 1
    assert active_policy().version == 1


def _publish_form(client) -> dict:
    page = client.get("/admin/tickets/slapolicy/add/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form.fields[name].initial for name in form.fields if form.fields[name].initial is not None}
    data["notes"] = "Enterprise first response 45"
    data["enterprise__medium__first_response_minutes"] = 45
    return data


def test_a_lead_publishes_a_version_in_the_admin(client_as):
    lead = client_as(Role.SUPPORT_LEAD, is_staff=True)
    data = _publish_form(lead)
    assert data["beta__critical__first_response_minutes"] == 60  # prefilled from the active version
    response = lead.post("/admin/tickets/slapolicy/add/", data)
    assert response.status_code == 302, response.content[:2000]
    policy = active_policy()
    assert (policy.version, policy.notes) == (2, "Enterprise first response 45")
    assert targets_for(policy, tier="enterprise", priority="medium").first_response == 45
    assert targets_for(policy, tier="general", priority="low").resolution == 8640


def test_only_leads_publish_in_the_admin(client_as, make_user):
    from tickets.admin import SLAPolicyPublishForm

    # a rep is refused the page; any other non-lead who reaches the form gets a form error
    rep = client_as(Role.SUPPORT_REP, is_staff=True)
    assert rep.post("/admin/tickets/slapolicy/add/", {"name": "x"}).status_code == 403
    lead_form = type("LeadForm", (SLAPolicyPublishForm,), {"actor": make_user(Role.SUPPORT_LEAD)})()
    data = {name: field.initial for name, field in lead_form.fields.items() if field.initial is not None}
    engineer_form = type("EngineerForm", (SLAPolicyPublishForm,), {"actor": make_user(Role.ENGINEER)})(data=data)
    assert not engineer_form.is_valid()
    assert "Only a support lead" in engineer_form.non_field_errors()[0]
    assert SLAPolicy.objects.count() == 1
