"""Reads for model assets, versions and datasets, and the one way to open their stored files and load them."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from riskapp.assets.models import (
    Dataset,
    DatasetRole,
    DatasetSource,
    EndpointConfig,
    ModelAsset,
    ModelVersion,
    ValidationStatus,
)
from workers.engine.data import DataError, builtin_dataset, load_csv, load_npz, validate_arrays

# Dataset role → split name of workers.engine.data.builtin_dataset.
BUILTIN_SPLITS = {DatasetRole.EVALUATION: "evaluation", DatasetRole.TRAINING: "train", DatasetRole.HOLDOUT: "holdout"}
ASSET_STATUSES = ("validated", "pending", "rejected", "none")


def assets_for(*, organization, risk_tier: str = "", sector: str = "", status: str = "", task: str = "",
               query: str = "") -> QuerySet[ModelAsset]:
    """The organization's assets with `latest_status` (status of the newest version, None without versions)."""
    latest = ModelVersion.objects.filter(asset=OuterRef("pk")).order_by("-created_at", "-id").values("status")[:1]
    assets = (ModelAsset.objects.filter(organization=organization)
              .select_related("current_version", "owner")
              .annotate(latest_status=Subquery(latest)))
    if risk_tier:
        assets = assets.filter(risk_tier=risk_tier)
    if sector:
        assets = assets.filter(sector=sector)
    if task:
        assets = assets.filter(task=task)
    if status == "none":
        assets = assets.filter(latest_status__isnull=True)
    elif status:
        assets = assets.filter(latest_status=status)
    if query:
        assets = assets.filter(name__icontains=query)
    return assets


def asset_get(*, organization, pk: int) -> ModelAsset:
    """The asset with this id in this organization, else 404 (another organization's asset does not exist here)."""
    return get_object_or_404(
        ModelAsset.objects.select_related("current_version", "evaluation_dataset", "training_dataset",
                                          "holdout_dataset", "owner"),
        organization=organization, pk=pk)


def versions_of(*, asset: ModelAsset) -> QuerySet[ModelVersion]:
    return asset.versions.select_related("created_by").order_by("-created_at", "-id")


def version_get(*, organization, pk: int) -> ModelVersion:
    return get_object_or_404(ModelVersion.objects.select_related("asset"), asset__organization=organization, pk=pk)


def dataset_get(*, organization, pk: int) -> Dataset:
    return get_object_or_404(Dataset, organization=organization, pk=pk)


def datasets_for(*, organization, role: str = "", validated_only: bool = False) -> QuerySet[Dataset]:
    datasets = Dataset.objects.filter(organization=organization)
    if role:
        datasets = datasets.filter(role=role)
    if validated_only:
        datasets = datasets.filter(status=ValidationStatus.VALIDATED)
    return datasets


def asset_datasets(*, asset: ModelAsset) -> list[tuple[str, Dataset | None]]:
    return [(DatasetRole(role).label, getattr(asset, f"{role}_dataset")) for role in DatasetRole.values]


# --- files and loading ---------------------------------------------------------------------------------


@contextmanager
def _local_copy(field_file) -> Iterator[Path]:
    storage = field_file.storage
    try:
        local = Path(storage.path(field_file.name))
    except NotImplementedError:  # remote storage (S3) has no local paths
        local = None
    if local is not None and local.is_file():
        yield local
        return
    # Work on a private temporary copy read through the storage API.
    with tempfile.NamedTemporaryFile(prefix="riskapp-artifact-", suffix=Path(field_file.name).suffix) as copy:
        with storage.open(field_file.name, "rb") as source:
            shutil.copyfileobj(source, copy, 1 << 20)
        copy.flush()
        yield Path(copy.name)


@contextmanager
def model_version_artifact_path(version: ModelVersion) -> Iterator[Path]:
    """A local path to the version's stored artifact for the duration of the block."""
    if not version.artifact:
        raise FileNotFoundError(f"model version {version.pk} has no stored artifact")
    with _local_copy(version.artifact) as path:
        if not path.is_file():
            raise FileNotFoundError(str(path))
        yield path


