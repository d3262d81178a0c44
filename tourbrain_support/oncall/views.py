"""On-call pages: who is on call, pages (acknowledge / resolve, also by signed link), incidents, status, launch."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tourbrain_support.api import ApplicationError
from tourbrain_support.oncall import incidents as incident_services
from tourbrain_support.oncall import launch as launch_services
from tourbrain_support.oncall import paging, selectors
from tourbrain_support.oncall.forms import IncidentOpenForm, IncidentUpdateForm, LaunchTickForm
from tourbrain_support.oncall.models import Page
from tourbrain_support.roles import ONCALL_ACT_ROLES, ONCALL_VIEW_ROLES, Role, has_role, role_required

view_required = role_required(*ONCALL_VIEW_ROLES)
act_required = role_required(*ONCALL_ACT_ROLES)
admin_required = role_required(Role.ADMIN)


def _place_errors(form, error: ApplicationError) -> None:
    """A service's error on the fields it names, else above the form."""
    placed = False
    for field, field_errors in (error.fields or {}).items():
        if field in form.fields:
            for message in field_errors:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


@require_GET
@view_required
def oncall(request):
    context = {
        "schedules": selectors.oncall_schedules(),
        "contacts": selectors.escalation_contacts(),
        "pages": list(selectors.page_list(limit=20)),
        "can_act": has_role(request.user, *ONCALL_ACT_ROLES),
    }
    return render(request, "oncall/oncall.html", context)


@require_GET
@view_required
def page_detail(request, pk: int):
    page = _page_or_404(pk)
    context = {"page": page, "can_act": has_role(request.user, *ONCALL_ACT_ROLES)}
    return render(request, "oncall/page_detail.html", context)


def _page_or_404(pk: int) -> Page:
    return get_object_or_404(Page.objects.select_related("acknowledged_by", "resolved_by"), pk=pk)


@require_POST
@act_required
def page_acknowledge(request, pk: int):
    page = paging.page_acknowledge(_page_or_404(pk), request.user, via="page", request=request)
    messages.success(request, f"Page {page.get_status_display().lower()}.")
    return redirect("oncall:page_detail", pk=page.pk)


@require_POST
@act_required
def page_resolve(request, pk: int):
    page = paging.page_resolve(_page_or_404(pk).key, by=request.user, via="page", request=request)
    messages.success(request, "Page resolved.")
    return redirect("oncall:page_detail", pk=page.pk)


@require_POST
@act_required
def page_incident(request, pk: int):
    """Open an (internal) incident for the page's alert, or go to the one already open."""
    incident = incident_services.incident_open_from_page(page=_page_or_404(pk), actor=request.user)
    return redirect("oncall:incident_detail", pk=incident.pk)


@require_http_methods(["GET", "POST"])
def page_link(request, token: str):
    """The signed link of a page's email or SMS: GET shows the buttons (a mail scanner changes nothing)."""
    try:
        page, data = paging.page_link_read(token)
    except ApplicationError as error:
        if error.status == 404:
            raise Http404(error.message) from error
        return render(request, "oncall/page_link.html", {"error": error.message}, status=410)
    if request.method == "POST":
        user = (
            get_user_model().objects.filter(pk=data.get("user"), is_active=True).first() if data.get("user") else None
        )
        name = data.get("name", "")
        if request.POST.get("action") == "resolve":
            page = paging.page_resolve(page.key, by=user, via="signed link", name=name, request=request) or page
        else:
            page = paging.page_acknowledge(page, user, via="signed link", name=name, request=request)
        messages.success(request, f"Page {page.get_status_display().lower()}. Thank you.")
        return redirect("oncall:page_link", token=token)
    return render(request, "oncall/page_link.html", {"page": page, "paged_name": data.get("name", "")})


@require_http_methods(["GET", "POST"])
@view_required
def incidents(request):
    form = IncidentOpenForm()
    status = 200
    if request.method == "POST":
        if not has_role(request.user, *ONCALL_ACT_ROLES):
            raise PermissionDenied
        form = IncidentOpenForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                incident = incident_services.incident_open(
                    title=data["title"],
                    severity=data["severity"],
                    message=data["message"],
                    components=data["components"],
                    is_public=data["is_public"],
                    actor=request.user,
                )
            except ApplicationError as error:
                _place_errors(form, error)
            else:
                messages.success(request, "Incident opened; the update went to Slack #status.")
                return redirect("oncall:incident_detail", pk=incident.pk)
        status = 400
    context = {
        "form": form,
        "incidents": list(selectors.incident_list(limit=50)),
        "can_act": has_role(request.user, *ONCALL_ACT_ROLES),
    }
    return render(request, "oncall/incidents.html", context, status=status)


@require_http_methods(["GET", "POST"])
@view_required
def incident_detail(request, pk: int):
    incident = selectors.incident_detail(pk)
    if incident is None:
        raise Http404
    form = IncidentUpdateForm(initial={"status": incident.status, "is_public": incident.is_public})
    status = 200
    if request.method == "POST":
        if not has_role(request.user, *ONCALL_ACT_ROLES):
            raise PermissionDenied
        form = IncidentUpdateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                incident_services.incident_update(
                    incident=incident,
                    status=data["status"],
                    message=data["message"],
                    is_public=data["is_public"],
                    actor=request.user,
                )
            except ApplicationError as error:
                _place_errors(form, error)
                status = error.status
            else:
                messages.success(request, "Update posted.")
                return redirect("oncall:incident_detail", pk=incident.pk)
        else:
            status = 400
    context = {"incident": incident, "form": form, "can_act": has_role(request.user, *ONCALL_ACT_ROLES)}
    return render(request, "oncall/incident_detail.html", context, status=status)


@require_GET
def status(request):
    """The public status page: components, open public incidents, 90-day uptime."""
    components, open_incidents = selectors.status_page()
    worst = max((row.level for row in components), default=0)
    context = {
        "components": components,
        "incidents": open_incidents,
        "overall": selectors.COMPONENT_STATE[worst] if worst else "All systems operational",
        "uptime_days": selectors.UPTIME_DAYS,
    }
    return render(request, "oncall/status.html", context)


@require_http_methods(["GET", "POST"])
@admin_required
def launch(request):
    form = LaunchTickForm()
    status = 200
    if request.method == "POST" and "send_deliveries" in request.POST:
        stored = launch_services.launch_deliveries_send(actor=request.user, request=request)
        failed = [key for key, row in stored.items() if not row.ok]
        if failed:
            messages.error(request, f"Test deliveries sent; failing: {', '.join(failed)}.")
        else:
            messages.success(request, "Test deliveries sent: all delivered.")
        return redirect("oncall:launch")
    if request.method == "POST":
        form = LaunchTickForm(request.POST)
        if form.is_valid():
            try:
                launch_services.launch_item_tick(
                    key=form.cleaned_data["key"],
                    done=form.cleaned_data["done"],
                    note=form.cleaned_data["note"],
                    actor=request.user,
                    request=request,
                )
            except ApplicationError as error:
                _place_errors(form, error)
            else:
                messages.success(request, "Checklist item updated.")
                return redirect("oncall:launch")
        status = 400
    results = launch_services.launch_results()
    context = {
        "results": results,
        "form": form,
        "automatic_failing": [result for result in results if result.item.automatic and not result.ok],
    }
    return render(request, "oncall/launch.html", context, status=status)
