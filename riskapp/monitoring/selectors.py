"""Reads for monitoring: baselines, alerts, schedules (with their next run time), channels and deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from riskapp.assessments.models import AssessmentRun, CheckStatus, RunStatus
from riskapp.monitoring.models import (
    ACTIVE_ALERT_STATUSES,
    Alert,
    BaselinePin,
    Channel,
    Delivery,
    Schedule,
    ScheduleKind,
)


def baseline_pin_for(*, asset, profile) -> BaselinePin | None:
    return BaselinePin.objects.filter(asset=asset, profile=profile).select_related("run").first()


def baseline_for(*, run: AssessmentRun) -> tuple[AssessmentRun | None, bool]:
    """The run `run` is compared with, and whether a person pinned it.

    A pinned run wins. Otherwise the last good run of the same profile on the same asset before this one:
    succeeded, not flagged unreliable, and not itself found regressed — so a model that stays weak keeps
    being compared with the last good state (one alert, updated) instead of with its own weak self.
    """
    pin = baseline_pin_for(asset=run.asset, profile=run.profile)
    if pin is not None and pin.run_id != run.pk:
        return pin.run, True
    candidates = (
        AssessmentRun.objects.filter(asset=run.asset, profile=run.profile, status=RunStatus.SUCCEEDED,
                                     unreliable=False)
        .filter(Q(created_at__lt=run.created_at) | Q(created_at=run.created_at, pk__lt=run.pk))
        .exclude(pk=run.pk)
        .exclude(comparison__regressed=True)
        .order_by("-created_at", "-id")
    )
    return candidates.first(), False


def check_metrics_for(*, run: AssessmentRun) -> dict[str, dict]:
    """{check kind: metrics} of the checks that produced a verdict (passed or failed) in the run."""
    return {
        kind: metrics or {}
        for kind, metrics in run.checks.filter(status__in=[CheckStatus.PASSED, CheckStatus.FAILED])
        .values_list("kind", "metrics")
    }


def alerts_for(*, organization, status: str | None = None, asset=None) -> QuerySet[Alert]:
    queryset = Alert.objects.filter(organization=organization).select_related("asset", "profile")
    if status == "active":
        queryset = queryset.filter(status__in=ACTIVE_ALERT_STATUSES)
    elif status:
        queryset = queryset.filter(status=status)
    if asset is not None:
        queryset = queryset.filter(asset=asset)
    return queryset


def open_alert_count(*, organization) -> int:
    """Alerts nobody has acknowledged or resolved yet: the number on the navigation badge."""
    if organization is None:
        return 0
    return Alert.objects.filter(organization=organization, status="open").count()


def active_alert_for(*, dedupe_key: str) -> Alert | None:
    return Alert.objects.filter(dedupe_key=dedupe_key, status__in=ACTIVE_ALERT_STATUSES).first()


def alert_trend(*, alert: Alert, metric_key: str | None = None, limit: int = 20) -> list[dict]:
    """Headline metric of the alert's asset and profile over its recent successful runs, oldest first."""
    key = metric_key or (alert.diff[0]["key"] if alert.diff else None)
    runs = list(
        AssessmentRun.objects.filter(asset=alert.asset, profile=alert.profile, status=RunStatus.SUCCEEDED)
        .order_by("-created_at", "-id")[:limit]
    )
    runs.reverse()
    points = []
    for run in runs:
        value = metric_value(run=run, key=key) if key else None
        if value is not None:
            points.append({"run_id": run.pk, "at": run.finished_at or run.created_at, "value": value,
                           "label": f"#{run.pk}"})
    return points


def metric_value(*, run: AssessmentRun, key: str) -> float | None:
    """The number behind a diff key (as produced by riskapp.monitoring.regression) in one run."""
    from riskapp.monitoring.regression import COMPARATORS

    check = key.split(":", 1)[0]
    if check not in COMPARATORS:
        return None
    metrics = check_metrics_for(run=run)
    if check not in metrics:
        return None
    # Comparing a run with itself yields every key it has, with its value as "current".
    for row in COMPARATORS[check](metrics[check], metrics[check], _zero_tolerances()):
        if row.key == key:
            return row.current
    return None


def _zero_tolerances() -> dict[str, float]:
    from riskapp.monitoring.regression import DEFAULT_TOLERANCES

    return {name: 0.0 for name in DEFAULT_TOLERANCES}


def schedules_for(*, organization, asset=None) -> QuerySet[Schedule]:
    queryset = Schedule.objects.filter(organization=organization).select_related(
        "asset", "profile", "periodic_task", "periodic_task__crontab", "periodic_task__interval", "last_run")
    if asset is not None:
        queryset = queryset.filter(asset=asset)
    return queryset


