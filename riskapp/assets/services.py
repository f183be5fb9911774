"""Writes for model assets, their versions and datasets: safe intake, validation, and choosing the current version."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from riskapp.assets import intake
from riskapp.assets.models import (
    BuiltinDataset,
    Dataset,
    DatasetRole,
    DatasetSource,
    EndpointConfig,
    ModelAsset,
    ModelFormat,
    ModelVersion,
    OutputKind,
    Task,
    ValidationStatus,
)
from riskapp.assets.selectors import (
    dataset_arrays,
    dataset_local_path,
    endpoint_spec,
    model_version_artifact_path,
    version_load_kwargs,
)
from riskapp.audit.services import audit_record
from workers.engine.data import DataError, array_sha256
from workers.engine.loaders import ModelLoadError, load_model
from workers.engine.model import EndpointError, check_endpoint_address

logger = logging.getLogger(__name__)

# Files up to this size are also loaded and checked inside the upload request, so that a wrong shape, a wrong
# class count or NaN data is an immediate 400 instead of a rejected version a moment later. Larger files are
# checked only by the worker. The worker always re-validates: it is the step that marks a version validated.
SYNC_VALIDATION_MAX_BYTES = 32 * 1024 * 1024

ASSET_FIELDS = ("name", "description", "task", "risk_tier", "sector", "intended_use", "tags", "owner")
ASSET_DATASET_FIELDS = ("evaluation_dataset", "training_dataset", "holdout_dataset")


class ValidationRejected(Exception):
    """Validation found the version or dataset unusable; the message is the reason shown to people."""

    def __init__(self, message: str, *, field: str = "artifact"):
        super().__init__(message)
        self.field = field


# --- assets ------------------------------------------------------------------------------------------------


def _clean_tags(tags) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise ValidationError({"tags": "Tags are a list of words, e.g. [\"triage\", \"pilot\"]."})
    return sorted({t.strip()[:50] for t in tags if t.strip()})


def _check_unique_name(*, organization, name: str, exclude_pk: int | None = None) -> None:
    clash = ModelAsset.objects.filter(organization=organization, name=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError({"name": f"This organization already has a model named {name!r}; pick another name."})


@transaction.atomic
def asset_create(*, organization, name: str, task: str, user=None, description: str = "", risk_tier: str = "limited",
                 sector: str = "other", intended_use: str = "", tags=None, owner=None) -> ModelAsset:
    _check_unique_name(organization=organization, name=name)
    asset = ModelAsset(organization=organization, name=name, task=task, description=description, risk_tier=risk_tier,
                       sector=sector, intended_use=intended_use, tags=_clean_tags(tags), owner=owner or user,
                       created_by=user)
    asset.full_clean()
    asset.save()
    audit_record(actor=user, organization=organization, action="asset.create", obj=asset,
                 details={"name": name, "risk_tier": risk_tier, "sector": sector})
    return asset


def _dataset_fit_problem(dataset: Dataset, *, input_shape, nb_classes: int) -> str | None:
    """Why a dataset cannot feed a model of this shape and class count, or None when it fits (or is not known yet).

    The shape is known once the arrays were read: at upload for small files, else after validation.
    """
    if dataset.status == ValidationStatus.REJECTED or not dataset.shape:
        return None
    shape = [int(d) for d in dataset.shape]
    declared = [int(d) for d in input_shape]
    same = shape == declared or (len(shape) == 1 and int(np.prod(declared)) == shape[0])
    if not same:
        return (f"Dataset “{dataset.name}” has samples of shape {tuple(shape)}, but the model expects "
                f"{tuple(declared)}.")
    if dataset.nb_classes and dataset.nb_classes > nb_classes:
        return (f"Dataset “{dataset.name}” has labels up to {dataset.nb_classes - 1}, but the model has only "
                f"{nb_classes} classes (0..{nb_classes - 1}).")
    return None


@transaction.atomic
def asset_update(*, asset: ModelAsset, user=None, **changes) -> ModelAsset:
    unknown = set(changes) - set(ASSET_FIELDS) - set(ASSET_DATASET_FIELDS)
    if unknown:
        raise ValidationError({"detail": f"These fields cannot be changed here: {', '.join(sorted(unknown))}."})
    if "name" in changes:
        _check_unique_name(organization=asset.organization, name=changes["name"], exclude_pk=asset.pk)
    if "tags" in changes:
        changes["tags"] = _clean_tags(changes["tags"])
    for field in ASSET_DATASET_FIELDS:
        dataset = changes.get(field)
        if dataset is None:
            continue
        if dataset.organization_id != asset.organization_id:
            raise ValidationError({field: "Choose a dataset of this organization."})
        if dataset.status == ValidationStatus.REJECTED:
            raise ValidationError({field: f"Dataset “{dataset.name}” was rejected: {dataset.status_reason}"})
        version = asset.current_version
        if version is not None:
            problem = _dataset_fit_problem(dataset, input_shape=version.input_shape, nb_classes=version.nb_classes)
            if problem:
                raise ValidationError({field: problem})
    for field, value in changes.items():
        setattr(asset, field, value)
    asset.full_clean()
    asset.save()
    audit_record(actor=user, organization=asset.organization, action="asset.update", obj=asset,
                 details={"fields": sorted(changes)})
    return asset


def asset_delete(*, asset: ModelAsset, user=None) -> None:
    organization, name, pk = asset.organization, asset.name, asset.pk
    try:
        with transaction.atomic():
            asset.delete()
            audit_record(actor=user, organization=organization, action="asset.delete", obj=None,
                         details={"asset_id": pk, "name": name})
    except ProtectedError:
        raise ValidationError({"detail": (
            f"“{name}” has assessment runs that are evidence for controls; it cannot be deleted. "
            "Mark it as retired in its description instead."
        )})


# --- model versions ----------------------------------------------------------------------------------------


def _clean_preprocessing(value, field: str):
    if value in (None, "", []):
        return None
    values = [value] if isinstance(value, (int, float)) else value
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValidationError({field: "Give one number or one number per channel, e.g. 0.5 or 0.485,0.456,0.406."})
    if not numbers or not all(np.isfinite(numbers)):
        raise ValidationError({field: "Preprocessing values must be finite numbers."})
    return numbers


def _next_label(asset: ModelAsset) -> str:
    n = asset.versions.count() + 1
    while asset.versions.filter(label=f"v{n}").exists():
        n += 1
    return f"v{n}"


ENDPOINT_FIELDS = ("url", "auth_header_name", "auth_header_value", "input_key", "output_key", "output_kind",
                   "timeout_s", "query_budget", "rate_limit_per_s")


def _endpoint_config(version: ModelVersion | None, endpoint: dict) -> EndpointConfig:
    unknown = set(endpoint) - set(ENDPOINT_FIELDS)
    if unknown:
        raise ValidationError({"endpoint": f"Unknown endpoint settings: {', '.join(sorted(unknown))}."})
    config = EndpointConfig(version=version, **{k: v for k, v in endpoint.items() if v is not None})
    if not config.url:
        raise ValidationError({"endpoint_url": "An endpoint model needs the URL of its prediction API."})
    try:
        check_endpoint_address(config.url, allow_private=settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE)
    except EndpointError as exc:
        raise ValidationError({"endpoint_url": (
            f"{exc}. riskapp only calls public addresses, so an assessment cannot be used to reach internal "
            "services; an operator can allow private addresses with RISKAPP_ENDPOINT_ALLOW_PRIVATE."
        )})
    if config.output_kind not in OutputKind.values:
        raise ValidationError({"endpoint_output_kind": "Choose probabilities or labels."})
    if not 0 < float(config.timeout_s) <= 300:
        raise ValidationError({"endpoint_timeout_s": "The timeout must be between 0 and 300 seconds."})
    if float(config.rate_limit_per_s) < 0:
        raise ValidationError({"endpoint_rate_limit_per_s": "The rate limit cannot be negative (0 means unlimited)."})
    return config


def _default_datasets(asset: ModelAsset) -> list[Dataset]:
    return [d for d in (asset.evaluation_dataset, asset.training_dataset, asset.holdout_dataset) if d is not None]


def _verify_model(*, version: ModelVersion, artifact_path: Path | None, endpoint: dict | None,
                  datasets: list[Dataset], small_only: bool = False):
    """Load the model as the engine will, run one forward pass, and check every linked dataset fits it.

    Raises ValidationRejected with the reason a person should read. Returns the loaded ModelHandle.
    """
    evaluation = next((d for d in datasets if d.role == DatasetRole.EVALUATION), None)
    sample = None
    checked = []
    for dataset in datasets:
        if dataset.status == ValidationStatus.REJECTED:
            continue
        if small_only and dataset.source == DatasetSource.UPLOAD and dataset.size_bytes > SYNC_VALIDATION_MAX_BYTES:
            continue
        try:
            x, _labels = dataset_arrays(dataset=dataset, input_shape=tuple(version.input_shape),
                                  nb_classes=version.nb_classes)
        except DataError as exc:
            raise ValidationRejected(f"Dataset “{dataset.name}” does not fit this model: {exc}", field="dataset") from exc
        checked.append(dataset.name)
        if dataset is evaluation or sample is None:
            sample = x[:8]
    kwargs = version_load_kwargs(version)
    try:
        handle = load_model(artifact_path, version.format, endpoint=endpoint, sample=sample, device="cpu", **kwargs)
    except ModelLoadError as exc:
        raise ValidationRejected(str(exc)) from exc
    return handle


@contextmanager
def _stored_files():
    """Collect FieldFiles saved during a block; delete them from storage if the block fails (no orphans)."""
    saved: list = []
    try:
        yield saved
    except BaseException:
        for field_file in saved:
            try:
                field_file.storage.delete(field_file.name)
            except Exception:  # cleanup must not hide the original error
                logger.warning("could not remove %s after a failed intake", field_file.name)
        raise


def _enqueue_version_validation(version_id: int) -> None:
    from workers.tasks import validate_model_version

    transaction.on_commit(lambda: validate_model_version.delay(version_id))


def _enqueue_dataset_validation(dataset_id: int) -> None:
    from workers.tasks import validate_dataset

    transaction.on_commit(lambda: validate_dataset.delay(dataset_id))


def model_version_create(*, asset: ModelAsset, format: str, input_shape, nb_classes: int, user=None,
                         artifact: File | None = None, endpoint: dict | None = None, label: str = "",
                         class_names=None, clip_min: float = 0.0, clip_max: float = 1.0,
                         preprocessing_mean=None, preprocessing_std=None, make_current: bool = True,
                         enqueue: bool = True) -> ModelVersion:
    """Register a version: check the upload, store it through Django's storage, and queue its validation.

    Obvious problems (pickles, truncated or empty files, oversize, a declared format the bytes contradict, and
    for small files a wrong shape or class count) raise ValidationError before anything is stored. The new
    version is `pending`; validation (workers.tasks.validate_model_version) makes it `validated` or `rejected`.
    """
    if format not in ModelFormat.values:
        raise ValidationError({"format": f"Unknown format {format!r}; choose one of {', '.join(ModelFormat.values)}."})
    shape = intake.parse_shape(input_shape)
    if asset.task == Task.IMAGE and len(shape) == 1:
        # Image attacks and checks need channels × height × width; a flat vector would quietly be treated as
        # tabular data and the image-only checks skipped.
        raise ValidationError({"input_shape": (
            f"{asset.name} is an image classifier, but the input shape {shape[0]} is a flat vector. Give the image "
            "shape as channels,height,width (e.g. 1,8,8) and flatten inside the model, or register the model as "
            "tabular classification if its inputs are features rather than pixels.")})
    try:
        nb_classes = int(nb_classes)
    except (TypeError, ValueError):
        raise ValidationError({"nb_classes": "Give the number of classes the model outputs, e.g. 10."})
    if nb_classes < 2:
        raise ValidationError({"nb_classes": "A classifier needs at least 2 classes."})
    if not (np.isfinite(clip_min) and np.isfinite(clip_max)) or clip_min >= clip_max:
        raise ValidationError({"clip_max": "The input value range needs a minimum below its maximum, e.g. 0 and 1."})
    class_names = list(class_names or [])
    if class_names and len(class_names) != nb_classes:
        raise ValidationError({"class_names": f"Give {nb_classes} class names (one per class) or none."})
    label = (label or "").strip() or _next_label(asset)
    if asset.versions.filter(label=label).exists():
        raise ValidationError({"label": f"{asset.name} already has a version labelled {label!r}."})
    version = ModelVersion(
        asset=asset, label=label, format=format, input_shape=shape, nb_classes=nb_classes, class_names=class_names,
        clip_min=float(clip_min), clip_max=float(clip_max),
        preprocessing_mean=_clean_preprocessing(preprocessing_mean, "preprocessing_mean"),
        preprocessing_std=_clean_preprocessing(preprocessing_std, "preprocessing_std"),
        make_current=make_current, created_by=user, status=ValidationStatus.PENDING,
    )
    if version.preprocessing_std and any(v == 0 for v in version.preprocessing_std):
        raise ValidationError({"preprocessing_std": "A standard deviation of 0 would divide by zero."})
    if (version.preprocessing_mean is None) != (version.preprocessing_std is None):
        raise ValidationError({"preprocessing_std": "Give both the mean and the standard deviation, or neither."})

    if format == ModelFormat.ENDPOINT:
        if artifact is not None:
            raise ValidationError({"artifact": "An endpoint model has no file; leave the upload empty."})
        config = _endpoint_config(None, endpoint or {})
        version.original_filename = ""
        with transaction.atomic():
            version.full_clean()
            version.save()
            config.version = version
            config.full_clean()
            config.save()
            # The endpoint's auth header is a secret: only its presence is recorded.
            audit_record(actor=user, organization=asset.organization, action="model_version.create", obj=version,
                         details={"label": label, "format": format, "url": config.url,
                                  "auth_header": bool(config.auth_header_value)})
            if enqueue:
                _enqueue_version_validation(version.pk)
        return version

    if endpoint:
        raise ValidationError({"endpoint": "Endpoint settings only apply to the endpoint format."})
    if artifact is None:
        raise ValidationError({"artifact": f"Upload the model file. {intake.HOW_TO_EXPORT[format]}"})
    with intake.spooled(artifact, field="artifact", max_bytes=settings.RISKAPP_MAX_UPLOAD_BYTES) as spooled:
        intake.check_artifact(spooled, fmt=format)
        version.sha256, version.size_bytes = spooled.sha256, spooled.size
        version.original_filename = spooled.original_name[:255]
        if spooled.size <= SYNC_VALIDATION_MAX_BYTES:
            try:
                _verify_model(version=version, artifact_path=spooled.path, endpoint=None,
                              datasets=_default_datasets(asset), small_only=True)
            except ValidationRejected as exc:
                raise ValidationError({exc.field: str(exc)}) from exc
        with _stored_files() as saved, transaction.atomic(), open(spooled.path, "rb") as handle:
            version.artifact.save(spooled.original_name or "model", File(handle), save=False)
            saved.append(version.artifact)
            version.full_clean()
            version.save()
            audit_record(actor=user, organization=asset.organization, action="model_version.create", obj=version,
                         details={"label": label, "format": format, "sha256": version.sha256,
                                  "size_bytes": version.size_bytes})
            if enqueue:
                _enqueue_version_validation(version.pk)
    return version


@transaction.atomic
def endpoint_config_update(*, version: ModelVersion, user=None, **changes) -> EndpointConfig:
    """Change how an endpoint version is called (e.g. rotate its auth header); the version is validated again.

    An empty or missing auth_header_value keeps the stored secret; the secret never appears in the audit trail.
    """
    config = EndpointConfig.objects.select_for_update().filter(version=version).first()
    if config is None:
        raise ValidationError({"detail": "This version is not an endpoint model."})
    if not changes.get("auth_header_value"):
        changes.pop("auth_header_value", None)
    merged = {field: getattr(config, field) for field in ENDPOINT_FIELDS} | changes
    fresh = _endpoint_config(version, merged)
    fresh.pk = config.pk
    fresh.full_clean(validate_unique=False)
    fresh.save()
    ModelVersion.objects.filter(pk=version.pk).update(status=ValidationStatus.PENDING, status_reason="",
                                                      validated_at=None)
    audit_record(actor=user, organization=version.asset.organization, action="endpoint_config.update", obj=version,
                 details={"fields": sorted(changes), "url": fresh.url, "auth_header": bool(fresh.auth_header_value)})
    _enqueue_version_validation(version.pk)
    version.refresh_from_db()
    return fresh


def _reject_version(version: ModelVersion, reason: str) -> ModelVersion:
    with transaction.atomic():
        updated = ModelVersion.objects.filter(pk=version.pk, status=ValidationStatus.PENDING).update(
            status=ValidationStatus.REJECTED, status_reason=reason[:4000], validated_at=None)
        if updated:
            audit_record(actor="validation", organization=version.asset.organization, action="model_version.reject",
                         obj=version, details={"reason": reason[:500]})
    version.refresh_from_db()
    return version


def model_version_validate(*, version_id: int) -> ModelVersion | None:
    """Validate a pending version: stored bytes unchanged, loads safely, one forward pass, datasets fit.

    Success: `validated`, and (unless registered as a candidate) the asset's current version, then monitoring's
    on_version_validated hook. Failure: `rejected` with the reason. Versions no longer pending are left alone,
    so a redelivered task is harmless.
    """
    version = (ModelVersion.objects.select_related("asset__organization", "asset__evaluation_dataset",
                                                   "asset__training_dataset", "asset__holdout_dataset")
               .filter(pk=version_id).first())
    if version is None:
        logger.warning("model version %s no longer exists; nothing to validate", version_id)
        return None
    if version.status != ValidationStatus.PENDING:
        return version
    datasets = _default_datasets(version.asset)
    for dataset in datasets:
        if dataset.status == ValidationStatus.PENDING:
            dataset_validate(dataset_id=dataset.pk)
            dataset.refresh_from_db()
    try:
        if version.format == ModelFormat.ENDPOINT:
            config = EndpointConfig.objects.filter(version=version).first()
            if config is None:
                raise ValidationRejected("The endpoint settings are missing; register the version again.")
            handle = _verify_model(version=version, artifact_path=None, endpoint=endpoint_spec(config),
                                   datasets=datasets)
        else:
            with model_version_artifact_path(version) as path:
                stored = intake.file_sha256(path)
                if stored != version.sha256:
                    raise ValidationRejected(
                        "The stored file does not match the SHA-256 recorded at upload; it was changed or only "
                        "partly stored. Upload it again.")
                handle = _verify_model(version=version, artifact_path=path, endpoint=None, datasets=datasets)
    except ValidationRejected as exc:
        return _reject_version(version, str(exc))
    except FileNotFoundError:
        return _reject_version(version, "The uploaded file is missing from storage. Upload it again.")
    except Exception as exc:  # a model that crashes the loader in an unforeseen way is the model's problem
        logger.exception("validation of model version %s failed unexpectedly", version_id)
        return _reject_version(version, f"Validation failed unexpectedly ({type(exc).__name__}: {exc}).")

    with transaction.atomic():
        updated = ModelVersion.objects.filter(pk=version.pk, status=ValidationStatus.PENDING).update(
            status=ValidationStatus.VALIDATED, status_reason="", white_box=bool(handle.white_box),
            validated_at=timezone.now())
        if not updated:
            version.refresh_from_db()
            return version
        if version.make_current:
            ModelAsset.objects.filter(pk=version.asset_id).update(current_version=version, updated_at=timezone.now())
        audit_record(actor="validation", organization=version.asset.organization, action="model_version.validate",
                     obj=version, details={"white_box": bool(handle.white_box), "current": version.make_current})
    version.refresh_from_db()
    if version.make_current:
        _notify_version_validated(version)
    return version


def _notify_version_validated(version: ModelVersion) -> None:
    from riskapp.monitoring.services import on_version_validated

    try:
        on_version_validated(version=version)
    except Exception:  # re-assessment triggers must not undo a validation that succeeded
        logger.exception("on_version_validated failed for model version %s", version.pk)


@transaction.atomic
def model_version_make_current(*, version: ModelVersion, user=None) -> ModelVersion:
    """Make a validated version the one assessments use by default (e.g. swap in a candidate)."""
    if version.status != ValidationStatus.VALIDATED:
        raise ValidationError({"detail": f"Version {version.label} is {version.get_status_display().lower()}; "
                                         "only a validated version can become current."})
    asset = version.asset
    asset.current_version = version
    asset.save(update_fields=["current_version", "updated_at"])
    audit_record(actor=user, organization=asset.organization, action="model_version.make_current", obj=version,
                 details={"label": version.label})
    return version


@transaction.atomic
def model_version_artifact_open(*, version: ModelVersion, user):
    """Open a version's stored artifact for download, exactly as uploaded (the bytes its SHA-256 names); audited.

    Returns (open file, download filename). Raises ValidationError for an endpoint version (there is no file).
    """
    if not version.artifact:
        raise ValidationError("This version is an HTTP endpoint: there is no artifact file to download.")
    handle = version.artifact.storage.open(version.artifact.name, "rb")
    audit_record(actor=user, organization=version.asset.organization, action="model_version.download", obj=version,
                 details={"sha256": version.sha256, "size_bytes": version.size_bytes})
    suffix = Path(version.original_filename or version.artifact.name).suffix or ".bin"
    return handle, f"{version.asset.name}-{version.label}{suffix}"


def model_version_revalidate(*, version: ModelVersion, user=None) -> ModelVersion:
    """Queue a rejected version for validation again (e.g. after an endpoint outage)."""
    if version.status == ValidationStatus.VALIDATED:
        raise ValidationError({"detail": "This version is already validated."})
    ModelVersion.objects.filter(pk=version.pk).update(status=ValidationStatus.PENDING, status_reason="")
    audit_record(actor=user, organization=version.asset.organization, action="model_version.revalidate", obj=version)
    _enqueue_version_validation(version.pk)
    version.refresh_from_db()
    return version


# --- datasets ----------------------------------------------------------------------------------------------


def _dataset_file_format(original_name: str, declared: str) -> str:
    fmt = (declared or Path(original_name).suffix.lstrip(".")).lower()
    if fmt not in ("npz", "csv"):
        raise ValidationError({"file": "Upload a .npz file with arrays x and y (numpy.savez(path, x=inputs, y=labels)) "
                                       "or a .csv file with a header row and a label column."})
    return fmt


def _record_arrays(dataset: Dataset, x: np.ndarray, y: np.ndarray) -> None:
    dataset.sample_count = len(x)
    dataset.shape = [int(d) for d in x.shape[1:]]
    dataset.nb_classes = int(y.max()) + 1
    dataset.content_sha256 = array_sha256(x, y)


def dataset_create(*, organization, name: str, role: str = DatasetRole.EVALUATION, user=None,
                   file: File | None = None, file_format: str = "", label_column: str = "",
                   builtin_name: str = "", enqueue: bool = True, attach_to: ModelAsset | None = None) -> Dataset:
    """Register a dataset: a built-in split (validated at once), or an uploaded .npz / .csv (checked, stored, queued).

    With `attach_to`, it also becomes that asset's default dataset for its role, all or nothing: data that does not
    fit the asset's current version is refused and nothing is stored.
    """
    if role not in DatasetRole.values:
        raise ValidationError({"role": f"Choose a role: {', '.join(DatasetRole.values)}."})
    if not (name or "").strip():
        raise ValidationError({"name": "Give the dataset a name."})
    if builtin_name:
        if file is not None:
            raise ValidationError({"file": "Choose a built-in dataset or upload a file, not both."})
        if builtin_name not in BuiltinDataset.values:
            raise ValidationError({"builtin_name": f"Unknown built-in dataset; choose one of {', '.join(BuiltinDataset.values)}."})
        dataset = Dataset(organization=organization, name=name, role=role, source=DatasetSource.BUILTIN,
                          builtin_name=builtin_name, created_by=user)
        x, y = dataset_arrays(dataset=dataset)
        _record_arrays(dataset, x, y)
        dataset.sha256 = dataset.content_sha256
        dataset.status = ValidationStatus.VALIDATED
        with transaction.atomic():
            dataset.full_clean()
            dataset.save()
            audit_record(actor=user, organization=organization, action="dataset.create", obj=dataset,
                         details={"name": name, "role": role, "builtin": builtin_name})
            if attach_to is not None:
                asset_update(asset=attach_to, user=user, **{f"{role}_dataset": dataset})
        return dataset

    if file is None:
        raise ValidationError({"file": "Upload a .npz or .csv file, or choose a built-in dataset."})
    fmt = _dataset_file_format(getattr(file, "name", "") or "", file_format)
    label_column = (label_column or "").strip()
    if fmt == "csv" and not label_column:
        label_column = "label"
    dataset = Dataset(organization=organization, name=name, role=role, source=DatasetSource.UPLOAD, file_format=fmt,
                      label_column=label_column if fmt == "csv" else "", created_by=user,
                      status=ValidationStatus.PENDING)
    with intake.spooled(file, field="file", max_bytes=settings.RISKAPP_MAX_UPLOAD_BYTES) as spooled:
        if fmt == "npz":
            intake.check_npz(spooled.path)
        else:
            intake.check_csv(spooled.path, label_column=label_column)
        dataset.sha256, dataset.size_bytes = spooled.sha256, spooled.size
        dataset.original_filename = spooled.original_name[:255]
        if spooled.size <= SYNC_VALIDATION_MAX_BYTES:
            try:
                x, y = dataset_arrays(dataset=dataset, path=spooled.path)
            except DataError as exc:
                raise ValidationError({"file": str(exc)}) from exc
            _record_arrays(dataset, x, y)
        with _stored_files() as saved, transaction.atomic(), open(spooled.path, "rb") as handle:
            dataset.file.save(spooled.original_name or f"data.{fmt}", File(handle), save=False)
            saved.append(dataset.file)
            dataset.full_clean()
            dataset.save()
            audit_record(actor=user, organization=organization, action="dataset.create", obj=dataset,
                         details={"name": name, "role": role, "format": fmt, "sha256": dataset.sha256})
            if attach_to is not None:
                asset_update(asset=attach_to, user=user, **{f"{role}_dataset": dataset})
            if enqueue:
                _enqueue_dataset_validation(dataset.pk)
    return dataset


def dataset_validate(*, dataset_id: int) -> Dataset | None:
    """Load a pending dataset from storage with the engine's safe loaders; `validated` with its shape, or `rejected`."""
    dataset = Dataset.objects.select_related("organization").filter(pk=dataset_id).first()
    if dataset is None:
        logger.warning("dataset %s no longer exists; nothing to validate", dataset_id)
        return None
    if dataset.status != ValidationStatus.PENDING:
        return dataset
    reason = ""
    try:
        with dataset_local_path(dataset) as path:
            if path is not None and dataset.sha256 and intake.file_sha256(path) != dataset.sha256:
                raise DataError("The stored file does not match the SHA-256 recorded at upload. Upload it again.")
            x, y = dataset_arrays(dataset=dataset, path=path)
    except DataError as exc:
        reason = str(exc)
    except FileNotFoundError:
        reason = "The uploaded file is missing from storage. Upload it again."
    except Exception as exc:
        logger.exception("validation of dataset %s failed unexpectedly", dataset_id)
        reason = f"Validation failed unexpectedly ({type(exc).__name__}: {exc})."
    with transaction.atomic():
        if reason:
            updated = Dataset.objects.filter(pk=dataset.pk, status=ValidationStatus.PENDING).update(
                status=ValidationStatus.REJECTED, status_reason=reason[:4000])
            action, details = "dataset.reject", {"reason": reason[:500]}
        else:
            _record_arrays(dataset, x, y)
            updated = Dataset.objects.filter(pk=dataset.pk, status=ValidationStatus.PENDING).update(
                status=ValidationStatus.VALIDATED, status_reason="", sample_count=dataset.sample_count,
                shape=dataset.shape, nb_classes=dataset.nb_classes, content_sha256=dataset.content_sha256)
            action, details = "dataset.validate", {"samples": dataset.sample_count, "shape": dataset.shape}
        if updated:
            audit_record(actor="validation", organization=dataset.organization, action=action, obj=dataset,
                         details=details)
    dataset.refresh_from_db()
    return dataset


