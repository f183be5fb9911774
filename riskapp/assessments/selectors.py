"""Reads for assessments: runs and profiles scoped to an organization, and what a run page shows."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from riskapp.assessments.models import AssessmentRun, CheckResult, Profile

RUN_RELATED = ("asset", "version", "profile", "evaluation_dataset", "training_dataset", "holdout_dataset",
               "requested_by", "rerun_of")

# Curve names the white-box check emits → legend labels.
CURVE_LABELS = {
    "fgsm": "FGSM (L∞)",
    "pgd": "PGD (L∞)",
    "autoattack": "AutoAttack (L∞)",
    "worst_case": "Worst case (L∞)",
    "fgsm_l2": "FGSM (L2)",
    "pgd_l2": "PGD (L2)",
    "worst_case_l2": "Worst case (L2)",
}


def runs_for(*, organization, asset=None, status: str | None = None) -> QuerySet[AssessmentRun]:
    runs = AssessmentRun.objects.filter(organization=organization).select_related(*RUN_RELATED)
    if asset is not None:
        runs = runs.filter(asset=asset)
    if status:
        runs = runs.filter(status=status)
    return runs


def run_get(*, organization, run_id: int) -> AssessmentRun:
    """The run if it belongs to the organization; Http404 otherwise (an outsider learns nothing)."""
    run = runs_for(organization=organization).filter(pk=run_id).first() if organization else None
    if run is None:
        raise Http404("No such run.")
    return run


def profiles_for(*, organization) -> QuerySet[Profile]:
    """Built-in profiles plus the organization's own."""
    scope = Q(organization__isnull=True)
    if organization is not None:
        scope |= Q(organization=organization)
    return Profile.objects.filter(scope).order_by("-is_builtin", "name")


def check_results_for(*, run: AssessmentRun) -> list[CheckResult]:
    return list(run.checks.order_by("order", "kind"))


def robustness_series(*, run: AssessmentRun, norm: str = "inf") -> list[dict]:
    """Chart series (accuracy vs ε per attack) from the run's white-box check; [] when there is none."""
    check = run.checks.filter(kind="evasion.whitebox").first()
    if check is None:
        return []
    return robustness_series_from_metrics(check.metrics, norm=norm)


def robustness_series_from_metrics(metrics: dict, *, norm: str = "inf") -> list[dict]:
    curves = metrics.get("curves") or {}
    clean = metrics.get("clean_accuracy")
    series = []
    for name, points in curves.items():
        is_l2 = name.endswith("_l2")
        if is_l2 != (norm == "2"):
            continue
        # ε = 0 is the clean accuracy: every curve starts there.
        values = [(0.0, float(clean))] if isinstance(clean, (int, float)) else []
        values += [(float(eps), float(acc)) for eps, acc in points if acc is not None]
        series.append({"label": CURVE_LABELS.get(name, name), "points": values, "emphasis": name.startswith("worst")})
    # Worst case last so it is drawn on top.
    series.sort(key=lambda s: s["emphasis"])
    return series


def check_guidance(kind: str) -> dict:
    """Title and explanation of a check kind, from the engine's own module."""
    from workers.engine.checks import CHECKS, CheckUnavailable

    try:
        module = CHECKS[kind]
    except (KeyError, CheckUnavailable):
        return {"title": kind, "description": ""}
    return {"title": getattr(module, "TITLE", kind), "description": getattr(module, "DESCRIPTION", "")}


def run_is_active(*, organization) -> int:
    return AssessmentRun.objects.filter(organization=organization, status__in=["queued", "running"]).count()
