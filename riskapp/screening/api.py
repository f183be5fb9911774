"""API of the screening app: the screen endpoint, screening tokens, detectors, flagged-input events and per-asset policy."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from riskapp.accounts.api import OrganizationScopedViewSet
from riskapp.accounts.authentication import ApiTokenAuthentication
from riskapp.accounts.models import Role
from riskapp.accounts.permissions import can_write
from riskapp.accounts.tenancy import scope_queryset
from riskapp.assets.models import ModelAsset
from riskapp.screening import selectors, services
from riskapp.screening.authentication import ScreeningTokenAuthentication
from riskapp.screening.inputs import batch_from_json, batch_from_npz
from riskapp.screening.models import ScreeningDetector, ScreeningEvent, ScreeningPolicy, ScreeningToken


def _asset_for(request, pk) -> ModelAsset:
    """The asset this request may act on, or 404: a screening token reaches only its own asset."""
    auth = request.auth
    if isinstance(auth, ScreeningToken):
        if auth.asset_id != int(pk):
            raise Http404
        return auth.asset
    user = request.user
    if not getattr(user, "is_authenticated", False):
        raise Http404
    asset = scope_queryset(ModelAsset.objects.select_related("organization", "current_version"), user).filter(pk=pk).first()
    if asset is None:
        raise Http404
    return asset


class ScreeningTokenOrMember(permissions.BasePermission):
    """A screening token, or a signed-in member (API token or session); the object check is _asset_for's 404."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ScreeningToken) or bool(request.user and request.user.is_authenticated)


class MemberOnly(permissions.BasePermission):
    """Authenticated members only (a screening token cannot manage screening)."""

    def has_permission(self, request, view) -> bool:
        return not isinstance(request.auth, ScreeningToken) and bool(request.user and request.user.is_authenticated)


# --- the screen endpoint ---------------------------------------------------------------------------------------

SCREEN_RESULT = inline_serializer("ScreenedInput", fields={
    "index": serializers.IntegerField(),
    "input_sha256": serializers.CharField(),
    "prediction": inline_serializer("ScreenedPrediction", fields={
        "label": serializers.IntegerField(), "class_name": serializers.CharField(allow_null=True),
        "probabilities": serializers.ListField(child=serializers.FloatField())}),
    "adversarial_score": serializers.FloatField(help_text="Detector logit margin; above the threshold means adversarial."),
    "anomaly_score": serializers.FloatField(help_text="Mahalanobis distance to the closest class; above the threshold means unlike the evaluation data."),
    "flags": serializers.ListField(child=serializers.ChoiceField(choices=["adversarial", "anomalous"])),
    "flagged": serializers.BooleanField(),
}, many=True)
SCREEN_RESPONSE = inline_serializer("ScreenResponse", fields={
    "asset": serializers.IntegerField(),
    "version": serializers.CharField(),
    "detector": serializers.IntegerField(),
    "thresholds": serializers.DictField(child=serializers.FloatField()),
    "expected_false_alarms_per_1000": serializers.FloatField(),
    "input_count": serializers.IntegerField(),
    "flagged_count": serializers.IntegerField(),
    "results": SCREEN_RESULT,
})


