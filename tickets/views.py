"""Staff pages: the queue, the ticket page and the roadmap.

Views stay thin: forms check shape, `tickets.services` change state (and audit), selectors read.
Every successful POST redirects (post/redirect/get). A service's ApplicationError becomes a form
error or a message; a stale form re-renders the ticket page with the user's text kept.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import FileResponse, Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from knowledge_base.selectors import kb_articles_for_ticket
from tickets import beta, page_selectors, portal_links, selectors, services
from tickets.forms import (
    AssignForm,
    BulkActionForm,
    ComponentForm,
    DuplicateForm,
    PriorityForm,
    QueueFilterForm,
    ReplyForm,
    SavedViewForm,
    StatusForm,
    staff_assignees,
)
from tickets.models import Attachment, SavedView, Ticket
from tourbrain_support.api import ApplicationError
from tourbrain_support.oncall.models import Component
from tourbrain_support.roles import AUDIT_ROLES, QUEUE_ROLES, ROADMAP_ROLES, has_role, role_required

QUEUE_PAGE_SIZE = 50
STALE_MESSAGE = "Someone else changed this ticket after you opened it, so nothing was saved."

BUILTIN_VIEWS = [
    ("All active", {}),
    ("My open", {"view": selectors.VIEW_MY_OPEN}),
    ("Breaching soon", {"view": selectors.VIEW_BREACHING_SOON}),
    ("Breached", {"sla_state": Ticket.SLAState.BREACHED}),
    ("Unassigned", {"assignee": "unassigned"}),
]


queue_role_required = role_required(*QUEUE_ROLES)
roadmap_role_required = role_required(*ROADMAP_ROLES)


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


# --- queue ---------------------------------------------------------------------------------------

SELECT_FILTERS = ("status", "team", "tier", "priority", "type", "sla_state")


def _filter_selects(form: QueueFilterForm) -> list[dict]:
    """The filter selects as plain data: printed by a loop, far cheaper than rendering widget templates."""
    selects = []
    for name in SELECT_FILTERS:
        field = form.fields[name]
        current = str(form.data.get(name, ""))
        selects.append(
            {
                "name": name,
                "label": field.label or name.replace("_", " ").capitalize(),
                "options": [(str(value), label, str(value) == current) for value, label in field.choices],
                "errors": form.errors.get(name, []),
            }
        )
    return selects


@require_GET
@queue_role_required
def queue(request):
    assignees = list(staff_assignees())
    form = QueueFilterForm(request.GET)
    valid = form.is_valid()
    filters = form.filters() if valid else {}
    page_number = (form.cleaned_data.get("page") or 1) if valid else 1
    rows, has_next = [], False
    if valid:
        rows, has_next = page_selectors.queue_page(
            user=request.user, filters=filters, offset=(page_number - 1) * QUEUE_PAGE_SIZE, limit=QUEUE_PAGE_SIZE
        )
    context = {
        "filter_form": form,
        "filter_selects": _filter_selects(form),
        "filters": filters,
        "assignee_options": [(str(person.pk), str(person)) for person in assignees],
        "current_assignee": str(form.data.get("assignee", "")),
        "rows": rows,
        "row_views": [row.display() for row in rows],
        "has_next": has_next,
        "page_number": page_number,
        "next_query": urlencode({**filters, "page": page_number + 1}),
        "previous_query": urlencode({**filters, "page": page_number - 1}),
        "current_query": urlencode(filters),
        "builtin_views": [
            {"name": name, "query": urlencode(spec), "active": spec == filters} for name, spec in BUILTIN_VIEWS
        ],
        "saved_views": [
            {"pk": view.pk, "name": view.name, "query": urlencode(view.filters), "active": view.filters == filters}
            for view in SavedView.objects.filter(owner=request.user)
        ],
        # Bulk status: a ticket never moves back to New.
        "status_choices": [choice for choice in Ticket.Status.choices if choice[0] != Ticket.Status.NEW],
    }
    return render(request, "tickets/queue.html", context, status=200 if valid else 400)


@require_POST
@queue_role_required
def saved_view_create(request):
    form = SavedViewForm(request.POST)
    filter_form = QueueFilterForm(QueryDict(request.POST.get("query", "")[:2000]))
    queue_url = reverse("tickets:queue")
    if not form.is_valid() or not filter_form.is_valid():
        messages.error(request, "The view was not saved: give it a name (up to 80 characters) and valid filters.")
        return redirect(queue_url)
    filters = filter_form.filters()
    view, created = SavedView.objects.update_or_create(
        owner=request.user, name=form.cleaned_data["name"], defaults={"filters": filters}
    )
    messages.success(request, f"View “{view.name}” {'saved' if created else 'updated'}.")
    return redirect(f"{queue_url}?{urlencode(filters)}")


@require_POST
@queue_role_required
def saved_view_delete(request, pk: int):
    view = get_object_or_404(SavedView, pk=pk, owner=request.user)
    view.delete()
    messages.success(request, f"View “{view.name}” deleted.")
    return redirect("tickets:queue")


@require_POST
@queue_role_required
def claim(request):
    fallback = reverse("tickets:queue")
    ticket_id = request.POST.get("ticket_id", "")
    if not ticket_id.isdigit():
        messages.error(request, "Choose a ticket to claim.")
        return redirect(_safe_next(request, fallback))
    ticket = page_selectors.visible_ticket_or_404(user=request.user, pk=int(ticket_id))
    try:
        services.ticket_claim(ticket=ticket, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"You now own {ticket.reference}.")
    return redirect(_safe_next(request, fallback))


@require_POST
@queue_role_required
def bulk(request):
    back = _safe_next(request, reverse("tickets:queue"))
    form = BulkActionForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = "" if field == "__all__" else f"{form.fields[field].label or field.title()}: "
            for error in errors:
                messages.error(request, f"{label}{error}")
        return redirect(back)
    ids = form.cleaned_data["ticket"]
    tickets = page_selectors.visible_tickets(user=request.user, ids=ids)
    if len(tickets) != len(ids):
        messages.error(request, "Some selected tickets are not in your queue; nothing was changed.")
        return redirect(back)
    versions = form.cleaned_data["versions"]
    try:
        if form.cleaned_data["action"] == BulkActionForm.ACTION_ASSIGN:
            assignee = form.cleaned_data["assignee"]
            result = services.ticket_bulk_assign(
                tickets=tickets, assignee=assignee, actor=request.user, expected_versions=versions
            )
            done = f"Assigned {len(result.updated)} of {len(tickets)} selected ticket(s) to {assignee}."
            unchanged = f"already assigned to {assignee}"
        else:
            status = form.cleaned_data["status"]
            result = services.ticket_bulk_set_status(
                tickets=tickets, status=status, actor=request.user, expected_versions=versions
            )
            label = Ticket.Status(status).label
            done = f"Set {len(result.updated)} of {len(tickets)} selected ticket(s) to {label}."
            unchanged = f"already {label}"
    except ApplicationError as error:
        messages.error(request, f"Nothing was changed: {error.message}")
        return redirect(back)
    (messages.success if result.updated else messages.info)(request, done)
    for reason, text in _skip_reasons(unchanged).items():
        references = [skip.reference for skip in result.skipped if skip.reason == reason]
        if references:
            level = messages.info if reason == "unchanged" else messages.warning
            level(request, f"Skipped {len(references)} ({text}): {_reference_list(references)}.")
    return redirect(back)


def _skip_reasons(unchanged: str) -> dict[str, str]:
    return {
        "stale": "changed by someone else after you loaded the queue; reload to see the change",
        "closed": "closed tickets cannot be changed",
        "unchanged": unchanged,
    }


def _reference_list(references: list[str], shown: int = 20) -> str:
    text = ", ".join(references[:shown])
    return f"{text} and {len(references) - shown} more" if len(references) > shown else text


# --- ticket page ---------------------------------------------------------------------------------


def _ticket_for(request, reference: str) -> Ticket:
    ticket = page_selectors.ticket_for_page(user=request.user, reference=reference)
    if ticket is None:
        raise Http404("No such ticket in your queue.")
    return ticket


def place_errors(form, error: ApplicationError) -> None:
    """Show a service's error on the form: on the fields it names, else above the form."""
    placed = False
    for field, field_errors in (error.fields or {}).items():
        if field in form.fields:
            for message in field_errors if isinstance(field_errors, list) else [field_errors]:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


