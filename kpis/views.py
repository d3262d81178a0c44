"""KPI pages (support leads, product managers, admins): the launch scorecard, daily charts, metric definitions."""

import csv
from datetime import date, timedelta

from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from kpis.analytics import ALL_METHODS
from kpis.metrics import METRICS, METRICS_BY_NAME
from kpis.models import ScorecardTargetSetting
from kpis.scorecard import targets_with_settings
from kpis.selectors import (
    BUSINESS_CHART_METRICS,
    CHART_METRICS,
    GROWTH_CHART_METRICS,
    HEALTH_CHART_METRICS,
    SUPPORT_CHART_METRICS,
    cohort_tables,
    daily_series,
    scorecard,
)
from kpis.services import scorecard_target_update
from tourbrain_support.api import ApplicationError
from tourbrain_support.roles import KPI_ROLES, Role, has_role, role_required

DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 366


def _parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _date_range(request) -> tuple[date, date]:
    """The ?from=&to= range; unreadable, reversed or longer than a year falls back to the 30 days to `to`."""
    end = _parse_day(request.GET.get("to")) or timezone.now().date() - timedelta(days=1)
    start = _parse_day(request.GET.get("from"))
    if start is None or start > end or (end - start).days >= MAX_RANGE_DAYS:
        start = end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    return start, end


@role_required(*KPI_ROLES)
def dashboard(request):
    start, end = _date_range(request)
    # One query for every chart of the page.
    names = CHART_METRICS + GROWTH_CHART_METRICS + BUSINESS_CHART_METRICS + SUPPORT_CHART_METRICS + HEALTH_CHART_METRICS
    series = daily_series(metrics=names, start=start, end=end)

    def charts(names: list[str]) -> list[dict]:
        return [
            {
                "id": f"chart-{name}",
                "data_id": f"chart-{name}-data",
                "label": METRICS_BY_NAME[name].label,
                "unit": METRICS_BY_NAME[name].unit,
                "metric": name,
                **series[name],
            }
            for name in names
        ]

    context = {
        "scorecard": scorecard(end=end),
        "charts": charts(CHART_METRICS),
        "growth_charts": charts(GROWTH_CHART_METRICS),
        "cohorts": cohort_tables(as_of=end, method=request.GET.get("method") or ALL_METHODS),
        "business_charts": charts(BUSINESS_CHART_METRICS),
        "support_charts": charts(SUPPORT_CHART_METRICS),
        "health_charts": charts(HEALTH_CHART_METRICS),
        "start": start,
        "end": end,
        "can_edit_targets": has_role(request.user, Role.PRODUCT_MANAGER, Role.ADMIN),
    }
    return render(request, "kpis/dashboard.html", context)


@role_required(*KPI_ROLES)
def metric_definitions(request):
    return render(request, "kpis/metrics.html", {"metrics": METRICS})


def _csv_cell(value: object) -> object:
    # Dimension values come from event properties: never let a spreadsheet read one as a formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@role_required(*KPI_ROLES)
def metric_csv(request, metric: str):
    """One chart's data as CSV (day, dimension value, value) for the page's ?from=&to= range."""
    if metric not in METRICS_BY_NAME:
        return JsonResponse(
            {"error": {"code": "not_found", "message": f"No metric named {metric!r}.", "fields": {}}}, status=404
        )
    start, end = _date_range(request)
    data = daily_series(metrics=[metric], start=start, end=end)[metric]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{metric}_{start}_{end}.csv"'
    writer = csv.writer(response)
    writer.writerow(["day", METRICS_BY_NAME[metric].dimension or "dimension", "value"])
    for dimension_value, values in data["series"].items():
        for day, value in zip(data["days"], values, strict=True):
            if value is not None:
                writer.writerow([day, _csv_cell(dimension_value), value])
    return response


@role_required(*KPI_ROLES)
def cohorts_csv(request, table: str):
    """The funnel (per signup week and step) or the retention table as CSV, as shown for ?to= and ?method=."""
    _, end = _date_range(request)
    cohorts = cohort_tables(as_of=end, method=request.GET.get("method") or ALL_METHODS)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table}_{end}.csv"'
    writer = csv.writer(response)
    if table == "funnel":
        writer.writerow(["signup_week", "method", "step", "users", "conversion", "median_hours_from_previous_step"])
        for row in cohorts["weekly_funnel"]:
            for step in row["steps"]:
                writer.writerow(
                    [
                        row["week"],
                        _csv_cell(cohorts["method"]),
                        step["step"],
                        step["users"],
                        step["conversion"],
                        step["median_hours"],
                    ]
                )
    else:
        writer.writerow(["signup_week", "users", *(f"week_{week}" for week in cohorts["retention_weeks"])])
        for row in cohorts["retention"]:
            writer.writerow([row["week"], row["size"], *row["shares"]])
    return response


def _shown(value: float | None, unit: str) -> float | None:
    # Shares are edited as percentages.
    return None if value is None else round(value * 100, 4) if unit == "ratio" else value


@role_required(Role.PRODUCT_MANAGER, Role.ADMIN)
def scorecard_targets(request):
    """The measured targets' thresholds; a product manager or admin changes one at a time (audited)."""
    errors: dict = {}
    status = 200
    if request.method == "POST":
        label = request.POST.get("label", "")
        try:
            value = float(request.POST.get("threshold", ""))
        except ValueError:
            errors = {"label": label, "message": "Enter a number."}
        else:
            unit = next((t.unit for t in targets_with_settings({}) if t.label == label), "")
            try:
                scorecard_target_update(
                    label=label, threshold=value / 100 if unit == "ratio" else value, actor=request.user
                )
                return redirect("kpis:targets")
            except ApplicationError as error:
                errors = {"label": label, "message": error.message}
        status = 400
    settings = dict(ScorecardTargetSetting.objects.values_list("label", "threshold"))
    rows = [
        {"target": target, "value": _shown(target.threshold, target.unit), "changed": target.label in settings}
        for target in targets_with_settings(settings)
        if target.metric
    ]
    return render(request, "kpis/targets.html", {"rows": rows, "errors": errors}, status=status)
