"""`{% maintenance_banner %}`: the notices of firing alerts (e.g. sign-in degraded) on customer pages (cached)."""

from django import template

from tourbrain_support.alerting.selectors import customer_notices

register = template.Library()


@register.inclusion_tag("alerting/_maintenance_banner.html")
def maintenance_banner() -> dict:
    return {"notices": customer_notices()}
