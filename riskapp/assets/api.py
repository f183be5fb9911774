"""API of the assets app: assets (CRUD), their versions (multipart upload) and datasets, scoped to the caller's organizations."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import OuterRef, Subquery
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from riskapp.accounts.api import OrganizationField, OrganizationScopedModelViewSet, OrganizationScopedViewSet
from riskapp.accounts.tenancy import scope_queryset
from riskapp.assets import services
from riskapp.assets.intake import LimitedUploadHandler, parse_shape
from riskapp.assets.models import (
    BuiltinDataset,
    Dataset,
    DatasetRole,
    EndpointConfig,
    ModelAsset,
    ModelFormat,
    ModelVersion,
    OutputKind,
)
from riskapp.assets.selectors import ASSET_STATUSES


class ScopedDatasetField(serializers.PrimaryKeyRelatedField):
    """A dataset reference limited to the requesting user's organizations (others do not exist)."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return Dataset.objects.none()
        return scope_queryset(Dataset.objects.all(), request.user)


@extend_schema_field({"oneOf": [{"type": "string", "example": "1,8,8"},
                                {"type": "array", "items": {"type": "integer"}, "example": [1, 8, 8]}]})
class ShapeField(serializers.Field):
    """A per-sample input shape: "1,8,8" (multipart) or [1, 8, 8] (JSON)."""

    def to_internal_value(self, data):
        from django.core.exceptions import ValidationError as DjangoValidationError

        try:
            return parse_shape(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages)

    def to_representation(self, value):
        return list(value)


@extend_schema_field({"oneOf": [{"type": "string", "example": "benign,malignant"},
                                {"type": "array", "items": {"type": "string"}}]})
class CommaListField(serializers.Field):
    """A list given as JSON or as comma-separated text (multipart forms)."""

    def __init__(self, *, numeric: bool = False, **kwargs):
        self.numeric = numeric
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        items = data if isinstance(data, (list, tuple)) else [p.strip() for p in str(data).split(",") if p.strip()]
        if self.numeric:
            try:
                return [float(v) for v in items]
            except (TypeError, ValueError):
                raise serializers.ValidationError("Give numbers separated by commas, e.g. 0.5 or 0.485,0.456,0.406.")
        return [str(v) for v in items]

    def to_representation(self, value):
        return value


class LimitedUploadsMixin:
    """Refuse an oversize file while the body streams in, before Django spools it to disk; hide the secret field."""

    def initialize_request(self, request, *args, **kwargs):
        # Error reports never include the endpoint's auth header (Django's SafeExceptionReporterFilter).
        request.sensitive_post_parameters = ["endpoint_auth_header_value"]
        request.upload_handlers.insert(0, LimitedUploadHandler(request, max_bytes=settings.RISKAPP_MAX_UPLOAD_BYTES))
        return super().initialize_request(request, *args, **kwargs)

    def raise_if_upload_refused(self, request) -> None:
        _ = request.data  # parsing the body now is what enforces the limit while it streams
        refused = getattr(request._request, "upload_refused", None)
        if refused:
            raise serializers.ValidationError({refused[0]: [refused[1]]})


# --- assets --------------------------------------------------------------------------------------------------


class VersionSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "label", "format", "status", "sha256", "validated_at"]
        read_only_fields = fields


