"""Builders for screening tests and the tenancy route walker: an asset with a validated version, runs and detectors."""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile
from django.utils import timezone

from riskapp.assessments.models import AssessmentRun, Profile, RunStatus
from riskapp.assets.models import Dataset, DatasetRole, DatasetSource, ModelAsset, ModelVersion, ValidationStatus
from riskapp.screening.models import ScreeningDetector, ScreeningEvent, ScreeningRequest, ScreeningToken
from tests.factories import MODEL_FACTORIES, register_model_factory

# Detector settings small enough for the test machine, large enough for stable figures on the digits CNN.
TEST_DETECTION_PARAMS = {"max_fit": 600, "detector_epochs": 10, "detector_lr": 3e-3, "pgd_iter": 7, "adaptive_iter": 10}
TEST_SUITE = {"name": "screening-test", "risk_tier": "limited",
              "checks": [{"kind": "detection.train", "params": TEST_DETECTION_PARAMS, "thresholds": {}}]}


def digits_asset(organization, *, name: str = "Digits CNN", artifact: bytes = b"not a model: tenancy rows only",
                 user=None) -> ModelAsset:
    """An image asset with a validated TorchScript version and the built-in digits splits as its datasets."""
    asset = ModelAsset.objects.create(organization=organization, name=name, task="image_classification",
                                      created_by=user)
    version = ModelVersion(asset=asset, label="v1", format="torchscript", sha256=hashlib.sha256(artifact).hexdigest(),
                           size_bytes=len(artifact), input_shape=[1, 8, 8], nb_classes=10, clip_min=0.0, clip_max=1.0,
                           status=ValidationStatus.VALIDATED, white_box=True, validated_at=timezone.now())
    version.artifact.save("model.pt", ContentFile(artifact), save=False)
    version.save()
    datasets = {}
    for role, count in ((DatasetRole.EVALUATION, 360), (DatasetRole.TRAINING, 1078), (DatasetRole.HOLDOUT, 359)):
        datasets[role] = Dataset.objects.create(
            organization=organization, name=f"{name} digits {role}", role=role, source=DatasetSource.BUILTIN,
            builtin_name="digits", status=ValidationStatus.VALIDATED, shape=[1, 8, 8], nb_classes=10,
            sample_count=count)
    asset.current_version = version
    asset.evaluation_dataset = datasets[DatasetRole.EVALUATION]
    asset.training_dataset = datasets[DatasetRole.TRAINING]
    asset.holdout_dataset = datasets[DatasetRole.HOLDOUT]
    asset.save()
    return asset


def finished_run(asset, *, suite: dict = TEST_SUITE) -> AssessmentRun:
    """A succeeded run row of a custom profile holding `suite` (the engine is not run here)."""
    profile, _ = Profile.objects.get_or_create(organization=asset.organization, slug=suite["name"],
                                               defaults={"name": suite["name"], "spec": suite})
    now = timezone.now()
    return AssessmentRun.objects.create(
        organization=asset.organization, asset=asset, version=asset.current_version, profile=profile,
        profile_snapshot=suite, evaluation_dataset=asset.evaluation_dataset, training_dataset=asset.training_dataset,
        holdout_dataset=asset.holdout_dataset, status=RunStatus.SUCCEEDED, started_at=now, finished_at=now,
        progress=100)


def _tenancy_detector(organization, user) -> ScreeningDetector:
    # A row with recorded figures but no stored files: enough for routes that only read rows.
    asset = digits_asset(organization, name=f"Tenancy asset {ModelAsset.objects.count() + 1}", user=user)
    run = finished_run(asset)
    return ScreeningDetector.objects.create(
        organization=organization, asset=asset, version=asset.current_version, run=run,
        storage_prefix=f"detectors/org-{organization.pk}/run-{run.pk}", files={"detector.json": "0" * 64},
        manifest_sha256="0" * 64, target_fpr=0.01, false_positive_rate=0.01, anomaly_false_positive_rate=0.01,
        either_false_positive_rate=0.02, detection_rate=0.9, adaptive_detection_rate=0.5, calibration={})


@register_model_factory(ScreeningDetector)
def _detector(organization, user):
    return _tenancy_detector(organization, user)


@register_model_factory(ScreeningToken)
def _screening_token(organization, user):
    from riskapp.screening.services import screening_token_create

    asset = digits_asset(organization, name=f"Token asset {ModelAsset.objects.count() + 1}", user=user)
    return screening_token_create(asset=asset, user=user, name="factory token")[0]


@register_model_factory(ScreeningEvent)
def _screening_event(organization, user):
    detector = _tenancy_detector(organization, user)
    now = timezone.now()
    request = ScreeningRequest.objects.create(
        organization=organization, asset=detector.asset, detector=detector, caller=f"user:{user.pk}", user=user,
        input_count=1, flagged_count=1, adversarial_count=1, anomalous_count=0, entropy_sum=0.5, created_at=now)
    return ScreeningEvent.objects.create(
        organization=organization, asset=detector.asset, request=request, detector=detector, caller=request.caller,
        input_sha256="a" * 64, predicted_label=3, adversarial_score=4.2, anomaly_score=10.0, flags=["adversarial"],
        created_at=now)


if ModelAsset not in MODEL_FACTORIES:  # the registry's tests register their own asset factory when present
    register_model_factory(ModelAsset)(lambda organization, user: digits_asset(
        organization, name=f"Asset {ModelAsset.objects.count() + 1}", user=user))
