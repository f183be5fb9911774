"""Model assets, their versions (artifacts or HTTP endpoints) and the datasets they are assessed on."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Task(models.TextChoices):
    IMAGE = "image_classification", "Image classification"
    TABULAR = "tabular_classification", "Tabular classification"


class RiskTier(models.TextChoices):
    # EU AI Act risk categories that matter for assessment thresholds.
    MINIMAL = "minimal", "Minimal risk"
    LIMITED = "limited", "Limited risk"
    HIGH = "high", "High risk"


class Sector(models.TextChoices):
    HEALTHCARE = "healthcare", "Healthcare"
    FINANCE = "finance", "Finance"
    AUTONOMOUS = "autonomous_vehicles", "Autonomous vehicles"
    CYBERSECURITY = "cybersecurity", "Cybersecurity"
    OTHER = "other", "Other"


class ModelFormat(models.TextChoices):
    TORCHSCRIPT = "torchscript", "TorchScript (.pt)"
    SKOPS = "sklearn-skops", "scikit-learn via skops (.skops)"
    ONNX = "onnx", "ONNX (.onnx)"
    ENDPOINT = "endpoint", "HTTP prediction endpoint"


FORMAT_FRAMEWORK = {
    ModelFormat.TORCHSCRIPT: "torch",
    ModelFormat.SKOPS: "sklearn",
    ModelFormat.ONNX: "onnx",
    ModelFormat.ENDPOINT: "endpoint",
}


class ValidationStatus(models.TextChoices):
    PENDING = "pending", "Validating"
    VALIDATED = "validated", "Validated"
    REJECTED = "rejected", "Rejected"


def _artifact_path(instance: "ModelVersion", filename: str) -> str:
    # Random names: an uploaded filename is never trusted as a path.
    return f"artifacts/org-{instance.asset.organization_id}/{uuid.uuid4().hex}"


def _dataset_path(instance: "Dataset", filename: str) -> str:
    return f"datasets/org-{instance.organization_id}/{uuid.uuid4().hex}"


class ModelAsset(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="assets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="owned_assets")
    task = models.CharField(max_length=32, choices=Task.choices)
    risk_tier = models.CharField(max_length=16, choices=RiskTier.choices, default=RiskTier.LIMITED)
    sector = models.CharField(max_length=32, choices=Sector.choices, default=Sector.OTHER)
    intended_use = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    current_version = models.ForeignKey("ModelVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    # Datasets used by default when this asset is assessed.
    evaluation_dataset = models.ForeignKey("Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    training_dataset = models.ForeignKey("Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    holdout_dataset = models.ForeignKey("Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="unique_asset_name_per_org")]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    asset = models.ForeignKey(ModelAsset, on_delete=models.CASCADE, related_name="versions")
    label = models.CharField(max_length=64)
    format = models.CharField(max_length=16, choices=ModelFormat.choices)
    artifact = models.FileField(upload_to=_artifact_path, blank=True, max_length=300)
    original_filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    input_shape = models.JSONField(default=list)  # per-sample, e.g. [1, 8, 8] or [30]
    nb_classes = models.PositiveIntegerField()
    class_names = models.JSONField(default=list, blank=True)
    clip_min = models.FloatField(default=0.0)
    clip_max = models.FloatField(default=1.0)
    preprocessing_mean = models.JSONField(null=True, blank=True)
    preprocessing_std = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ValidationStatus.choices, default=ValidationStatus.PENDING)
    status_reason = models.TextField(blank=True)
    white_box = models.BooleanField(default=False)  # set by validation: gradients available to ART
    # Whether this version becomes the asset's current version once validated (a candidate can be registered
    # alongside the live one, validated, and swapped in later).
    make_current = models.BooleanField(default=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["asset", "label"], name="unique_version_label_per_asset")]

    def __str__(self) -> str:
        return f"{self.asset.name} {self.label}"

    @property
    def framework(self) -> str:
        return FORMAT_FRAMEWORK[ModelFormat(self.format)]

    @property
    def clip_values(self) -> tuple[float, float]:
        return (self.clip_min, self.clip_max)


class OutputKind(models.TextChoices):
    PROBABILITIES = "probabilities", "Class probabilities"
    LABELS = "labels", "Labels only"


class EndpointConfig(models.Model):
    """How to call a model that only exists behind an HTTP API. The auth header value is a secret."""

    version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="endpoint")
    url = models.URLField(max_length=500)
    auth_header_name = models.CharField(max_length=100, blank=True, default="Authorization")
    auth_header_value = models.CharField(max_length=2000, blank=True)  # never shown back, never logged
    input_key = models.CharField(max_length=100, default="inputs")
    output_key = models.CharField(max_length=100, default="probabilities")
    output_kind = models.CharField(max_length=16, choices=OutputKind.choices, default=OutputKind.PROBABILITIES)
    timeout_s = models.FloatField(default=10.0)
    query_budget = models.PositiveIntegerField(default=20000)
    rate_limit_per_s = models.FloatField(default=50.0)

    def __str__(self) -> str:
        return self.url


class DatasetRole(models.TextChoices):
    EVALUATION = "evaluation", "Evaluation"
    TRAINING = "training", "Training"
    HOLDOUT = "holdout", "Holdout (non-members)"


class DatasetSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded file"
    BUILTIN = "builtin", "Built-in"


class BuiltinDataset(models.TextChoices):
    DIGITS = "digits", "scikit-learn digits (8×8 images, 10 classes)"
    BREAST_CANCER = "breast_cancer", "scikit-learn breast cancer (30 features, 2 classes)"


class Dataset(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    role = models.CharField(max_length=16, choices=DatasetRole.choices, default=DatasetRole.EVALUATION)
    source = models.CharField(max_length=16, choices=DatasetSource.choices, default=DatasetSource.UPLOAD)
    builtin_name = models.CharField(max_length=32, choices=BuiltinDataset.choices, blank=True)
    file = models.FileField(upload_to=_dataset_path, blank=True, max_length=300)
    file_format = models.CharField(max_length=8, blank=True)  # "npz" | "csv"
    original_filename = models.CharField(max_length=255, blank=True)
    label_column = models.CharField(max_length=100, blank=True)  # CSV only
    sha256 = models.CharField(max_length=64, blank=True)  # of the uploaded file (built-ins: of the arrays)
    # SHA-256 of the loaded arrays (workers.engine.data.array_sha256): the same data hashes the same whatever the file.
    content_sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    sample_count = models.PositiveIntegerField(default=0)
    shape = models.JSONField(default=list, blank=True)  # per-sample shape
    nb_classes = models.PositiveIntegerField(default=0)  # max label + 1 observed
    status = models.CharField(max_length=16, choices=ValidationStatus.choices, default=ValidationStatus.PENDING)
    status_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