class AssetSerializer(serializers.ModelSerializer):
    organization = OrganizationField()
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    current_version = VersionSummarySerializer(read_only=True, allow_null=True)
    latest_status = serializers.SerializerMethodField(
        help_text="Validation status of the newest version: validated, pending, rejected, or none without versions.")
    evaluation_dataset = ScopedDatasetField(required=False, allow_null=True)
    training_dataset = ScopedDatasetField(required=False, allow_null=True)
    holdout_dataset = ScopedDatasetField(required=False, allow_null=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ModelAsset
        fields = ["id", "organization", "name", "description", "task", "risk_tier", "sector", "intended_use", "tags",
                  "owner", "current_version", "latest_status", "evaluation_dataset", "training_dataset",
                  "holdout_dataset", "created_at", "updated_at"]
        read_only_fields = ["id", "owner", "current_version", "latest_status", "created_at", "updated_at"]
        validators = []  # uniqueness is checked by the service with a message people understand

    @extend_schema_field(serializers.ChoiceField(choices=ASSET_STATUSES))
    def get_latest_status(self, obj) -> str:
        if "latest_status" in obj.__dict__:
            return obj.latest_status or "none"
        latest = obj.versions.order_by("-created_at", "-id").first()
        return latest.status if latest else "none"


ASSET_EXAMPLE = OpenApiExample(
    "Register an asset",
    value={"name": "Triage classifier", "task": "tabular_classification", "risk_tier": "high",
           "sector": "healthcare", "intended_use": "Rank incoming referrals for review by a clinician.",
           "tags": ["triage"]},
    request_only=True,
)


@extend_schema(
    parameters=[OpenApiParameter("status", str, enum=list(ASSET_STATUSES),
                                 description="Only assets whose newest version has this validation status.")],
)
class AssetViewSet(OrganizationScopedModelViewSet):
    """Model assets: what is registered, its risk tier and sector, its current version and default datasets."""

    queryset = ModelAsset.objects.select_related("current_version", "owner")
    serializer_class = AssetSerializer
    filterset_fields = ["risk_tier", "sector", "task", "name"]

    def get_queryset(self):
        latest = ModelVersion.objects.filter(asset=OuterRef("pk")).order_by("-created_at", "-id").values("status")[:1]
        queryset = super().get_queryset().annotate(latest_status=Subquery(latest))
        status_filter = self.request.query_params.get("status", "") if self.action == "list" else ""
        if status_filter == "none":
            queryset = queryset.filter(latest_status__isnull=True)
        elif status_filter in ASSET_STATUSES:
            queryset = queryset.filter(latest_status=status_filter)
        return queryset

    @extend_schema(examples=[ASSET_EXAMPLE])
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        organization = self.organization_for_create(serializer)
        data = dict(serializer.validated_data)
        data.pop("organization", None)
        datasets = {k: data.pop(k) for k in services.ASSET_DATASET_FIELDS if k in data}
        asset = services.asset_create(organization=organization, user=self.request.user, **data)
        if any(datasets.values()):
            asset = services.asset_update(asset=asset, user=self.request.user,
                                          **{k: v for k, v in datasets.items() if v is not None})
        serializer.instance = asset

    def perform_update(self, serializer):
        changes = dict(serializer.validated_data)
        organization = changes.pop("organization", None)
        if organization is not None and organization.pk != serializer.instance.organization_id:
            raise serializers.ValidationError({"organization": ["An asset cannot move to another organization."]})
        serializer.instance = services.asset_update(asset=serializer.instance, user=self.request.user, **changes)

    def perform_destroy(self, instance):
        services.asset_delete(asset=instance, user=self.request.user)


# --- versions ------------------------------------------------------------------------------------------------


class EndpointReadSerializer(serializers.ModelSerializer):
    has_auth_header = serializers.SerializerMethodField(help_text="Whether an auth header is configured (its value is never shown).")

    class Meta:
        model = EndpointConfig
        fields = ["url", "auth_header_name", "has_auth_header", "input_key", "output_key", "output_kind", "timeout_s",
                  "query_budget", "rate_limit_per_s"]
        read_only_fields = fields

    def get_has_auth_header(self, obj) -> bool:
        return bool(obj.auth_header_value)


class ModelVersionSerializer(serializers.ModelSerializer):
    asset = serializers.PrimaryKeyRelatedField(read_only=True)
    input_shape = ShapeField(read_only=True)
    is_current = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    endpoint = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["id", "asset", "label", "format", "original_filename", "sha256", "size_bytes", "input_shape",
                  "nb_classes", "class_names", "clip_min", "clip_max", "preprocessing_mean", "preprocessing_std",
                  "status", "status_reason", "white_box", "make_current", "is_current", "validated_at", "created_by",
                  "created_at", "endpoint"]
        read_only_fields = fields

    def get_is_current(self, obj) -> bool:
        return obj.asset.current_version_id == obj.pk

    @extend_schema_field(EndpointReadSerializer(allow_null=True))
    def get_endpoint(self, obj):
        config = EndpointConfig.objects.filter(version=obj).first()
        return EndpointReadSerializer(config).data if config else None


class ModelVersionCreateSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=ModelFormat.choices)
    artifact = serializers.FileField(required=False, help_text="The exported model (not for the endpoint format).")
    label = serializers.CharField(max_length=64, required=False, allow_blank=True,
                                  help_text="e.g. v3 or a build id; v1, v2, … when empty.")
    input_shape = ShapeField(help_text="Per-sample input shape without the batch dimension, e.g. 1,8,8 or 30.")
    nb_classes = serializers.IntegerField(min_value=2)
    class_names = CommaListField(required=False)
    clip_min = serializers.FloatField(default=0.0)
    clip_max = serializers.FloatField(default=1.0)
    preprocessing_mean = CommaListField(numeric=True, required=False)
    preprocessing_std = CommaListField(numeric=True, required=False)
    make_current = serializers.BooleanField(default=True, help_text="Become the current version once validated.")
    endpoint_url = serializers.URLField(required=False)
    endpoint_auth_header_name = serializers.CharField(required=False, default="Authorization")
    endpoint_auth_header_value = serializers.CharField(required=False, write_only=True, allow_blank=True,
                                                       style={"input_type": "password"},
                                                       help_text="A secret: stored, never returned or logged.")
    endpoint_input_key = serializers.CharField(required=False, default="inputs")
    endpoint_output_key = serializers.CharField(required=False, default="probabilities")
    endpoint_output_kind = serializers.ChoiceField(choices=OutputKind.choices, required=False, default="probabilities")
    endpoint_timeout_s = serializers.FloatField(required=False, default=10.0)
    endpoint_query_budget = serializers.IntegerField(required=False, min_value=1, default=20000)
    endpoint_rate_limit_per_s = serializers.FloatField(required=False, min_value=0, default=50.0)

    def service_kwargs(self) -> dict:
        data = dict(self.validated_data)
        endpoint = {key[len("endpoint_"):]: data.pop(key) for key in list(data) if key.startswith("endpoint_")}
        kwargs = {**data}
        if data["format"] == ModelFormat.ENDPOINT:
            kwargs["endpoint"] = endpoint
        return kwargs


class EndpointUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(required=False)
    auth_header_name = serializers.CharField(required=False)
    auth_header_value = serializers.CharField(required=False, write_only=True, allow_blank=True,
                                              style={"input_type": "password"},
                                              help_text="A new secret; leave out to keep the stored one.")
    input_key = serializers.CharField(required=False)
    output_key = serializers.CharField(required=False)
    output_kind = serializers.ChoiceField(choices=OutputKind.choices, required=False)
    timeout_s = serializers.FloatField(required=False)
    query_budget = serializers.IntegerField(required=False, min_value=1)
    rate_limit_per_s = serializers.FloatField(required=False, min_value=0)


VERSION_EXAMPLES = [
    OpenApiExample(
        "TorchScript upload (multipart)",
        value={"format": "torchscript", "artifact": "(binary model.pt)", "label": "v3", "input_shape": "1,8,8",
               "nb_classes": 10, "clip_min": 0, "clip_max": 1},
        request_only=True, media_type="multipart/form-data",
    ),
    OpenApiExample(
        "HTTP endpoint",
        value={"format": "endpoint", "input_shape": "30", "nb_classes": 2,
               "endpoint_url": "https://models.example.com/cancer/predict",
               "endpoint_auth_header_value": "Bearer <secret>", "endpoint_output_kind": "probabilities"},
        request_only=True,
    ),
    OpenApiExample(
        "Pending version",
        value={"id": 7, "asset": 3, "label": "v3", "format": "torchscript", "sha256": "9f2c…", "size_bytes": 48213,
               "input_shape": [1, 8, 8], "nb_classes": 10, "status": "pending", "status_reason": "",
               "is_current": False},
        response_only=True,
    ),
]


