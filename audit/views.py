"""Audit pages: the activity log review (filter, detail, export), security metrics and lockouts,
backups, and GDPR requests. Auditors read everything; only admins change anything (403 otherwise)."""

from __future__ import annotations

import csv
import json
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from audit import backups, gdpr, proofs, security, selectors
from audit.forms import (
    DataSubjectRequestForm,
    EventFilterForm,
    SecurityWindowForm,
    TransitionForm,
)
from audit.models import AuditEvent, CrossBorderTransfer, DataSubjectRequest, LoginLockout
from audit.services import audit_record
from tourbrain_support.api import ApplicationError
from tourbrain_support.roles import AUDIT_ROLES, Role, has_role, role_required

PAGE_SIZE = 50
EXPORT_FIELDS = [
    "id",
    "occurred_at",
    "actor_id",
    "actor_email",
    "organization_id",
    "organization",
    "action",
    "resource_type",
    "resource_id",
    "success",
    "request_id",
    "changes",
]

audit_read = role_required(*AUDIT_ROLES)
admin_write = role_required(Role.ADMIN)


def _int_param(request, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


# --- review -------------------------------------------------------------------------------------


def _event_rows(events, event_url: str) -> str:
    """The table rows in Python: the hot page renders 50 rows, and one node per row beats ~20 per row."""
    rows = []
    for e in events:
        actor = (
            format_html('<a href="?actor={}">{}</a>', e.actor_id, e.actor.email if e.actor else e.actor_id)
            if e.actor_id
            else mark_safe('<span class="muted">system</span>')
        )
        org = (
            format_html(
                '<a href="?organization={}">{}</a>',
                e.organization_id,
                e.organization.name if e.organization else e.organization_id,
            )
            if e.organization_id
            else ""
        )
        resource = format_html(
            '<a href="?{}">{}{}</a>',
            urlencode({"resource_type": e.resource_type, "resource_id": e.resource_id}),
            e.resource_type,
            f":{e.resource_id}" if e.resource_id else "",
        )
        result = (
            mark_safe('<span class="badge ok">ok</span>')
            if e.success
            else mark_safe('<span class="badge breached">failed</span>')
        )
        rows.append(
            format_html(
                '<tr><td><a href="{}{}/">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
                "<td>{}</td></tr>",
                event_url,
                e.pk,
                e.pk,
                e.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                actor,
                org,
                e.get_action_display(),
                resource,
                result,
            )
        )
    return mark_safe("\n".join(rows))  # noqa: S308 - every piece went through format_html


@require_GET
@audit_read
def event_list(request):
    form = EventFilterForm(request.GET or None)
    filters = form.filters() if form.is_valid() else selectors.EventFilters()
    page = selectors.audit_event_page(
        filters, before=_int_param(request, "before"), after=_int_param(request, "after"), limit=PAGE_SIZE
    )
    query = form.querystring() if form.is_valid() else ""
    return render(
        request,
        "audit/events.html",
        {
            "form": form,
            "page": page,
            "query": query,
            "rows": _event_rows(page.events, reverse("audit:events") + "events/"),
        },
    )


@require_GET
@audit_read
def event_detail(request, pk: int):
    try:
        event, personal, checkpoint = selectors.audit_event_detail(pk)
    except AuditEvent.DoesNotExist as exc:
        raise Http404 from exc
    return render(
        request,
        "audit/event_detail.html",
        {
            "event": event,
            "personal": personal,
            "checkpoint": checkpoint,
            "changes_json": json.dumps(event.changes, indent=2, sort_keys=True, cls=DjangoJSONEncoder),
        },
    )


@require_GET
@audit_read
def event_proof(request, pk: int):
    """The event's inclusion proof bundle (checkable offline with `manage.py audit_proof --verify`); audited."""
    try:
        bundle = proofs.proof_for_row(stream_name="events", row_id=pk)
    except proofs.ProofError as exc:
        return JsonResponse({"error": exc.code, "detail": str(exc)}, status=exc.status)
    audit_record(
        actor=request.user,
        action="export",
        resource_type="audit_event",
        resource_id=pk,
        changes={"format": "proof", "checkpoint": bundle["checkpoint"]["sequence"]},
        request=request,
    )
    response = HttpResponse(
        json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="audit-event-{pk}-proof.json"'
    return response


def _export_row(event: AuditEvent) -> dict:
    return {
        "id": event.pk,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_email": event.actor.email if event.actor_id and event.actor else "",
        "organization_id": event.organization_id,
        "organization": event.organization.name if event.organization_id and event.organization else "",
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "success": event.success,
        "request_id": event.request_id,
        "changes": event.changes,
    }


class _Echo:
    def write(self, value):
        return value


def _csv_stream(events):
    writer = csv.DictWriter(_Echo(), fieldnames=EXPORT_FIELDS)
    yield writer.writeheader() or ",".join(EXPORT_FIELDS) + "\r\n"
    for event in events:
        row = _export_row(event)
        row["changes"] = json.dumps(row["changes"], sort_keys=True, cls=DjangoJSONEncoder)
        yield writer.writerow(row)


def _json_stream(events):
    yield "["
    first = True
    for event in events:
        yield ("" if first else ",") + "\n" + json.dumps(_export_row(event), cls=DjangoJSONEncoder, sort_keys=True)
        first = False
    yield "\n]\n"


@require_GET
@audit_read
def event_export(request, fmt: str):
    """The filtered set, streamed (keyset chunks, constant memory); the export itself is audited."""
    if fmt not in ("csv", "json"):
        raise Http404
    form = EventFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return HttpResponse("Invalid filters: " + form.errors.as_text(), status=400, content_type="text/plain")
    filters = form.filters() if request.GET else selectors.EventFilters()
    audit_record(
        actor=request.user,
        action="export",
        resource_type="audit_event",
        resource_id="",
        changes={"format": fmt, "filters": filters.as_dict()},
        request=request,
    )
    events = selectors.audit_event_iter(filters)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if fmt == "csv":
        response = StreamingHttpResponse(_csv_stream(events), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(_json_stream(events), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.{fmt}"'
    return response


# --- security -----------------------------------------------------------------------------------


@require_GET
@audit_read
def security_page(request):
    form = SecurityWindowForm(request.GET or None)
    window_start, window_end = form.bounds() if form.is_valid() else SecurityWindowForm.default_window()
    metrics = security.security_metrics(window_start, window_end)
    return render(
        request,
        "audit/security.html",
        {
            "form": form,
            "metrics": metrics,
            "lockouts": list(security.lockouts_active()[:100]),
            "backup_runs": list(backups.backup_runs_recent(5)),
            "can_lift": has_role(request.user, Role.ADMIN),
        },
    )


@require_POST
@admin_write
def lockout_lift(request, pk: int):
    lockout = get_object_or_404(LoginLockout, pk=pk)
    security.lockout_lift(lockout=lockout, actor=request.user, request=request)
    messages.success(request, "Lockout lifted.")
    return redirect("audit:security")


@require_GET
@audit_read
def backups_page(request):
    runs = list(backups.backup_runs_recent(50))
    last_backup = next((r for r in runs if r.kind == "backup" and r.status == "succeeded"), None)
    last_drill = next((r for r in runs if r.kind == "drill"), None)
    return render(
        request,
        "audit/backups.html",
        {
            "runs": runs,
            "last_backup": last_backup,
            "last_drill": last_drill,
            "backup_stale": last_backup is None or last_backup.started_at < timezone.now() - timedelta(hours=26),
            "rto_seconds": backups.rto_seconds(),
        },
    )


# --- GDPR ---------------------------------------------------------------------------------------


@require_GET
@audit_read
def gdpr_page(request):
    open_requests = list(gdpr.dsr_list_open()[:200])
    closed_requests = list(
        DataSubjectRequest.objects.exclude(status__in=DataSubjectRequest.OPEN_STATUSES)
        .select_related("subject", "handled_by")
        .order_by("-completed_at", "-id")[:20]
    )
    transfers = list(CrossBorderTransfer.objects.order_by("-transferred_at", "-id")[:50])
    return render(
        request,
        "audit/gdpr.html",
        {
            "open_requests": open_requests,
            "closed_requests": closed_requests,
            "rates": gdpr.policy_acceptance_rates(),
            "transfers": transfers,
            "now": timezone.now(),
            "soon": timezone.now() + timedelta(days=7),
            "form": DataSubjectRequestForm(),
        },
    )


@require_POST
@admin_write
def dsr_create(request):
    form = DataSubjectRequestForm(request.POST)
    if form.is_valid():
        try:
            dsr = gdpr.dsr_create(
                kind=form.cleaned_data["kind"],
                subject_email=form.cleaned_data["subject_email"],
                notes=form.cleaned_data["notes"],
                actor=request.user,
                request=request,
            )
        except ApplicationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Request #{dsr.pk} logged; due {dsr.due_at:%Y-%m-%d}.")
            return redirect("audit:gdpr_request", pk=dsr.pk)
    return render(request, "audit/dsr_new.html", {"form": form}, status=400)


@audit_read
def dsr_detail(request, pk: int):
    dsr = get_object_or_404(DataSubjectRequest.objects.select_related("subject", "handled_by"), pk=pk)
    form = TransitionForm(dsr=dsr, data=request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not has_role(request.user, Role.ADMIN):
            raise PermissionDenied
        if form.is_valid():
            try:
                gdpr.dsr_transition(
                    dsr=dsr,
                    status=form.cleaned_data["status"],
                    actor=request.user,
                    note=form.cleaned_data["note"],
                    request=request,
                )
            except ApplicationError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Request updated.")
                return redirect("audit:gdpr_request", pk=dsr.pk)
        return render(request, "audit/dsr_detail.html", {"dsr": dsr, "form": form}, status=400)
    return render(request, "audit/dsr_detail.html", {"dsr": dsr, "form": form})


@require_GET
@admin_write
def dsr_export(request, pk: int):
    dsr = get_object_or_404(DataSubjectRequest.objects.select_related("subject"), pk=pk)
    try:
        payload = gdpr.dsr_export(dsr=dsr, actor=request.user, request=request)
    except ApplicationError as exc:
        messages.error(request, str(exc))
        return redirect("audit:gdpr_request", pk=dsr.pk)
    response = HttpResponse(payload, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="data-subject-request-{dsr.pk}.json"'
    return response