def schedule_next_run(schedule: Schedule, *, now: datetime | None = None) -> datetime | None:
    """When beat will next fire the schedule, from its crontab or interval; None while paused."""
    if not schedule.enabled or schedule.periodic_task is None:
        return None
    now = now or timezone.now()
    task = schedule.periodic_task
    if schedule.kind == ScheduleKind.CRON and task.crontab is not None:
        from celery.schedules import crontab

        row = task.crontab
        cron = crontab(minute=row.minute, hour=row.hour, day_of_week=row.day_of_week,
                       day_of_month=row.day_of_month, month_of_year=row.month_of_year,
                       nowfun=lambda: now.astimezone(row.timezone))
        # remaining_estimate(last) is the time from "now" until the first occurrence after `last`.
        return now + cron.remaining_estimate(now.astimezone(row.timezone))
    if task.interval is not None:
        every = timedelta(**{task.interval.period: task.interval.every})
        last = task.last_run_at or task.start_time or schedule.created_at
        upcoming = last + every
        if upcoming < now:
            # Beat fires an overdue interval at its next tick.
            return now
        return upcoming
    return None


def channels_for(*, organization) -> QuerySet[Channel]:
    return Channel.objects.filter(organization=organization).prefetch_related("assets")


def deliveries_for(*, organization, channel=None, alert=None, limit: int = 50) -> QuerySet[Delivery]:
    queryset = Delivery.objects.filter(organization=organization).select_related("channel", "alert")
    if channel is not None:
        queryset = queryset.filter(channel=channel)
    if alert is not None:
        queryset = queryset.filter(alert=alert)
    return queryset[:limit]


# --- control status from the compliance app ---------------------------------------------------------------------

# (check, regression tolerance name) → the metric the compliance mapping judges for the same property.
MAPPED_METRIC = {
    ("evasion.whitebox", "robust_accuracy"): "robust_accuracy",
    ("evasion.whitebox", "breaking_epsilon"): "breaking_epsilon",
    ("evasion.blackbox", "robust_accuracy"): "success_rate",  # the complement, judged from the attacker's side
    ("inference.membership", "membership_auc"): "auc",
    ("extraction", "extraction_agreement"): "agreement",
    ("poisoning.backdoor", "backdoor_success"): "attack_success_rate",
}


def _control_ref(control, status: str | None = None) -> dict:
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse("compliance:control", args=[control.framework.slug, control.ref_id])
    except NoReverseMatch:
        url = ""
    row = {"framework": control.framework.name, "framework_slug": control.framework.slug,
           "control_id": control.ref_id, "title": control.title, "url": url}
    if status is not None:
        row["status"] = status
        row["status_label"] = _status_label(status)
    return row


def _status_label(status: str) -> str:
    from riskapp.compliance.models import ControlStatus

    return dict(ControlStatus.choices).get(status, status)


def control_statuses_after(*, run: AssessmentRun) -> dict | None:
    """{(framework slug, control id): Cell} for the run's asset now, from the compliance app; None without it."""
    try:
        from riskapp.compliance.selectors import control_statuses_for_asset
    except ImportError:
        return None
    return {(cell.control.framework.slug, cell.control.ref_id): cell
            for cell in control_statuses_for_asset(asset=run.asset)}


def control_flips(*, run: AssessmentRun, baseline: AssessmentRun | None, cells: dict | None) -> list[dict]:
    """Controls this run's evidence made non-compliant that the baseline run's evidence had compliant."""
    if cells is None or baseline is None:
        return []
    from riskapp.compliance.models import ControlStatus
    from riskapp.compliance.selectors import evidence_for_asset

    before = {(record.control.framework.slug, record.control.ref_id): record.verdict
              for record in evidence_for_asset(organization=run.organization, asset=run.asset).filter(run=baseline)}
    flips = []
    for key, cell in sorted(cells.items()):
        from_this_run = bool(cell.evidence) and cell.evidence.get("run_id") == run.pk
        if from_this_run and cell.status == ControlStatus.NON_COMPLIANT and before.get(key) == ControlStatus.COMPLIANT:
            flips.append({**_control_ref(cell.control), "before": before[key], "after": cell.status,
                          "before_label": _status_label(before[key]), "after_label": _status_label(cell.status)})
    return flips


def controls_for_regression(*, rows, cells: dict | None) -> list[dict]:
    """Controls the compliance mapping links to the regressed metrics, with their status now."""
    if cells is None:
        return []
    from riskapp.compliance.models import MappingRule

    wanted = {(row.check, MAPPED_METRIC[(row.check, row.tolerance_name)]) for row in rows
              if (row.check, row.tolerance_name) in MAPPED_METRIC}
    controls = {}
    for rule in MappingRule.objects.filter(retired_at__isnull=True).prefetch_related("controls__framework"):
        kinds = set(rule.kinds or [])
        if any(kind in kinds and rule.metric == metric for kind, metric in wanted):
            for control in rule.controls.all():
                controls[(control.framework.slug, control.ref_id)] = control
    result = []
    for key in sorted(controls, key=lambda k: (controls[k].framework.order, controls[k].order)):
        cell = cells.get(key)
        result.append(_control_ref(controls[key], cell.status if cell else None))
    return result