# --- the registration form: everything in one step ----------------------------------------------------------


def asset_register(*, organization, user, asset_fields: dict, version_fields: dict,
                   datasets: list[dict]) -> tuple[ModelAsset, ModelVersion]:
    """Create an asset, its datasets (linked as its defaults by role) and its first version, all or nothing.

    `datasets` holds dataset_create keyword dicts; a built-in without a role expands to its evaluation,
    training and holdout splits.
    """
    expanded = []
    for spec in datasets:
        if spec.get("builtin_name") and not spec.get("role"):
            for role in DatasetRole.values:
                expanded.append({**spec, "role": role, "name": f"{spec['name']} ({role})"})
        else:
            expanded.append(spec)
    created: list[Dataset] = []
    try:
        with transaction.atomic():
            asset = asset_create(organization=organization, user=user, **asset_fields)
            links = {}
            for spec in expanded:
                dataset = _existing_builtin(organization, spec) or dataset_create(
                    organization=organization, user=user, **spec)
                created.append(dataset)
                links.setdefault(f"{dataset.role}_dataset", dataset)
            if links:
                for field, dataset in links.items():
                    setattr(asset, field, dataset)
                asset.save(update_fields=[*links, "updated_at"])
            version = model_version_create(asset=asset, user=user, **version_fields)
    except BaseException:
        for dataset in created:
            if dataset.file:
                dataset.file.storage.delete(dataset.file.name)
        raise
    return asset, version


def _existing_builtin(organization, spec: dict) -> Dataset | None:
    # Built-in splits are the same data for every asset: reuse the organization's row instead of duplicating it.
    if not spec.get("builtin_name"):
        return None
    return Dataset.objects.filter(organization=organization, source=DatasetSource.BUILTIN,
                                  builtin_name=spec["builtin_name"], role=spec["role"],
                                  status=ValidationStatus.VALIDATED).order_by("pk").first()


def asset_link_builtin_datasets(*, asset: ModelAsset, builtin_name: str, user=None) -> ModelAsset:
    """Make the fixed evaluation / training / holdout splits of a built-in dataset the asset's defaults."""
    links = {}
    for role in DatasetRole.values:
        spec = {"builtin_name": builtin_name, "role": role}
        dataset = _existing_builtin(asset.organization, spec) or dataset_create(
            organization=asset.organization, user=user, role=role, builtin_name=builtin_name,
            name=f"{BuiltinDataset(builtin_name).label.split(' (')[0]} ({role})")
        links[f"{role}_dataset"] = dataset
    return asset_update(asset=asset, user=user, **links)
