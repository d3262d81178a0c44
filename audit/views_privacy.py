"""The account privacy page (/account/privacy/): every signed-in user, customers included, accepts the
privacy policy, grants or withdraws consents, asks for a copy of their data or for erasure, and downloads
the export of a completed access request. Works without JavaScript: each change is a POST that redirects
back to the page (or re-renders it with the error and a 400)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit import privacy
from audit.forms_privacy import ConsentChangeForm, PolicyAcceptForm, PrivacyRequestForm
from audit.models import ConsentRecord, DataSubjectRequest
from tourbrain_support.api import ApplicationError

PAGE = "audit:privacy"
SOURCE = ConsentRecord.Source.PORTAL


def _errors(form) -> list[str]:
    """A form's errors as plain sentences for one alert box (the fields are hidden inputs)."""
    return [str(message) for messages_ in form.errors.values() for message in messages_]


def _page(request, *, status: int = 200, **errors):
    overview = privacy.privacy_overview(user=request.user)
    requests_ = privacy.privacy_requests(user=request.user)
    open_kinds = {dsr.kind for dsr in requests_ if dsr.is_open}
    return render(
        request,
        "audit/privacy.html",
        {
            "policy": overview.policy,
            "consents": overview.consents,
            "data_requests": [(dsr, privacy.privacy_export_available(dsr)) for dsr in requests_],
            "access_open": DataSubjectRequest.Kind.ACCESS in open_kinds,
            "erasure_open": DataSubjectRequest.Kind.ERASURE in open_kinds,
            "policy_errors": errors.get("policy_errors", []),
            "consent_errors": errors.get("consent_errors", []),
            "request_errors": errors.get("request_errors", []),
        },
        status=status,
    )


@require_GET
@login_required
def privacy_page(request):
    return _page(request)


@require_POST
@login_required
def policy_accept(request):
    form = PolicyAcceptForm(request.POST)
    if form.is_valid():
        version = form.cleaned_data["policy_version"]
        try:
            record = privacy.privacy_policy_accept(user=request.user, version=version, source=SOURCE, request=request)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            if record is None:
                messages.info(request, f"You had already accepted version {version} of the privacy policy.")
            else:
                messages.success(request, f"You accepted version {version} of the privacy policy.")
            return redirect(PAGE)
    return _page(request, status=400, policy_errors=_errors(form))


@require_POST
@login_required
def consent_change(request):
    form = ConsentChangeForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, consent_errors=["That consent or change is not offered here."])
    purpose = form.cleaned_data["purpose"]
    try:
        record = privacy.privacy_consent_set(
            user=request.user, purpose=purpose, granted=form.granted, source=SOURCE, request=request
        )
    except ApplicationError as exc:
        return _page(request, status=400, consent_errors=[exc.message])
    label = ConsentRecord.Purpose(purpose).label
    if record is None:
        messages.info(request, f"{label}: nothing changed.")
    elif record.granted:
        messages.success(request, f"{label}: consent given.")
    else:
        messages.success(request, f"{label}: consent withdrawn.")
    return redirect(PAGE)


def _erasure_page(request, form: PrivacyRequestForm, *, status: int = 200):
    open_erasure = (
        DataSubjectRequest.objects.filter(
            subject=request.user, kind=DataSubjectRequest.Kind.ERASURE, status__in=DataSubjectRequest.OPEN_STATUSES
        )
        .order_by("received_at")
        .first()
    )
    return render(request, "audit/privacy_erasure.html", {"form": form, "open_erasure": open_erasure}, status=status)


@require_GET
@login_required
def erasure_confirm(request):
    return _erasure_page(request, PrivacyRequestForm(initial={"kind": DataSubjectRequest.Kind.ERASURE}))


@require_POST
@login_required
def request_create(request):
    form = PrivacyRequestForm(request.POST)
    if form.is_valid():
        try:
            dsr = privacy.privacy_request_create(user=request.user, kind=form.cleaned_data["kind"], request=request)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            if dsr.kind == DataSubjectRequest.Kind.ACCESS:
                text = "We received your request for a copy of your data"
            else:
                text = "We received your erasure request"
            messages.success(request, f"{text} (#{dsr.pk}); we answer by {dsr.due_at:%Y-%m-%d}.")
            return redirect(PAGE)
    if request.POST.get("kind") == DataSubjectRequest.Kind.ERASURE:
        return _erasure_page(request, form, status=400)
    return _page(request, status=400, request_errors=_errors(form))


@require_GET
@login_required
def request_export(request, pk: int):
    # Another person's request, an erasure request or one not completed yet: all simply not found.
    dsr = get_object_or_404(DataSubjectRequest, pk=pk, subject=request.user)
    try:
        payload = privacy.privacy_export(user=request.user, dsr=dsr, request=request)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    response = HttpResponse(payload, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="my-data-request-{dsr.pk}.json"'
    response["Cache-Control"] = "no-store"
    return response
