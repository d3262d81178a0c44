"""The customer portal (/portal/): a customer's tickets (or their organization's, for its admins), a new
ticket, the conversation with replies and attachments, rating a solved ticket, the beta block, and the
ways in: sign-in links by email and beta invitations.

Views stay thin: `tickets.customer_selectors` decide what a customer may see (anything else is 404, as for
a reference that does not exist), `tickets.customer_services` / `tickets.services` write, and the beta
and sign-in-link modules do the rest. Staff opening a customer page are sent to their home page.
"""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.client_ip import client_ip
from knowledge_base.selectors import kb_suggestions
from tickets import beta, beta_invitations, customer_selectors, customer_services, intake, portal_links, services
from tickets.customer_selectors import SCOPE_MINE, SCOPE_ORGANIZATION
from tickets.models import Ticket
from tickets.page_selectors import attachment_hint
from tickets.portal_forms import BetaJoinForm, LoginLinkRequestForm, PortalReplyForm, PortalTicketForm
from tickets.views import place_errors
from tourbrain_support.api import ApplicationError
from tourbrain_support.models import User
from tourbrain_support.roles import is_customer

LOGIN_BACKEND = "audit.security.LockoutModelBackend"
PAGE_SIZE = 50
RATING_CHOICES = [(5, "5: excellent"), (4, "4: good"), (3, "3: OK"), (2, "2: poor"), (1, "1: very poor")]
SUGGESTION_MIN, SUGGESTION_MAX = 2, 200
SUGGESTION_LIMIT = 5


