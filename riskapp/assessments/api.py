"""API of the assessments app: runs (create → 202, cancel, re-run, nested check results) and profiles."""

from __future__ import annotations

from django.db.models import Prefetch, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from riskapp.accounts.api import OrganizationField, OrganizationScopedModelViewSet, OrganizationScopedViewSet
from riskapp.accounts.tenancy import organization_ids_for
from riskapp.assessments.models import AssessmentRun, CheckResult, Profile, RunTrigger
from riskapp.assessments.services import (
    profile_create,
    profile_delete,
    profile_update,
    run_cancel,
    run_create,
    run_rerun,
)
from riskapp.assets.models import Dataset, ModelAsset, ModelVersion

# --- profiles ---------------------------------------------------------------------------------------------


class ProfileSerializer(serializers.ModelSerializer):
    organization = OrganizationField(allow_null=True)
    spec = serializers.JSONField(help_text="A suite: {\"name\", \"risk_tier\", \"checks\": [{\"kind\", \"params\", "
                                           "\"thresholds\": {metric: {\"min\"|\"max\": number}}}]}.")
    tolerances = serializers.JSONField(required=False, help_text="Regression tolerances {metric: allowed worsening}.")

    class Meta:
        model = Profile
        fields = ["id", "organization", "slug", "name", "description", "spec", "tolerances", "is_builtin", "created_at"]
        read_only_fields = ["id", "is_builtin", "created_at"]
        # The (organization, slug) uniqueness is checked by the service's full_clean (→ 400); DRF's own validator
        # would make `organization` required even for members of a single organization.
        validators = []


PROFILE_EXAMPLE = OpenApiExample(
    "A fast custom profile",
    value={
        "slug": "pgd-gate",
        "name": "PGD release gate",
        "spec": {"name": "pgd-gate", "checks": [{"kind": "evasion.whitebox",
                                                  "params": {"attacks": ["pgd"], "epsilons": [0.05, 0.1]},
                                                  "thresholds": {"robust_accuracy": {"min": 0.4}}}]},
    },
    request_only=True,
)


@extend_schema_view(create=extend_schema(examples=[PROFILE_EXAMPLE]))
class ProfileViewSet(OrganizationScopedModelViewSet):
    """Assessment profiles: the built-ins (quick, standard, thorough; read-only, visible to everyone) and your
    organization's custom profiles. A custom profile's suite is validated by the engine."""

    queryset = Profile.objects.select_related("organization")
    serializer_class = ProfileSerializer
    filterset_fields = ["is_builtin", "slug"]

    def get_queryset(self):
        ids = organization_ids_for(self.request.user)
        return Profile.objects.filter(Q(organization__isnull=True) | Q(organization__in=ids)).order_by(
            "-is_builtin", "name")

    def check_object_permissions(self, request, obj):
        if obj.is_builtin:
            if request.method not in SAFE_METHODS:
                raise PermissionDenied("Built-in profiles are read-only; create a custom profile from a copy of "
                                       "their suite instead.")
            return
        super().check_object_permissions(request, obj)

    def perform_create(self, serializer):
        organization = self.organization_for_create(serializer)
        data = serializer.validated_data
        serializer.instance = profile_create(
            organization=organization, slug=data["slug"], name=data["name"], spec=data["spec"],
            description=data.get("description", ""), tolerances=data.get("tolerances"), user=self.request.user)

    def perform_update(self, serializer):
        changes = {k: v for k, v in serializer.validated_data.items() if k != "organization"}
        serializer.instance = profile_update(profile=serializer.instance, user=self.request.user, **changes)

    def perform_destroy(self, instance):
        profile_delete(profile=instance, user=self.request.user)


# --- runs -----------------------------------------------------------------------------------------------------


class CheckResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = CheckResult
        fields = ["kind", "order", "status", "verdict", "reason", "metrics", "thresholds", "parameters", "seed",
                  "duration_s", "queries"]
        read_only_fields = fields


RUN_LIST_FIELDS = [
    "id", "organization", "asset", "version", "profile", "seed", "trigger", "rerun_of", "requested_by",
    "status", "progress", "current_step", "cancel_requested", "created_at", "enqueued_at", "enqueue_attempts",
    "started_at", "heartbeat_at", "finished_at", "worker_host", "device", "error", "passed", "unreliable",
    "unreliable_reasons", "summary",
]


class RunSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AssessmentRun
        fields = RUN_LIST_FIELDS
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    checks = CheckResultSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = RUN_LIST_FIELDS + ["evaluation_dataset", "training_dataset", "holdout_dataset", "profile_snapshot",
                                    "versions", "artifact_sha256", "data_hashes", "notes", "checks"]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)
class _ScopedPrimaryKey(serializers.PrimaryKeyRelatedField):
    """A reference limited to the requesting user's organizations (another tenant's id reads as "does not exist")."""

    def __init__(self, model, org_field: str, **kwargs):
        self.model, self.org_field = model, org_field
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        ids = organization_ids_for(request.user) if request else []
        return self.model.objects.filter(**{f"{self.org_field}__in": ids})


@extend_schema_field(OpenApiTypes.INT)
class _ProfileReference(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        request = self.context.get("request")
        ids = organization_ids_for(request.user) if request else []
        return Profile.objects.filter(Q(organization__isnull=True) | Q(organization__in=ids))


class RunCreateSerializer(serializers.Serializer):
    asset = _ScopedPrimaryKey(ModelAsset, "organization")
    profile = _ProfileReference(help_text="A profile id (GET /api/v1/profiles/).")
    version = _ScopedPrimaryKey(ModelVersion, "asset__organization", required=False, allow_null=True,
                                help_text="Default: the asset's current version.")
    evaluation_dataset = _ScopedPrimaryKey(Dataset, "organization", required=False, allow_null=True,
                                           help_text="Default: the asset's evaluation dataset.")
    training_dataset = _ScopedPrimaryKey(Dataset, "organization", required=False, allow_null=True)
    holdout_dataset = _ScopedPrimaryKey(Dataset, "organization", required=False, allow_null=True)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)


@extend_schema_view(
    list=extend_schema(summary="Assessment runs, newest first"),
    retrieve=extend_schema(summary="One run with its check results", responses=RunDetailSerializer),
)
class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Assessment runs. POST queues a run (202); a worker claims it and streams progress to the row."""

    queryset = AssessmentRun.objects.select_related("requested_by")
    serializer_class = RunSerializer
    filterset_fields = ["asset", "version", "profile", "status", "trigger"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action != "list":
            queryset = queryset.prefetch_related(Prefetch("checks", CheckResult.objects.order_by("order", "kind")))
        return queryset

    def get_serializer_class(self):
        return RunSerializer if self.action == "list" else RunDetailSerializer

    def _accepted(self, run) -> Response:
        run = self.get_queryset().get(pk=run.pk)
        return Response(RunDetailSerializer(run, context=self.get_serializer_context()).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=RunCreateSerializer,
        responses={202: RunDetailSerializer},
        examples=[OpenApiExample("Quick profile on the current version", value={"asset": 1, "profile": 1, "seed": 0},
                                 request_only=True)],
    )
    def create(self, request):
        serializer = RunCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        asset = data["asset"]
        self.require_write(asset.organization_id)
        run = run_create(
            asset=asset, profile=data["profile"], user=request.user, version=data.get("version"),
            evaluation_dataset=data.get("evaluation_dataset"), training_dataset=data.get("training_dataset"),
            holdout_dataset=data.get("holdout_dataset"), seed=data["seed"], trigger=RunTrigger.API,
        )
        return self._accepted(run)

    @extend_schema(request=None, responses={202: RunDetailSerializer},
                   summary="Cancel: a queued run at once, a running one at its next step")
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = self.get_object()
        self.require_write(run.organization_id)
        return self._accepted(run_cancel(run=run, user=request.user))

    @extend_schema(request=None, responses={202: RunDetailSerializer},
                   summary="Queue a new run with the same version, datasets, suite and seed")
    @action(detail=True, methods=["post"])
    def rerun(self, request, pk=None):
        run = self.get_object()
        self.require_write(run.organization_id)
        return self._accepted(run_rerun(run=run, user=request.user))


from riskapp.api_router import router  # noqa: E402

router.register("runs", RunViewSet, basename="run")
router.register("profiles", ProfileViewSet, basename="profile")
