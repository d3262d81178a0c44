"""`{% status_banner %}`: open public incidents as a banner on customer pages (one query, where used)."""

from django import template

from tourbrain_support.oncall.selectors import status_banner as open_public_incidents

register = template.Library()


@register.inclusion_tag("oncall/_status_banner.html")
def status_banner() -> dict:
    return {"incidents": open_public_incidents()}