@contextmanager
def dataset_local_path(dataset: Dataset) -> Iterator[Path | None]:
    """A local path to an uploaded dataset's file; None for built-ins."""
    if dataset.source == DatasetSource.BUILTIN:
        yield None
        return
    if not dataset.file:
        raise FileNotFoundError(f"dataset {dataset.pk} has no stored file")
    with _local_copy(dataset.file) as path:
        if not path.is_file():
            raise FileNotFoundError(str(path))
        yield path


def dataset_arrays(*, dataset: Dataset, path: Path | None = None, input_shape: tuple | None = None,
                   nb_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a dataset through the engine's safe loaders; raises workers.engine.data.DataError with the reason.

    `path` is a local copy of the file (from dataset_local_path); without it the stored file is opened.
    """
    if dataset.source == DatasetSource.BUILTIN:
        splits = builtin_dataset(dataset.builtin_name)
        x, y = splits[BUILTIN_SPLITS[DatasetRole(dataset.role)]]
        return validate_arrays(x, y, input_shape=input_shape, nb_classes=nb_classes)
    if path is None:
        with dataset_local_path(dataset) as stored:
            return dataset_arrays(dataset=dataset, path=stored, input_shape=input_shape, nb_classes=nb_classes)
    if dataset.file_format == "npz":
        return load_npz(path, input_shape=input_shape, nb_classes=nb_classes)
    if dataset.file_format == "csv":
        return load_csv(path, dataset.label_column or "label", input_shape=input_shape, nb_classes=nb_classes)
    raise DataError(f"Unknown dataset format {dataset.file_format!r}.")


def endpoint_spec(config: EndpointConfig) -> dict:
    """The engine's endpoint description (workers.engine.model.EndpointModelHandle) for a stored configuration.

    It carries the auth header: pass it to the engine only, never to logs, audit details or API responses.
    """
    headers = {}
    if config.auth_header_value:
        headers[config.auth_header_name or "Authorization"] = config.auth_header_value
    return {
        "url": config.url,
        "headers": headers,
        "input_key": config.input_key,
        "output_key": config.output_key,
        "output_kind": config.output_kind,
        "timeout_s": float(config.timeout_s),
        "query_budget": int(config.query_budget),
        "rate_limit_per_s": float(config.rate_limit_per_s),
        "max_response_bytes": int(settings.RISKAPP_ENDPOINT_MAX_RESPONSE_BYTES),
        "allow_private": bool(settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE),
    }


def version_load_kwargs(version: ModelVersion) -> dict:
    preprocessing = None
    if version.preprocessing_mean is not None and version.preprocessing_std is not None:
        preprocessing = (version.preprocessing_mean, version.preprocessing_std)
    return {
        "input_shape": tuple(int(d) for d in version.input_shape),
        "nb_classes": int(version.nb_classes),
        "clip_values": (float(version.clip_min), float(version.clip_max)),
        "preprocessing": preprocessing,
    }


@contextmanager
def model_version_handle(version: ModelVersion, *, device: str | None = None, sample: np.ndarray | None = None):
    """Load a validated version as a workers.engine ModelHandle for the duration of the block.

    Refuses versions that are not validated: nothing that failed or skipped validation is ever assessed.
    """
    from workers.engine.loaders import ModelLoadError, load_model

    if version.status != ValidationStatus.VALIDATED:
        raise ModelLoadError(f"Version {version.label} is {version.get_status_display().lower()}, not validated; "
                             "only validated versions can be assessed.")
    kwargs = version_load_kwargs(version)
    if version.format == "endpoint":
        yield load_model(None, "endpoint", endpoint=endpoint_spec(version.endpoint), sample=sample, device=device,
                         **kwargs)
        return
    with model_version_artifact_path(version) as path:
        yield load_model(path, version.format, sample=sample, device=device, **kwargs)