def _ticket_context(request, ticket: Ticket, **overrides) -> dict:
    version = ticket.version
    forms = {
        "reply_form": ReplyForm(initial={"version": version}),
        "status_form": StatusForm(initial={"version": version, "status": ticket.status}),
        "priority_form": PriorityForm(initial={"version": version, "priority": ticket.priority}),
        "assign_form": AssignForm(initial={"version": version, "assignee": ticket.assignee_id}),
        "component_form": ComponentForm(initial={"version": version, "component": ticket.component_id}),
    }
    forms.update(overrides)
    return {
        "ticket": ticket,
        **page_selectors.ticket_page_data(ticket=ticket),
        **forms,
        "stale_error": overrides.get("stale_error", ""),
        "kind_choices": ReplyForm.base_fields["kind"].choices,
        "status_choices": Ticket.Status.choices,
        "priority_choices": Ticket.Priority.choices,
        "component_options": [(str(component.pk), component.name) for component in Component.objects.all()],
        "assignee_options": [(str(person.pk), str(person)) for person in staff_assignees()],
        "attachment_hint": page_selectors.attachment_hint(),
        # The activity log is the auditors' and admins': the link is shown only to those who may open it.
        "audit_url": (
            f"{reverse('audit:events')}?{urlencode({'resource_type': 'ticket', 'resource_id': ticket.pk})}"
            if has_role(request.user, *AUDIT_ROLES)
            else ""
        ),
        # Beta organizations: screen sharing, the dedicated rep and the weekly call, for the rep answering.
        "beta": beta.beta_profile_block(beta.beta_profile_of_organization(ticket.organization_id)),
        "kb_articles": kb_articles_for_ticket(ticket=ticket, user=request.user),
    }


