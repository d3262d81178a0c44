"""Default business calendars, SLA policy v1, teams and routing rules."""

from django.conf import settings
from django.db import migrations


def load_defaults(apps, schema_editor):
    from tickets import sla_defaults

    Calendar = apps.get_model("tickets", "BusinessCalendarConfig")
    Policy = apps.get_model("tickets", "SLAPolicy")
    Target = apps.get_model("tickets", "SLATarget")
    Team = apps.get_model("tickets", "Team")
    Rule = apps.get_model("tickets", "RoutingRule")

    business, _ = Calendar.objects.get_or_create(
        name="Business hours",
        defaults={
            "timezone": settings.BUSINESS_TIMEZONE,
            "weekly_hours": sla_defaults.WEEKDAY_HOURS,
            "holiday_country": settings.BUSINESS_COUNTRY,
        },
    )
    Calendar.objects.get_or_create(name="24/7", defaults={"timezone": "UTC", "always_open": True})
    if not Policy.objects.exists():
        policy = Policy.objects.create(version=1, name="Default", calendar=business, is_active=True)
        Target.objects.bulk_create(Target(policy=policy, **row) for row in sla_defaults.default_targets())
    for slug, name in sla_defaults.TEAMS:
        Team.objects.get_or_create(slug=slug, defaults={"name": name})
    if not Rule.objects.exists():
        for order, type_, priority, tier, team, priority_queue, description in sla_defaults.ROUTING_RULES:
            Rule.objects.create(
                order=order,
                type=type_,
                priority=priority,
                tier=tier,
                team=team,
                priority_queue=priority_queue,
                description=description,
            )


class Migration(migrations.Migration):
    dependencies = [("tickets", "0002_businesscalendarconfig_routingrule_slapolicy_and_more")]

    operations = [migrations.RunPython(load_defaults, migrations.RunPython.noop)]
