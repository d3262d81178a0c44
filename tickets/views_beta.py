"""The beta cohort page (/beta/, support leads and admins): counts against the seed's target, invitations, invite."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from tickets import beta_invitations
from tickets.models import BetaInvitation
from tickets.portal_forms import BetaInviteForm
from tourbrain_support.api import ApplicationError
from tourbrain_support.roles import Role, role_required

lead_required = role_required(Role.SUPPORT_LEAD, Role.ADMIN)


def _cohort_page(request, form: BetaInviteForm, status: int = 200):
    summary = beta_invitations.beta_cohort_summary()
    context = {
        "summary": summary,
        "invitations": list(beta_invitations.beta_invitations()),
        "form": form,
    }
    return render(request, "tickets/beta_cohort.html", context, status=status)


@require_GET
@lead_required
def cohort(request):
    return _cohort_page(request, BetaInviteForm())


@require_POST
@lead_required
def invite(request):
    form = BetaInviteForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            invitation = beta_invitations.beta_invite(
                email=data["email"],
                name=data["name"],
                organization=data["organization"],
                personal_message=data["personal_message"],
                actor=request.user,
            )
        except ApplicationError as error:
            for field, errors in (error.fields or {"__all__": [error.message]}).items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("tickets:beta_cohort")
    return _cohort_page(request, form, status=400)


@require_POST
@lead_required
def revoke(request, pk: int):
    invitation = get_object_or_404(BetaInvitation, pk=pk)
    try:
        beta_invitations.beta_invitation_revoke(invitation=invitation, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Invitation for {invitation.email} revoked; its link no longer works.")
    return redirect("tickets:beta_cohort")
