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