class ScreenView(APIView):
    """Score a batch of inputs before they reach the model: prediction, adversarial and anomaly scores, flags."""

    tenancy_model = ModelAsset
    authentication_classes = [ScreeningTokenAuthentication, ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [ScreeningTokenOrMember]
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        operation_id="assets_screen",
        request={
            "application/json": inline_serializer("ScreenRequest", fields={
                "inputs": serializers.ListField(child=serializers.JSONField(),
                                                help_text="A batch: a list of inputs, each shaped like the model's input.")}),
            "multipart/form-data": inline_serializer("ScreenUpload", fields={
                "file": serializers.FileField(help_text=".npz with an array named x of shape (N, *input_shape).")}),
        },
        responses={200: SCREEN_RESPONSE, 400: OpenApiResponse(description="Malformed batch (shape, dtype, NaN/inf, size)."),
                   404: OpenApiResponse(description="No such asset for this token or organization."),
                   409: OpenApiResponse(description="Screening is off, or no detector is trained for the live version.")},
        examples=[OpenApiExample("Two digits", value={"inputs": [[[[0.0] * 8] * 8], [[[0.5] * 8] * 8]]},
                                 request_only=True)],
        description=("Authenticate with a screening token of this asset (`Authorization: Bearer rss_…`) or with an "
                     "API token or session of an analyst in its organization. Flagged inputs are stored as screening "
                     "events (hash and scores; the input only if the organization allows it); bursts of flags and "
                     "extraction-like query patterns open alerts."),
    )
    def post(self, request, pk):
        asset = _asset_for(request, pk)  # first, so an outsider gets 404 whatever the body
        if not isinstance(request.auth, ScreeningToken) and not can_write(request.user, asset.organization_id, Role.ANALYST):
            raise PermissionDenied("Screening needs an analyst role, or a screening token of this asset.")
        upload = request.FILES.get("file")
        if upload is not None:
            batch = batch_from_npz(upload, max_bytes=settings.RISKAPP_MAX_UPLOAD_BYTES)
        elif "inputs" in request.data:
            batch = batch_from_json(request.data["inputs"])
        else:
            raise ValidationError({"inputs": ["Send {\"inputs\": [...]} as JSON, or an .npz file (array x) as 'file'."]})
        caller = services.Caller.of(user=request.user, auth=request.auth)
        try:
            outcome = services.screen_batch(asset=asset, batch=batch, caller=caller)
        except services.ScreeningUnavailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        scores, detector = outcome.scores, outcome.detector
        class_names = detector.version.class_names or []
        results = []
        for index in range(len(scores.labels)):
            label = int(scores.labels[index])
            flags = [name for name, values in (("adversarial", scores.adversarial_flag),
                                                ("anomalous", scores.anomalous_flag)) if values[index]]
            results.append({
                "index": index,
                "input_sha256": outcome.input_sha256[index],
                "prediction": {"label": label, "class_name": class_names[label] if label < len(class_names) else None,
                               "probabilities": [round(float(p), 6) for p in scores.probabilities[index]]},
                "adversarial_score": float(scores.adversarial[index]),
                "anomaly_score": float(scores.anomaly[index]),
                "flags": flags,
                "flagged": bool(flags),
            })
        return Response({
            "asset": asset.pk,
            "version": detector.version.label,
            "detector": detector.pk,
            "thresholds": detector.calibration.get("thresholds", {}),
            "expected_false_alarms_per_1000": detector.expected_false_alarms_per_1000,
            "input_count": len(results),
            "flagged_count": outcome.request.flagged_count,
            "results": results,
        })


# --- enabling, policy --------------------------------------------------------------------------------------------


class ScreeningEnableView(APIView):
    """Turn screening on for an asset: starts the run that trains its detectors (built-in "screening" profile)."""

    tenancy_model = ModelAsset
    permission_classes = [MemberOnly]

    @extend_schema(operation_id="assets_screening_enable", request=None,
                   responses={202: inline_serializer("ScreeningEnabled", fields={
                       "run": serializers.IntegerField(), "status": serializers.CharField()})})
    def post(self, request, pk):
        asset = _asset_for(request, pk)
        if not can_write(request.user, asset.organization_id, Role.ANALYST):
            raise PermissionDenied("Enabling screening needs an analyst role.")
        run = services.screening_enable(asset=asset, user=request.user)
        return Response({"run": run.pk, "status": run.status}, status=status.HTTP_202_ACCEPTED)


class ScreeningPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = ScreeningPolicy
        fields = ["asset", *services.POLICY_FIELDS, "updated_at"]
        read_only_fields = ["asset", "updated_at"]


