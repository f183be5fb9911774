"""Factories for the registry's models, registered for the tenancy route walker."""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile

from riskapp.assets.models import Dataset, DatasetSource, ModelAsset, ModelVersion, ValidationStatus
from tests.factories import register_model_factory


@register_model_factory(ModelAsset)
def _asset(organization, user):
    from riskapp.assets.services import asset_create

    return asset_create(organization=organization, user=user, name=f"Factory model {ModelAsset.objects.count() + 1}",
                        task="image_classification")


@register_model_factory(ModelVersion)
def _version(organization, user):
    asset = _asset(organization, user)
    version = ModelVersion(
        asset=asset, label="v1", format="torchscript", input_shape=[1, 8, 8], nb_classes=10,
        sha256=hashlib.sha256(b"factory").hexdigest(), size_bytes=7, status=ValidationStatus.VALIDATED,
        created_by=user, original_filename="factory.pt")
    version.artifact.save("factory.pt", ContentFile(b"factory"), save=False)  # the bytes its sha256 names
    version.save()
    return version


@register_model_factory(Dataset)
def _dataset(organization, user):
    return Dataset.objects.create(organization=organization, name="Factory digits", role="evaluation",
                                  source=DatasetSource.BUILTIN, builtin_name="digits", sample_count=360,
                                  shape=[1, 8, 8], nb_classes=10, status=ValidationStatus.VALIDATED)
