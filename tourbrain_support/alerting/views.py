"""Staff pages: the alerts list (rules, state, probes, history) and silences (create, expire)."""

from datetime import timedelta

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from tourbrain_support.alerting import selectors, services
from tourbrain_support.alerting.forms import SilenceForm
from tourbrain_support.alerting.models import Silence
from tourbrain_support.api import ApplicationError
from tourbrain_support.roles import ALERT_ROLES, role_required


@role_required(*ALERT_ROLES)
def alert_list(request):
    now = timezone.now()
    context = {
        "rows": selectors.rule_list_with_status(now=now),
        "probes": selectors.probe_latest_samples(now=now),
        "events": selectors.event_list_recent(),
        "silences": selectors.silence_list_active(now=now),
    }
    return render(request, "alerting/alerts.html", context)


def _silences_page(request, form, *, status=200):
    now = timezone.now()
    context = {
        "form": form,
        "active": selectors.silence_list_active(now=now),
        "ended": selectors.silence_list_ended(now=now),
    }
    return render(request, "alerting/silences.html", context, status=status)


@role_required(*ALERT_ROLES)
def silence_list(request):
    if request.method == "POST":
        form = SilenceForm(request.POST)
        if form.is_valid():
            try:
                services.silence_create(
                    matchers=form.cleaned_data["matchers"],
                    ends_at=timezone.now() + timedelta(minutes=form.cleaned_data["duration_minutes"]),
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                    request=request,
                )
            except ApplicationError as exc:
                for field, errors in exc.fields.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
                if not exc.fields:
                    form.add_error(None, exc.message)
            else:
                messages.success(request, "Silence created.")
                return redirect("alerting:silences")
        return _silences_page(request, form, status=400)
    form = SilenceForm(initial={"matchers": request.GET.get("matchers", "")})
    return _silences_page(request, form)


@require_POST
@role_required(*ALERT_ROLES)
def silence_expire(request, pk: int):
    silence = get_object_or_404(Silence, pk=pk)
    services.silence_expire(silence=silence, actor=request.user, request=request)
    messages.success(request, "Silence expired.")
    return redirect("alerting:silences")