class ScreeningPolicyView(APIView):
    """When screening alerts: the burst rule (rate of the last N, or count in W minutes) and the extraction watch."""

    tenancy_model = ModelAsset
    permission_classes = [MemberOnly]

    @extend_schema(operation_id="assets_screening_policy_retrieve", responses={200: ScreeningPolicySerializer})
    def get(self, request, pk):
        asset = _asset_for(request, pk)
        policy = selectors.policy_for(asset=asset)
        return Response(ScreeningPolicySerializer(policy).data)

    @extend_schema(operation_id="assets_screening_policy_update", request=ScreeningPolicySerializer,
                   responses={200: ScreeningPolicySerializer})
    def patch(self, request, pk):
        asset = _asset_for(request, pk)
        if not can_write(request.user, asset.organization_id, Role.ANALYST):
            raise PermissionDenied("Changing the screening policy needs an analyst role.")
        serializer = ScreeningPolicySerializer(selectors.policy_for(asset=asset), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        policy = services.policy_update(asset=asset, user=request.user, **serializer.validated_data)
        return Response(ScreeningPolicySerializer(policy).data)


# --- tokens, detectors, events -----------------------------------------------------------------------------------


class ScopedAssetField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return ModelAsset.objects.none()
        return scope_queryset(ModelAsset.objects.all(), request.user)


class ScreeningTokenSerializer(serializers.ModelSerializer):
    asset = ScopedAssetField()

    class Meta:
        model = ScreeningToken
        fields = ["id", "asset", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at"]


class ScreeningTokenCreatedSerializer(ScreeningTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret token (rss_…). Shown only in this response.")

    class Meta(ScreeningTokenSerializer.Meta):
        fields = ScreeningTokenSerializer.Meta.fields + ["token"]


class ScreeningTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                            OrganizationScopedViewSet):
    """Per-asset screening tokens for production services. The secret is returned once; DELETE revokes."""

    queryset = ScreeningToken.objects.select_related("asset")
    serializer_class = ScreeningTokenSerializer
    filterset_fields = ["asset"]

    @extend_schema(request=ScreeningTokenSerializer, responses={201: ScreeningTokenCreatedSerializer})
    def create(self, request):
        serializer = ScreeningTokenSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        asset = serializer.validated_data["asset"]
        self.require_write(asset.organization_id)
        token, raw = services.screening_token_create(asset=asset, user=request.user,
                                                     name=serializer.validated_data["name"])
        data = ScreeningTokenSerializer(token, context=self.get_serializer_context()).data
        data["token"] = raw
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.screening_token_revoke(token=instance, user=self.request.user)


class ScreeningDetectorSerializer(serializers.ModelSerializer):
    expected_false_alarms_per_1000 = serializers.FloatField(read_only=True)

    class Meta:
        model = ScreeningDetector
        fields = ["id", "asset", "version", "run", "files", "manifest_sha256", "target_fpr", "false_positive_rate",
                  "anomaly_false_positive_rate", "either_false_positive_rate", "expected_false_alarms_per_1000",
                  "detection_rate", "adaptive_detection_rate", "calibration", "created_at"]
        read_only_fields = fields


class ScreeningDetectorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Detectors trained per model version, with their artifact hashes and measured calibration."""

    queryset = ScreeningDetector.objects.all()
    serializer_class = ScreeningDetectorSerializer
    filterset_fields = ["asset", "version"]


class ScreeningEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScreeningEvent
        fields = ["id", "asset", "detector", "request", "screening_token", "caller", "input_sha256",
                  "predicted_label", "adversarial_score", "anomaly_score", "flags", "input", "created_at"]
        read_only_fields = fields


class ScreeningEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Flagged inputs: hash, scores, flags, caller; the input itself only where the organization stores inputs."""

    queryset = ScreeningEvent.objects.all()
    serializer_class = ScreeningEventSerializer
    filterset_fields = ["asset", "caller", "screening_token"]


from riskapp.api_router import router  # noqa: E402

router.register("screening-tokens", ScreeningTokenViewSet, basename="screeningtoken")
router.register("screening-detectors", ScreeningDetectorViewSet, basename="screeningdetector")
router.register("screening-events", ScreeningEventViewSet, basename="screeningevent")
