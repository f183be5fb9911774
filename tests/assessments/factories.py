"""Builders for assessment tests: a registered digits CNN with its built-in datasets, runs, custom profiles.

Profile and AssessmentRun factories are registered for the tenancy route walker.
"""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile

from riskapp.assessments.models import AssessmentRun, Profile, RunStatus
from riskapp.assets.models import Dataset, DatasetSource, ModelAsset, ModelVersion, ValidationStatus
from tests.factories import register_model_factory

# A suite small enough for unit tests yet exercising the white-box check the run page is built around.
TINY_SUITE = {
    "name": "tiny",
    "checks": [
        {"kind": "integrity.data", "params": {}, "thresholds": {"nan_count": {"max": 0}}},
        {"kind": "evasion.whitebox",
         "params": {"attacks": ["fgsm", "pgd"], "epsilons": [0.05, 0.1, 0.2], "reference_epsilon": 0.1,
                    "pgd_max_iter": 5, "max_samples": 60},
         "thresholds": {"clean_accuracy": {"min": 0.7}, "robust_accuracy": {"min": 0.3}}},
    ],
}

# Long enough (many PGD steps on every sample) for a test to watch progress or cancel it mid-way.
SLOW_SUITE = {
    "name": "slow",
    "checks": [
        {"kind": "evasion.whitebox",
         "params": {"attacks": ["fgsm", "pgd"], "epsilons": [0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3],
                    "reference_epsilon": 0.1, "pgd_max_iter": 60, "max_samples": 360},
         "thresholds": {}},
    ],
}

# Far longer than any soft time limit a test sets, on any machine: each PGD step alone takes seconds.
ENDLESS_SUITE = {
    "name": "endless",
    "checks": [
        {"kind": "evasion.whitebox",
         "params": {"attacks": ["pgd"], "epsilons": [0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3],
                    "reference_epsilon": 0.1, "pgd_max_iter": 1000, "max_samples": 360},
         "thresholds": {}},
    ],
}


def builtin_digits(organization, role: str = "evaluation") -> Dataset:
    from workers.engine.data import array_sha256, builtin_dataset

    split = {"evaluation": "evaluation", "training": "train", "holdout": "holdout"}[role]
    x, y = builtin_dataset("digits")[split]
    digest = array_sha256(x, y)
    dataset, _ = Dataset.objects.get_or_create(
        organization=organization, source=DatasetSource.BUILTIN, builtin_name="digits", role=role,
        defaults={"name": f"Digits ({role})", "sample_count": len(x), "shape": [1, 8, 8], "nb_classes": 10,
                  "sha256": digest, "content_sha256": digest, "status": ValidationStatus.VALIDATED},
    )
    return dataset


def digits_asset(organization, *, model_bytes: bytes, user=None, name: str = "Digits CNN",
                 risk_tier: str = "limited", status: str = ValidationStatus.VALIDATED) -> ModelAsset:
    """An image asset whose current version is the given TorchScript digits CNN, with digits defaults."""
    evaluation = builtin_digits(organization, "evaluation")
    asset = ModelAsset.objects.create(organization=organization, name=name, task="image_classification",
                                      risk_tier=risk_tier, evaluation_dataset=evaluation, created_by=user)
    version = ModelVersion(asset=asset, label="v1", format="torchscript", input_shape=[1, 8, 8], nb_classes=10,
                           clip_min=0.0, clip_max=1.0, sha256=hashlib.sha256(model_bytes).hexdigest(),
                           size_bytes=len(model_bytes), status=status, white_box=True, created_by=user)
    version.artifact.save("digits_cnn.pt", ContentFile(model_bytes), save=False)
    version.save()
    if status == ValidationStatus.VALIDATED:
        asset.current_version = version
        asset.save(update_fields=["current_version"])
    return asset


def custom_profile(organization, *, spec: dict = TINY_SUITE, slug: str = "tiny") -> Profile:
    return Profile.objects.create(organization=organization, slug=slug, name=slug.title(), spec=spec)


def builtin_profile(slug: str = "quick") -> Profile:
    return Profile.objects.get(organization__isnull=True, slug=slug)


@register_model_factory(Profile)
def _profile(organization, user):
    return custom_profile(organization, slug=f"factory-{Profile.objects.count()}")


@register_model_factory(AssessmentRun)
def _run(organization, user):
    asset = digits_asset(organization, model_bytes=b"not a real model: never executed by the walker", user=user,
                         name=f"Walker asset {ModelAsset.objects.count()}")
    profile = custom_profile(organization, slug=f"walker-{Profile.objects.count()}")
    return AssessmentRun.objects.create(
        organization=organization, asset=asset, version=asset.current_version, profile=profile,
        profile_snapshot=profile.spec, evaluation_dataset=asset.evaluation_dataset, status=RunStatus.SUCCEEDED)
