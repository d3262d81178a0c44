"""`{% status_banner %}`: on customer pages, the maintenance notices of firing alerts (e.g. sign-in degraded) and
the open public incidents as banners (two queries, where used)."""

from django import template

from tourbrain_support.alerting.selectors import customer_notices
from tourbrain_support.oncall.selectors import status_banner as open_public_incidents

register = template.Library()


@register.inclusion_tag("oncall/_status_banner.html")
def status_banner() -> dict:
    return {"notices": customer_notices(), "incidents": open_public_incidents()}
