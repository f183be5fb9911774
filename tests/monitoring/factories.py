"""Rows for monitoring tests: assets with a validated version, finished runs with known check metrics,
schedules, alerts and channels; plus the tenancy factories for every monitoring model the API exposes."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.utils import timezone

from riskapp.assessments.models import AssessmentRun, CheckResult, CheckStatus, Profile, RunStatus
from riskapp.assets.models import Dataset, ModelAsset, ModelVersion, Task, ValidationStatus
from riskapp.monitoring.models import Alert, BaselinePin, Channel, Schedule
from tests.factories import register_model_factory

_counter = itertools.count(1)

EPSILONS = [0.05, 0.1, 0.2]


def make_asset(organization, *, name: str | None = None) -> ModelAsset:
    n = next(_counter)
    asset = ModelAsset.objects.create(organization=organization, name=name or f"digits-cnn-{n}",
                                      task=Task.IMAGE)
    dataset = Dataset.objects.create(organization=organization, name=f"digits eval {n}", source="builtin",
                                     builtin_name="digits", status=ValidationStatus.VALIDATED, sample_count=100,
                                     shape=[1, 8, 8], nb_classes=10)
    version = ModelVersion.objects.create(asset=asset, label=f"v{n}", format="torchscript", input_shape=[1, 8, 8],
                                          nb_classes=10, status=ValidationStatus.VALIDATED,
                                          validated_at=timezone.now())
    asset.current_version = version
    asset.evaluation_dataset = dataset
    asset.save()
    return asset


def make_profile(organization, *, tolerances: dict | None = None) -> Profile:
    n = next(_counter)
    return Profile.objects.create(
        organization=organization, slug=f"monitoring-{n}", name=f"Monitoring profile {n}",
        spec={"name": f"monitoring-{n}", "checks": [{"kind": "evasion.whitebox", "params": {}}]},
        tolerances=tolerances or {},
    )


def whitebox_metrics(*, clean: float, robust: dict[float, float], pgd: dict[float, float] | None = None,
                     breaking: float | None = None) -> dict:
    """The evasion.whitebox metrics shape the engine emits (attacks → curves of points per ε fraction)."""
    pgd = pgd or robust

    def curve(values):
        return {"norm": "inf", "points": [
            {"epsilon": eps, "epsilon_fraction": eps, "robust_accuracy": acc, "attack_success_rate": 1 - acc}
            for eps, acc in sorted(values.items())]}

    return {
        "clean_accuracy": clean,
        "robust_accuracy": robust.get(0.1),
        "breaking_epsilon": breaking,
        "reference_epsilon": 0.1,
        "attacks": {"pgd": curve(pgd), "worst_case": curve(robust)},
    }


def make_run(asset, profile, *, checks: dict[str, dict] | None = None, status: str = RunStatus.SUCCEEDED,
             unreliable: bool = False, unreliable_reasons=None, minutes_ago: float = 0.0,
             version: ModelVersion | None = None, thresholds: dict[str, dict] | None = None) -> AssessmentRun:
    """A finished run with CheckResult rows carrying `checks` = {kind: metrics} (and `thresholds` = {kind: {...}})."""
    finished = timezone.now() - timedelta(minutes=minutes_ago)
    run = AssessmentRun.objects.create(
        organization=asset.organization, asset=asset, version=version or asset.current_version, profile=profile,
        evaluation_dataset=asset.evaluation_dataset, status=status, progress=100, started_at=finished,
        finished_at=finished, unreliable=unreliable, unreliable_reasons=unreliable_reasons or [],
        passed=status == RunStatus.SUCCEEDED,
    )
    # created_at is auto_now_add: set it explicitly so baselines are ordered the way the test means.
    AssessmentRun.objects.filter(pk=run.pk).update(created_at=finished)
    run.refresh_from_db()
    for order, (kind, metrics) in enumerate((checks or {}).items()):
        bounds = (thresholds or {}).get(kind, {})
        passed = all(metrics.get(metric) is not None and metrics[metric] >= bound.get("min", float("-inf"))
                     and metrics[metric] <= bound.get("max", float("inf")) for metric, bound in bounds.items())
        CheckResult.objects.create(run=run, order=order, kind=kind, metrics=metrics, thresholds=bounds,
                                   status=CheckStatus.PASSED if passed else CheckStatus.FAILED)
    return run


def make_alert(organization, user=None) -> Alert:
    from riskapp.monitoring.services import regression_check

    asset = make_asset(organization)
    profile = make_profile(organization)
    make_run(asset, profile, checks={"evasion.whitebox": whitebox_metrics(clean=0.95, robust={0.1: 0.6})},
             minutes_ago=10)
    regressed = make_run(asset, profile, checks={"evasion.whitebox": whitebox_metrics(clean=0.9, robust={0.1: 0.3})})
    return regression_check(run=regressed)[0]


@register_model_factory(Schedule)
def _schedule(organization, user):
    from riskapp.monitoring.services import schedule_create

    return schedule_create(organization=organization, asset=make_asset(organization),
                           profile=make_profile(organization), user=user, kind="cron", cron="0 3 * * *")


@register_model_factory(Alert)
def _alert(organization, user):
    return make_alert(organization, user)


@register_model_factory(Channel)
def _channel(organization, user):
    from riskapp.monitoring.services import channel_create

    return channel_create(organization=organization, user=user, name="ops mail", kind="email",
                          email_recipients=["ops@example.test"])[0]


@register_model_factory(BaselinePin)
def _baseline_pin(organization, user):
    from riskapp.monitoring.services import baseline_pin

    asset = make_asset(organization)
    run = make_run(asset, make_profile(organization),
                   checks={"evasion.whitebox": whitebox_metrics(clean=0.95, robust={0.1: 0.6})})
    return baseline_pin(run=run, user=user)