class ModelVersionViewSet(LimitedUploadsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          OrganizationScopedViewSet):
    """Versions of one asset. Uploading one checks the file at once and queues its validation."""

    queryset = ModelVersion.objects.select_related("asset", "created_by")
    serializer_class = ModelVersionSerializer
    org_field = "asset__organization"
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def asset(self) -> ModelAsset:
        return get_object_or_404(scope_queryset(ModelAsset.objects.all(), self.request.user),
                                 pk=self.kwargs["asset_pk"])

    def get_queryset(self):
        return super().get_queryset().filter(asset_id=self.kwargs["asset_pk"])

    def list(self, request, *args, **kwargs):
        self.asset()
        return super().list(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": ModelVersionCreateSerializer,
                            "application/json": ModelVersionCreateSerializer},
                   responses={201: ModelVersionSerializer}, examples=VERSION_EXAMPLES)
    def create(self, request, *args, **kwargs):
        asset = self.asset()  # an outsider gets 404 before anything is read
        self.require_write(asset.organization_id)
        self.raise_if_upload_refused(request)
        serializer = ModelVersionCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        version = services.model_version_create(asset=asset, user=request.user, **serializer.service_kwargs())
        return Response(ModelVersionSerializer(version, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ModelVersionSerializer})
    @action(detail=True, methods=["post"], url_path="make-current")
    def make_current(self, request, *args, **kwargs):
        version = self.get_object()
        self.require_write(version.asset.organization_id)
        version = services.model_version_make_current(version=version, user=request.user)
        return Response(ModelVersionSerializer(version, context=self.get_serializer_context()).data)

    @extend_schema(request=EndpointUpdateSerializer, responses={202: ModelVersionSerializer},
                   examples=[OpenApiExample("Rotate the auth header", request_only=True,
                                            value={"auth_header_value": "Bearer <new secret>"})])
    @action(detail=True, methods=["post"])
    def endpoint(self, request, *args, **kwargs):
        """Change how an endpoint version is called (URL, keys, auth header); it is validated again."""
        version = self.get_object()
        self.require_write(version.asset.organization_id)
        serializer = EndpointUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.endpoint_config_update(version=version, user=request.user, **serializer.validated_data)
        version.refresh_from_db()
        return Response(ModelVersionSerializer(version, context=self.get_serializer_context()).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: ModelVersionSerializer})
    @action(detail=True, methods=["post"])
    def revalidate(self, request, *args, **kwargs):
        version = self.get_object()
        self.require_write(version.asset.organization_id)
        version = services.model_version_revalidate(version=version, user=request.user)
        return Response(ModelVersionSerializer(version, context=self.get_serializer_context()).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def artifact(self, request, *args, **kwargs):
        """Download the uploaded artifact exactly as stored (its SHA-256 is the version's `sha256`); audited."""
        version = self.get_object()
        try:
            handle, filename = services.model_version_artifact_open(version=version, user=request.user)
        except DjangoValidationError as exc:
            raise NotFound(" ".join(exc.messages)) from exc
        return FileResponse(handle, as_attachment=True, filename=filename, content_type="application/octet-stream")


# --- datasets ------------------------------------------------------------------------------------------------


class DatasetSerializer(serializers.ModelSerializer):
    organization = OrganizationField()
    file = serializers.FileField(write_only=True, required=False,
                                 help_text=".npz with arrays x and y, or .csv with a header row and a label column.")
    builtin_name = serializers.ChoiceField(choices=BuiltinDataset.choices, required=False, allow_blank=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    asset = serializers.PrimaryKeyRelatedField(
        queryset=ModelAsset.objects.all(), write_only=True, required=False, allow_null=True,
        help_text="Attach the new dataset to this asset as its default data for `role` (evaluation, training or "
                  "holdout), so runs use it without naming it.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and "asset" in self.fields:
            self.fields["asset"].queryset = scope_queryset(ModelAsset.objects.all(), request.user)

    class Meta:
        model = Dataset
        fields = ["id", "organization", "asset", "name", "role", "source", "builtin_name", "file", "file_format",
                  "original_filename", "label_column", "sha256", "content_sha256", "size_bytes", "sample_count",
                  "shape", "nb_classes", "status", "status_reason", "created_by", "created_at"]
        read_only_fields = ["id", "source", "file_format", "original_filename", "sha256", "content_sha256",
                            "size_bytes", "sample_count", "shape", "nb_classes", "status", "status_reason",
                            "created_by", "created_at"]


DATASET_EXAMPLES = [
    OpenApiExample("Upload an .npz (multipart)",
                   value={"name": "Referrals Q3 evaluation", "role": "evaluation", "file": "(binary eval.npz)"},
                   request_only=True, media_type="multipart/form-data"),
    OpenApiExample("Upload a CSV (multipart)",
                   value={"name": "Loans holdout", "role": "holdout", "file": "(binary holdout.csv)",
                          "label_column": "defaulted"}, request_only=True, media_type="multipart/form-data"),
    OpenApiExample("Built-in split", value={"name": "Digits evaluation", "role": "evaluation",
                                            "builtin_name": "digits"}, request_only=True),
]


class DatasetViewSet(LimitedUploadsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     mixins.CreateModelMixin, OrganizationScopedViewSet):
    """Datasets assessments run on: uploaded .npz / .csv files (checked, hashed, validated) or built-in splits."""

    queryset = Dataset.objects.select_related("created_by")
    serializer_class = DatasetSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    filterset_fields = ["role", "status", "source"]

    @extend_schema(request={"multipart/form-data": DatasetSerializer, "application/json": DatasetSerializer},
                   examples=DATASET_EXAMPLES)
    def create(self, request, *args, **kwargs):
        self.raise_if_upload_refused(request)
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        organization = self.organization_for_create(serializer)
        data = serializer.validated_data
        asset = data.get("asset")
        if asset is not None:
            if asset.organization_id != organization.pk:
                raise serializers.ValidationError({"asset": ["Choose an asset of the dataset's organization."]})
            self.require_write(asset.organization_id)
        serializer.instance = services.dataset_create(
            organization=organization, user=self.request.user, name=data["name"],
            role=data.get("role", DatasetRole.EVALUATION), file=data.get("file"),
            label_column=data.get("label_column", ""), builtin_name=data.get("builtin_name", ""), attach_to=asset)


from riskapp.api_router import router

router.register("assets", AssetViewSet, basename="asset")
router.register("datasets", DatasetViewSet, basename="dataset")
