"""Survey pages opened from email links (no sign-in: the signed link is the permission).

`/survey/csat/<token>/` records the one-click rating and offers a comment; `/survey/nps/<token>/` and
`/survey/beta/<token>/` show and take the NPS and beta-feedback forms. A bad link answers 400, an
expired or superseded one 410, a change the rating rules refuse 409, each with a page that says why.
"""

from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from tickets import surveys
from tickets.models import BetaFeedback, TicketSatisfaction
from tourbrain_support.api import ApplicationError

NPS_SCORES = range(11)
PLAN_CHOICES = [
    ("", "Not sure yet"),
    ("starter", "Starter"),
    ("professional", "Professional"),
    ("enterprise", "Enterprise"),
]


def _problem(request, template: str, problem: surveys.LinkProblem):
    status = 400 if problem.code == "bad" else 410
    return render(request, template, {"problem": problem.message}, status=status)


def _score(raw: str, allowed) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) in allowed else None


def _field_errors(error: ApplicationError) -> str:
    listed = [str(item) for value in (error.fields or {}).values() for item in value]
    return " ".join(listed) or error.message


def _refusal_status(error: ApplicationError) -> int:
    """The page's status for a refused answer: the service's own 4xx (409 for a closed rating), else 400."""
    return error.status if 400 <= error.status < 500 else 400


@never_cache
@require_http_methods(["GET", "POST"])
def csat_rate(request, token: str):
    try:
        link = surveys.csat_link_read(token)
    except surveys.LinkProblem as problem:
        return _problem(request, "tickets/surveys/csat.html", problem)
    error, status, saved_comment = "", 200, False
    if request.method == "POST":
        score = _score(request.POST.get("score", ""), surveys.SCORE_LABELS)
        comment = request.POST.get("comment", "")
        if score is None:
            error, status = "Choose a score from 1 to 5.", 400
        else:
            try:
                surveys.csat_rate_from_link(link=link, score=score, comment=comment)
                saved_comment = True
            except ApplicationError as refused:
                error, status = _field_errors(refused), _refusal_status(refused)
    else:
        try:
            surveys.csat_rate_from_link(link=link)
        except ApplicationError as refused:
            error, status = refused.message, _refusal_status(refused)
    ticket = link.ticket
    rating = TicketSatisfaction.objects.filter(ticket=ticket).first()
    context = {
        "ticket": ticket,
        "rating": rating,
        "error": error,
        "saved_comment": saved_comment,
        "choices": list(surveys.SCORE_LABELS.items()),
    }
    return render(request, "tickets/surveys/csat.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def nps_answer(request, token: str):
    try:
        survey = surveys.nps_survey_read(token)
    except surveys.LinkProblem as problem:
        return _problem(request, "tickets/surveys/nps.html", problem)
    error, status, thanks = "", 200, False
    # The email's score buttons preselect the answer (?score=8); the person still sends the form.
    preselected = _score(request.GET.get("score", ""), NPS_SCORES)
    if request.method == "POST":
        score = _score(request.POST.get("score", ""), NPS_SCORES)
        if score is None:
            error, status = "Choose a score from 0 to 10.", 400
        else:
            try:
                survey = surveys.nps_answer(survey=survey, score=score, comment=request.POST.get("comment", ""))
                thanks = True
            except ApplicationError as refused:
                error, status = _field_errors(refused), 400
    selected = survey.score if survey.score is not None else preselected
    context = {"survey": survey, "error": error, "thanks": thanks, "scores": NPS_SCORES, "selected": selected}
    return render(request, "tickets/surveys/nps.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def beta_feedback(request, token: str):
    try:
        link = surveys.beta_feedback_link_read(token)
    except surveys.LinkProblem as problem:
        return _problem(request, "tickets/surveys/beta_feedback.html", problem)
    feedback = BetaFeedback.objects.filter(user=link.user, round=link.round).first()
    error, status, thanks = "", 200, False
    if request.method == "POST":
        try:
            feedback = surveys.beta_feedback_submit(
                link=link,
                conversion_intent=request.POST.get("conversion_intent", ""),
                plan=request.POST.get("plan", ""),
                testimonial=request.POST.get("testimonial", ""),
                publish_consent=request.POST.get("publish_consent") == "on",
            )
            thanks = True
        except ApplicationError as refused:
            error, status = _field_errors(refused), 400
    context = {
        "feedback": feedback,
        "error": error,
        "thanks": thanks,
        "intents": BetaFeedback.Intent.choices,
        "plans": PLAN_CHOICES,
    }
    return render(request, "tickets/surveys/beta_feedback.html", context, status=status)
