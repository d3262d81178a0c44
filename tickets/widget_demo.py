"""/widget/demo/: a page dressed as TourBrain's app that embeds the support widget, and the endpoint that mints
its short-lived HS256 demo tokens. Both exist only with DEBUG (`make run`); otherwise they answer 404.

The token endpoint plays the part of TourBrain's backend: in production that backend signs the user's token
(or its auth provider does), never this portal. Here it signs one for a demo customer from `seed_demo`, with
the profile claims TourBrain sends (`sub`, `email`, `name`, `beta`).
"""

from __future__ import annotations

from datetime import timedelta

import jwt
from django.conf import settings
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tickets.demo import CORE_CUSTOMERS, DEMO_CUSTOMERS
from tourbrain_support.models import Membership, User

DEMO_TOKEN_LIFETIME = timedelta(minutes=10)
DEMO_CUSTOMER_EMAILS = [*CORE_CUSTOMERS, *(email for email, *_ in DEMO_CUSTOMERS)]


def _require_debug() -> None:
    # Read per request (not when the URLs load): the demo must vanish whenever DEBUG is off.
    if not settings.DEBUG:
        raise Http404("The widget demo runs only with DEBUG (make run).")


def demo_customers() -> list[User]:
    """The seeded demo customers (in the seed's order) with their organization, in two queries."""
    memberships = Prefetch("memberships", queryset=Membership.objects.select_related("organization"))
    users = User.objects.filter(email__in=DEMO_CUSTOMER_EMAILS, is_active=True).prefetch_related(memberships)
    order = {email: position for position, email in enumerate(DEMO_CUSTOMER_EMAILS)}
    return sorted(users, key=lambda user: order[user.email])


def _organization(user: User):
    membership = next(iter(user.memberships.all()), None)
    return membership.organization if membership else None


def demo_claims(user: User, *, now) -> dict:
    """The claims TourBrain's backend puts in a widget token for this user.

    No `org_id`/`org_name`/`plan`: the API would create (and link) a new organization for an org_id it has not
    seen, beside the seeded one the demo customer already belongs to; without them it uses that membership.
    No `azp` either, so the demo works whatever WIDGET_ALLOWED_ORIGINS lists.
    """
    claims = {
        "sub": f"demo-{user.pk}",
        "email": user.email,
        "name": user.get_full_name(),
        "beta": bool(user.is_beta),
        "iat": now,
        "nbf": now,
        "exp": now + DEMO_TOKEN_LIFETIME,
    }
    if settings.WIDGET_JWT_ISSUER:
        claims["iss"] = settings.WIDGET_JWT_ISSUER
    return claims


def _error(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status)


@require_GET
@never_cache
def demo_page(request: HttpRequest) -> HttpResponse:
    _require_debug()
    customers = demo_customers()
    selected = None
    wanted = request.GET.get("customer", "")
    if wanted.isdigit():
        selected = next((user for user in customers if user.pk == int(wanted)), None)
    selected = selected or (customers[0] if customers else None)
    context = {
        "customers": [(user, _organization(user)) for user in customers],
        "selected": selected,
        "selected_organization": _organization(selected) if selected else None,
        "api_base": request.build_absolute_uri("/api/v1/widget/"),
        "token_url": reverse("tickets:widget_demo_token"),
    }
    return render(request, "widget/demo.html", context)


@require_GET
@never_cache
def demo_token(request: HttpRequest) -> JsonResponse:
    """GET ?customer=<id> -> {"token", "expires_at"}: a 10-minute token for that demo customer."""
    _require_debug()
    if not settings.WIDGET_JWT_SECRET:
        return _error(503, "not_configured", "WIDGET_JWT_SECRET is empty: the demo cannot sign tokens.")
    wanted = request.GET.get("customer", "")
    user = None
    if wanted.isdigit() and len(wanted) < 19:
        user = next((customer for customer in demo_customers() if customer.pk == int(wanted)), None)
    if user is None:
        return _error(400, "invalid", "Choose one of the demo customers.", {"customer": ["Unknown demo customer."]})
    now = timezone.now().replace(microsecond=0)
    claims = demo_claims(user, now=now)
    token = jwt.encode(claims, settings.WIDGET_JWT_SECRET, algorithm="HS256")
    return JsonResponse({"token": token, "expires_at": claims["exp"].isoformat()})
