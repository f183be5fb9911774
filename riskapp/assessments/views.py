"""Web pages for assessments: the runs list, starting a run, the live run page and its results."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from riskapp.accounts.permissions import can_write
from riskapp.assessments.forms import RunCreateForm
from riskapp.assessments.models import RunStatus
from riskapp.assessments.selectors import (
    check_guidance,
    check_results_for,
    profiles_for,
    robustness_series,
    run_get,
    runs_for,
)
from riskapp.assessments.services import run_cancel, run_create, run_rerun
from riskapp.assets.models import ModelAsset
from riskapp.web.charts import robustness_curve_svg

POLL_INTERVAL_MS = 1500


def _require_organization(request):
    if not request.organization:
        return render(request, "web/no_organization.html")
    return None


def _require_write(request) -> None:
    if not can_write(request.user, request.organization.pk):
        raise PermissionDenied("Your role in this organization does not allow starting or stopping assessments.")


@login_required
def run_list(request):
    if (page := _require_organization(request)) is not None:
        return page
    status = request.GET.get("status") or ""
    if status not in RunStatus.values:
        status = ""
    runs = runs_for(organization=request.organization, status=status or None)
    asset_id = request.GET.get("asset")
    asset = None
    if asset_id and asset_id.isdigit():
        asset = ModelAsset.objects.filter(organization=request.organization, pk=int(asset_id)).first()
        if asset is not None:
            runs = runs.filter(asset=asset)
    return render(request, "assessments/run_list.html", {
        "runs": runs[:200],
        "status": status,
        "statuses": RunStatus.choices,
        "filter_asset": asset,
        "assets": ModelAsset.objects.filter(organization=request.organization).order_by("name"),
    })


@login_required
def profile_list(request):
    """What each profile runs: its checks, parameters and thresholds (custom profiles are managed through the API)."""
    if (page := _require_organization(request)) is not None:
        return page
    profiles = [{"profile": profile,
                 "checks": [{**check, "guidance": check_guidance(check["kind"])}
                            for check in profile.spec.get("checks", [])]}
                for profile in profiles_for(organization=request.organization)]
    return render(request, "assessments/profile_list.html", {"profiles": profiles})


@login_required
def run_new(request, asset_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    asset = get_object_or_404(ModelAsset, pk=asset_id, organization=request.organization)
    _require_write(request)
    form = RunCreateForm(request.POST or None, asset=asset)
    if request.method == "POST" and form.is_valid():
        try:
            run = run_create(asset=asset, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Assessment #{run.pk} queued.")
            return redirect("assessments:detail", run_id=run.pk)
    return render(request, "assessments/run_new.html", {"asset": asset, "form": form})


def _progress_context(run) -> dict:
    from riskapp.web.views import poll_interval_ms

    return {"run": run, "poll_interval": poll_interval_ms(POLL_INTERVAL_MS)}


@login_required
def run_detail(request, run_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    run = run_get(organization=request.organization, run_id=run_id)
    checks = check_results_for(run=run)
    check_rows = [{"result": check, "guidance": check_guidance(check.kind), "metric_rows": _metric_rows(check),
                   "curve_rows": _curve_rows(check)} for check in checks]
    series = robustness_series(run=run)
    l2_series = robustness_series(run=run, norm="2")
    context = {
        **_progress_context(run),
        "checks": check_rows,
        "robustness_chart": robustness_curve_svg(series, title=f"Robustness of {run.asset.name} {run.version.label}")
        if series else "",
        "robustness_chart_l2": robustness_curve_svg(l2_series, title="Robustness under L2 perturbations",
                                                    x_label="ε (L2 norm of the change)") if l2_series else "",
        "whitebox": next((c for c in checks if c.kind == "evasion.whitebox"), None),
        "can_write": can_write(request.user, request.organization.pk),
        "reruns": list(run.reruns.order_by("-created_at")[:5]),
    }
    return render(request, "assessments/run_detail.html", context)


@login_required
def run_progress(request, run_id: int):
    """The live status fragment; once the run has finished it no longer asks to be polled."""
    if not request.organization:
        return render(request, "web/no_organization.html", status=404)
    run = run_get(organization=request.organization, run_id=run_id)
    # Polling only happens while the page shows an unfinished run: a finished fragment offers the results.
    return render(request, "assessments/_run_progress.html", {**_progress_context(run), "just_finished": run.is_finished})


@login_required
@require_POST
def run_cancel_view(request, run_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    run = run_get(organization=request.organization, run_id=run_id)
    _require_write(request)
    try:
        run = run_cancel(run=run, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Run cancelled." if run.status == RunStatus.CANCELLED
                         else "Cancellation requested: the worker stops at its next step.")
    return redirect("assessments:detail", run_id=run.pk)


@login_required
@require_POST
def run_rerun_view(request, run_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    run = run_get(organization=request.organization, run_id=run_id)
    _require_write(request)
    try:
        new_run = run_rerun(run=run, user=request.user)
    except ValidationError as exc:
        messages.error(request, "Could not re-run: " + " ".join(exc.messages))
        return redirect("assessments:detail", run_id=run.pk)
    messages.success(request, f"Re-run #{new_run.pk} queued with the same parameters and seed.")
    return redirect("assessments:detail", run_id=new_run.pk)


# Metrics that are structures (curves, per-attack tables) are shown elsewhere on the page, not in the table.
_STRUCTURED = {"curves", "attacks", "notes", "sanity_failures"}


def _curve_rows(check) -> list[dict]:
    """Per attack and ε rows of a check that reports curves (the white-box check's "attacks" metric)."""
    from riskapp.assessments.selectors import CURVE_LABELS

    attacks = check.metrics.get("attacks")
    if not isinstance(attacks, dict):
        return []
    rows = []
    for name, entry in attacks.items():
        points = entry.get("points") if isinstance(entry, dict) else None
        if not isinstance(points, list):
            continue
        for point in points:
            if isinstance(point, dict) and "epsilon" in point and "robust_accuracy" in point:
                rows.append({"attack": CURVE_LABELS.get(name, name), "epsilon": point["epsilon"],
                             "robust_accuracy": point["robust_accuracy"],
                             "attack_success_rate": point.get("attack_success_rate"),
                             "median_perturbation": point.get("median_perturbation")})
    return rows


def _metric_rows(check) -> list[dict]:
    """(metric, value, threshold, met) rows for one check's table."""
    rows = []
    for name, value in check.metrics.items():
        if name in _STRUCTURED or isinstance(value, (dict, list)):
            continue
        bound = check.thresholds.get(name) or {}
        met = None
        if bound and isinstance(value, (int, float)) and not isinstance(value, bool):
            met = not (("min" in bound and value < bound["min"]) or ("max" in bound and value > bound["max"]))
        rows.append({"name": name, "value": value, "threshold": bound, "met": met, "is_text": isinstance(value, str)})
    for name, bound in check.thresholds.items():
        if name not in check.metrics:
            rows.append({"name": name, "value": None, "threshold": bound, "met": False})
    return rows