@require_GET
@queue_role_required
def detail(request, reference: str):
    ticket = _ticket_for(request, reference)
    return render(request, "tickets/detail.html", _ticket_context(request, ticket))


@require_GET
@queue_role_required
def attachment(request, reference: str, pk: int):
    """Download a conversation attachment; only for staff who may open the ticket."""
    ticket = _ticket_for(request, reference)
    item = get_object_or_404(Attachment, pk=pk, message__ticket=ticket)
    response = FileResponse(item.file.open("rb"), as_attachment=True, filename=item.filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _rerender(request, reference: str, form_name: str, form, error: ApplicationError | None = None):
    """The ticket page again, with the submitted form kept (typed text and choices) and its errors."""
    ticket = _ticket_for(request, reference)
    overrides = {}
    status = 400
    if error is not None and error.code == "stale":
        # Keep what the user typed; the fresh version lets them resubmit after reading the changes.
        data = form.data.copy()
        data["version"] = str(ticket.version)
        form = type(form)(data)
        form.is_valid()
        overrides["stale_error"] = STALE_MESSAGE
        status = 409
    elif error is not None:
        place_errors(form, error)
        status = error.status if 400 <= error.status < 500 else 400
    overrides[form_name] = form
    return render(request, "tickets/detail.html", _ticket_context(request, ticket, **overrides), status=status)


@require_POST
@queue_role_required
def reply(request, reference: str):
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return _rerender(request, reference, "reply_form", form)
    ticket = _ticket_for(request, reference)
    data = form.cleaned_data
    note = data["kind"] == ReplyForm.KIND_NOTE
    service = services.ticket_add_note if note else services.ticket_reply
    try:
        service(
            ticket=ticket,
            author=request.user,
            body=data["body"],
            attachments=data["attachments"],
            expected_version=data["version"],
        )
    except ApplicationError as error:
        return _rerender(request, reference, "reply_form", form, error)
    messages.success(request, "Internal note added." if note else "Reply sent to the customer.")
    return redirect("tickets:detail", reference=ticket.reference)


def _change(request, reference: str, form_class, form_name: str, apply, success: str):
    form = form_class(request.POST)
    if not form.is_valid():
        return _rerender(request, reference, form_name, form)
    ticket = _ticket_for(request, reference)
    try:
        apply(ticket, form.cleaned_data)
    except ApplicationError as error:
        return _rerender(request, reference, form_name, form, error)
    messages.success(request, success)
    return redirect("tickets:detail", reference=ticket.reference)


@require_POST
@queue_role_required
def change_status(request, reference: str):
    def apply(ticket, data):
        services.ticket_set_status(
            ticket=ticket, status=data["status"], actor=request.user, expected_version=data["version"]
        )

    return _change(request, reference, StatusForm, "status_form", apply, "Status changed.")


@require_POST
@queue_role_required
def change_priority(request, reference: str):
    def apply(ticket, data):
        services.ticket_set_priority(
            ticket=ticket, priority=data["priority"], actor=request.user, expected_version=data["version"]
        )

    return _change(request, reference, PriorityForm, "priority_form", apply, "Priority changed.")


@require_POST
@queue_role_required
def change_component(request, reference: str):
    def apply(ticket, data):
        services.ticket_set_component(
            ticket=ticket, component=data["component"], actor=request.user, expected_version=data["version"]
        )

    return _change(request, reference, ComponentForm, "component_form", apply, "Component changed.")


@require_POST
@queue_role_required
def assign(request, reference: str):
    def apply(ticket, data):
        services.ticket_assign(
            ticket=ticket, assignee=data["assignee"], actor=request.user, expected_version=data["version"]
        )

    return _change(request, reference, AssignForm, "assign_form", apply, "Assignment changed.")


@require_POST
@queue_role_required
def portal_link(request, reference: str):
    """Email the ticket's customer a sign-in link for the portal (they follow the ticket there)."""
    ticket = _ticket_for(request, reference)
    if ticket.user is None:
        messages.error(request, "This ticket has no customer account to send a link to.")
        return redirect("tickets:detail", reference=ticket.reference)
    try:
        portal_links.ticket_portal_link(user=ticket.user, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Sign-in link emailed to {ticket.user.email}.")
    return redirect("tickets:detail", reference=ticket.reference)


# --- roadmap -------------------------------------------------------------------------------------


def _roadmap_page(request, merge_form: DuplicateForm, status: int = 200):
    groups, truncated = page_selectors.roadmap_groups()
    context = {
        "groups": groups,
        "truncated": truncated,
        "merge_form": merge_form,
        "can_open_tickets": has_role(request.user, *QUEUE_ROLES),
    }
    return render(request, "tickets/roadmap.html", context, status=status)


@require_GET
@roadmap_role_required
def roadmap(request):
    return _roadmap_page(request, DuplicateForm())


@require_POST
@roadmap_role_required
def roadmap_merge(request):
    form = DuplicateForm(request.POST)
    if form.is_valid():
        found = {}
        for field in ("duplicate", "original"):
            found[field] = Ticket.objects.by_reference(form.cleaned_data[field]).first()
            if found[field] is None:
                form.add_error(field, "No ticket has this reference.")
        if not form.errors:
            try:
                services.ticket_merge_duplicate(
                    duplicate=found["duplicate"], original=found["original"], actor=request.user
                )
            except ApplicationError as error:
                for field, field_errors in (error.fields or {}).items():
                    for message in field_errors:
                        form.add_error(field if field in form.fields else None, message)
                if not error.fields:
                    form.add_error(None, error.message)
            else:
                duplicate, original = found["duplicate"], found["original"]
                messages.success(request, f"{duplicate.reference} is now a duplicate of {original.reference}.")
                return redirect("tickets:roadmap")
    return _roadmap_page(request, form, status=400)