def customer_required(view):
    """Signed-in customers only: anonymous people go to the login page, staff to their own home page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_customer(request.user):
            messages.info(request, "The portal is for customers; here are your areas.")
            return redirect("home")
        return view(request, *args, **kwargs)

    return wrapped


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _error_status(error: ApplicationError) -> int:
    return error.status if 400 <= error.status < 500 else 400


# --- tickets -------------------------------------------------------------------------------------


def _ticket_or_404(request, reference: str):
    intake.intake_file_pending_for(user=request.user)  # a ticket the widget accepted moments ago is there
    return customer_selectors.ticket_for_customer_or_404(request.user, reference)


@require_GET
@customer_required
def ticket_list(request):
    is_org_admin = bool(customer_selectors.admin_organization_ids(request.user))
    scope = SCOPE_ORGANIZATION if request.GET.get("scope") == SCOPE_ORGANIZATION and is_org_admin else SCOPE_MINE
    try:
        page = max(1, min(int(request.GET.get("page", "1")), 1000))
    except ValueError:
        page = 1
    offset = (page - 1) * PAGE_SIZE
    intake.intake_file_pending_for(user=request.user)
    # limit + 1: whether there is a next page without a COUNT over the customer's tickets.
    rows = list(customer_selectors.tickets_for_customer(request.user, scope)[offset : offset + PAGE_SIZE + 1])
    context = {
        "tickets": rows[:PAGE_SIZE],
        "has_next": len(rows) > PAGE_SIZE,
        "page": page,
        "scope": scope,
        "is_org_admin": is_org_admin,
        "beta": beta.beta_profile_for_user(request.user),
    }
    return render(request, "tickets/portal/list.html", context)


def _new_ticket_page(request, form: PortalTicketForm, status: int = 200):
    return render(request, "tickets/portal/new.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@customer_required
def ticket_new(request):
    if request.method == "GET":
        return _new_ticket_page(request, PortalTicketForm())
    form = PortalTicketForm(request.POST)
    if not form.is_valid():
        return _new_ticket_page(request, form, status=400)
    data = form.cleaned_data
    organization = request.user.organizations.order_by("name", "pk").first()
    try:
        ticket = customer_services.ticket_submit(
            requester=request.user,
            organization=organization,
            type=data["type"],
            priority=data["priority"],
            subject=data["subject"],
            description=data["description"],
            reproduction_steps=data["reproduction_steps"],
            browser_info=request.headers.get("User-Agent", "")[:500],
            url=data["url"],
            channel=Ticket.Channel.PORTAL,
        )
    except ApplicationError as error:
        place_errors(form, error)
        return _new_ticket_page(request, form, status=_error_status(error))
    promise = customer_selectors.ticket_first_response_promise(ticket)
    messages.success(request, f"{ticket.reference} filed. We will answer {promise}." if promise else "Ticket filed.")
    return redirect("tickets:portal_detail", reference=ticket.reference)


def _detail_page(request, ticket: Ticket, *, reply_form=None, rating_error: str = "", status: int = 200):
    rating = customer_selectors.ticket_rating(ticket)
    refusal = customer_selectors.rating_refusal(ticket)
    context = {
        "ticket": ticket,
        "conversation": customer_selectors.ticket_public_messages(ticket),
        "reply_form": reply_form or PortalReplyForm(),
        "attachment_hint": attachment_hint(),
        "rating": rating if rating is not None and rating.solved_at == ticket.solved_at else None,
        "can_rate": refusal is None,
        "rating_refusal": refusal[1] if refusal and refusal[0] != "not_solved" else "",
        "rating_choices": RATING_CHOICES,
        "rating_error": rating_error,
        "can_reply": ticket.status != Ticket.Status.CLOSED,
        "promise": "" if ticket.first_responded_at else customer_selectors.ticket_first_response_promise(ticket),
    }
    return render(request, "tickets/portal/detail.html", context, status=status)


@require_GET
@customer_required
def ticket_detail(request, reference: str):
    ticket = _ticket_or_404(request, reference)
    customer_services.ticket_mark_seen(ticket=ticket, user=request.user)
    return _detail_page(request, ticket)


@require_POST
@customer_required
def ticket_reply(request, reference: str):
    ticket = _ticket_or_404(request, reference)
    form = PortalReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return _detail_page(request, ticket, reply_form=form, status=400)
    try:
        data = form.cleaned_data
        services.ticket_reply(ticket=ticket, author=request.user, body=data["body"], attachments=data["attachments"])
    except ApplicationError as error:
        place_errors(form, error)
        return _detail_page(request, ticket, reply_form=form, status=_error_status(error))
    messages.success(request, "Reply sent.")
    return redirect("tickets:portal_detail", reference=ticket.reference)


@require_POST
@customer_required
def ticket_rate(request, reference: str):
    ticket = _ticket_or_404(request, reference)
    raw = request.POST.get("score", "")
    comment = request.POST.get("comment", "")
    if not (raw.isdigit() and len(raw) == 1) or len(comment) > 5000:
        error = "Choose a score from 1 to 5." if len(comment) <= 5000 else "The comment is too long (5000 characters)."
        return _detail_page(request, ticket, rating_error=error, status=400)
    try:
        customer_services.ticket_rate(ticket=ticket, actor=request.user, score=int(raw), comment=comment)
    except ApplicationError as error:
        field_messages = [str(item) for value in (error.fields or {}).values() for item in _as_list(value)]
        message = " ".join(field_messages)
        return _detail_page(request, ticket, rating_error=message or error.message, status=_error_status(error))
    messages.success(request, "Thank you for rating our support.")
    return redirect("tickets:portal_detail", reference=ticket.reference)


@require_GET
@customer_required
def ticket_attachment(request, reference: str, pk: int):
    ticket = _ticket_or_404(request, reference)
    item = customer_selectors.ticket_public_attachment_or_404(ticket, pk)
    response = FileResponse(item.file.open("rb"), as_attachment=True, filename=item.filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@customer_required
def suggestions(request):
    """The widget's suggestions for the portal's new-ticket form (session auth, same JSON and limits)."""
    q = request.GET.get("q", "").strip()
    if not SUGGESTION_MIN <= len(q) <= SUGGESTION_MAX or "\x00" in q:
        message = f"Between {SUGGESTION_MIN} and {SUGGESTION_MAX} characters."
        body = {"error": {"code": "invalid", "message": f"q: {message}", "fields": {"q": [message]}}}
        return JsonResponse(body, status=400)
    results = kb_suggestions(query=q, user=request.user, limit=SUGGESTION_LIMIT, source="portal")
    return JsonResponse({"results": results})


# --- beta ----------------------------------------------------------------------------------------


@require_GET
@customer_required
def beta_call_ics(request):
    profile = beta.beta_profile_of_user(request.user)
    if profile is None or not profile.has_weekly_call:
        raise Http404("No weekly call.")
    people = [person for person in (profile.dedicated_rep, request.user) if person is not None]
    response = HttpResponse(beta.beta_call_ics(profile, attendees=people), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="tourbrain-beta-call.ics"'
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def beta_join(request, token: str):
    if request.user.is_authenticated and not is_customer(request.user):
        # Staff never join the beta (the accept refuses them): like every portal page, send them home.
        messages.info(request, "The portal is for customers; here are your areas.")
        return redirect("home")
    invitation, problem = beta_invitations.beta_invitation_from_token(token)
    user = request.user if request.user.is_authenticated else None
    form = BetaJoinForm(request.POST or None) if user is None else None
    status = 200
    if problem:
        return render(
            request,
            "tickets/portal/beta_join.html",
            {"problem": beta_invitations.INVITATION_PROBLEMS[problem]},
            status=410 if problem in ("expired", "revoked", "accepted") else 400,
        )
    account_exists = user is None and User.objects.filter(email__iexact=invitation.email).exists()
    if request.method == "POST" and (user is not None or form.is_valid()):
        try:
            joined, _ = beta_invitations.beta_invitation_accept(
                token=token,
                user=user,
                name=form.cleaned_data["name"] if form else "",
                password=form.cleaned_data["password"] if form else "",
            )
        except ApplicationError as error:
            if form is not None:
                place_errors(form, error)
            else:
                messages.error(request, error.message)
            status = _error_status(error)
        else:
            if user is None:
                login(request, joined, backend=LOGIN_BACKEND)
            messages.success(request, "Welcome to the TourBrain beta! Your tickets now get priority support.")
            return redirect("tickets:portal")
    elif request.method == "POST":
        status = 400
    context = {
        "invitation": invitation,
        "form": form,
        "account_exists": account_exists,
        "wrong_account": user is not None and user.email.lower() != invitation.email,
        "login_url": f"{reverse('login')}?next={request.path}",
    }
    return render(request, "tickets/portal/beta_join.html", context, status=status)


# --- sign-in links -------------------------------------------------------------------------------


@require_POST
def login_link_request(request):
    """The login page's "email me a link" form: the same answer whether or not the address has an account."""
    form = LoginLinkRequestForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            portal_links.portal_link_request(email=form.cleaned_data["email"], ip=client_ip(request))
        except ApplicationError as error:
            form.add_error("email", error.message)
            status = _error_status(error)
        else:
            messages.success(
                request,
                "If a customer account uses that address, a sign-in link is on its way. It works once, for "
                f"{settings.PORTAL_LOGIN_LINK_MINUTES} minutes.",
            )
            return redirect("login")
    return render(request, "registration/login.html", {"link_form": form, "form": None}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def login_with_link(request, signed: str):
    """GET asks to confirm (mail scanners that open links must not use them up); POST signs in."""
    if request.method == "GET":
        _link, problem = portal_links.portal_link_check(signed)
        context = {"problem": portal_links.LINK_PROBLEMS.get(problem, ""), "link_form": LoginLinkRequestForm()}
        return render(request, "tickets/portal/login_link.html", context, status=410 if problem else 200)
    try:
        user = portal_links.portal_link_consume(signed=signed)
    except ApplicationError as error:
        context = {"problem": error.message, "link_form": LoginLinkRequestForm()}
        return render(request, "tickets/portal/login_link.html", context, status=410)
    login(request, user, backend=LOGIN_BACKEND)
    return redirect("tickets:portal")
