"""Builders for compliance tests: assessed runs with known metrics, evidence, manual evidence, reports, share links."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.utils import timezone

from riskapp.assessments.models import AssessmentRun, CheckResult, Profile, RunStatus
from riskapp.assets.models import Dataset, ModelAsset, ModelVersion
from riskapp.compliance.models import (
    Control,
    EvidenceRecord,
    Framework,
    ManualEvidence,
    MappingRule,
    Report,
    ReportFormat,
    ShareLink,
)
from tests.factories import register_model_factory

_counter = itertools.count(1)

# Metrics as the engine emits them (names from workers/engine/checks/*.py).
WHITEBOX_METRICS = {
    "clean_accuracy": 0.95, "robust_accuracy": 0.62, "attack_success_rate": 0.35, "breaking_epsilon": 0.2,
    "reference_epsilon": 0.1, "mean_perturbation_norm": 0.09, "n_samples": 200,
    "curves": {"worst_case": [[0.02, 0.9], [0.05, 0.8], [0.1, 0.62], [0.2, 0.4]]},
}
WHITEBOX_THRESHOLDS = {"clean_accuracy": {"min": 0.7}, "robust_accuracy": {"min": 0.3}}


def make_asset(organization, *, name=None, risk_tier="limited") -> ModelAsset:
    n = next(_counter)
    asset = ModelAsset.objects.create(organization=organization, name=name or f"Digits classifier {n}",
                                      task="image_classification", risk_tier=risk_tier)
    version = ModelVersion.objects.create(asset=asset, label="v1", format="torchscript", sha256="a" * 64,
                                          input_shape=[1, 8, 8], nb_classes=10, status="validated",
                                          white_box=True)
    dataset = Dataset.objects.create(organization=organization, name=f"digits eval {n}", source="builtin",
                                     builtin_name="digits", sha256="d" * 64, status="validated")
    asset.current_version = version
    asset.evaluation_dataset = dataset
    asset.save()
    return asset


def _profile() -> Profile:
    profile, _ = Profile.objects.get_or_create(organization=None, slug="compliance-test",
                                               defaults={"name": "Compliance test", "spec": {"checks": []},
                                                         "is_builtin": False})
    return profile


def make_run(asset, *, checks=None, finished_at=None, unreliable=False, status=RunStatus.SUCCEEDED,
             seed=7) -> AssessmentRun:
    """A finished run with CheckResult rows; checks: [(kind, status, metrics, thresholds)]."""
    if checks is None:
        checks = [("evasion.whitebox", "passed", WHITEBOX_METRICS, WHITEBOX_THRESHOLDS)]
    finished_at = finished_at or timezone.now()
    run = AssessmentRun.objects.create(
        organization=asset.organization, asset=asset, version=asset.current_version, profile=_profile(),
        profile_snapshot={"name": "compliance-test", "checks": [{"kind": c[0]} for c in checks]},
        evaluation_dataset=asset.evaluation_dataset, seed=seed, status=status, progress=100,
        started_at=finished_at - timedelta(minutes=3), finished_at=finished_at, device="cpu",
        passed=all(c[1] == "passed" for c in checks), unreliable=unreliable,
        versions={"art": "1.20.1", "torch": "2.13.0", "python": "3.11"},
        artifact_sha256="a" * 64, data_hashes={"evaluation": "e" * 64},
    )
    for order, (kind, check_status, metrics, thresholds) in enumerate(checks):
        CheckResult.objects.create(run=run, order=order, kind=kind, status=check_status, metrics=metrics,
                                   thresholds=thresholds, verdict=f"{kind} {check_status}",
                                   parameters={"seed": seed, "attacks": ["fgsm", "pgd"]}, seed=seed)
    return run


def control(slug: str, ref_id: str) -> Control:
    return Control.objects.get(framework__slug=slug, ref_id=ref_id)


@register_model_factory(EvidenceRecord)
def _evidence(organization, user):
    from riskapp.compliance.services import evidence_record_for_run

    return evidence_record_for_run(run=make_run(make_asset(organization)))[0]


@register_model_factory(ManualEvidence)
def _manual_evidence(organization, user):
    return ManualEvidence.objects.create(
        organization=organization, asset=make_asset(organization), control=control("iso-42001", "A.2.2"),
        title="AI policy v3", link="https://intranet.example.test/ai-policy", owner=user,
        expires_on=timezone.now().date() + timedelta(days=180), created_by=user)


@register_model_factory(Report)
def _report(organization, user):
    from riskapp.compliance.services import report_generate, report_request

    report = report_request(organization=organization, framework=Framework.objects.get(slug="owasp-ml-top10"),
                            fmt=ReportFormat.CSV, asset=None, user=user, enqueue=False)
    report_generate(report_id=report.pk)
    report.refresh_from_db()
    return report


@register_model_factory(ShareLink)
def _share_link(organization, user):
    from riskapp.compliance.services import share_link_create

    return share_link_create(organization=organization, asset=make_asset(organization), user=user,
                             expires_in_days=7)[0]


@register_model_factory(Framework)
def _framework(organization, user):
    return Framework.objects.get(slug="iso-42001")


@register_model_factory(Control)
def _control(organization, user):
    return control("iso-42001", "A.6.2.4")


@register_model_factory(MappingRule)
def _mapping_rule(organization, user):
    return MappingRule.objects.get(rule_id="evasion-whitebox-robust-accuracy")
