"""API of the compliance app: catalogs and mapping (shared reference data), evidence and its verification,
control status, manual evidence, reports with download, and auditor share links."""

from __future__ import annotations

from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from riskapp.accounts.api import OrganizationField, OrganizationScopedViewSet, default_organization
from riskapp.accounts.models import Organization
from riskapp.accounts.tenancy import organization_ids_for, organizations_for
from riskapp.compliance import selectors, services
from riskapp.compliance.models import (
    REPORT_CONTENT_TYPES,
    Control,
    EvidenceRecord,
    Framework,
    ManualEvidence,
    MappingRule,
    Report,
    ReportFormat,
    ReportStatus,
    ShareLink,
)

class OwnPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A reference to a row of one of the requesting user's organizations; anything else reads as not found."""

    def __init__(self, model, **kwargs):
        self.model = model
        kwargs.setdefault("queryset", model.objects.none())
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return self.model.objects.none()
        return self.model.objects.filter(organization_id__in=organization_ids_for(request.user))


def _asset_model():
    from riskapp.assets.models import ModelAsset

    return ModelAsset


# --- catalogs: the same for every organization, identified by slug and ref_id ---------------------------


class FrameworkSerializer(serializers.ModelSerializer):
    controls = serializers.SerializerMethodField()

    class Meta:
        model = Framework
        fields = ["slug", "name", "version", "publisher", "url", "source_notes", "controls"]
        read_only_fields = fields

    def get_controls(self, obj) -> int:
        return obj.controls.filter(assessable=True, retired_at__isnull=True).count()


class MappingRuleSerializer(serializers.ModelSerializer):
    controls = serializers.SerializerMethodField()

    class Meta:
        model = MappingRule
        fields = ["rule_id", "kinds", "metric", "style", "minimum", "maximum", "rationale", "controls"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.ListField(child=serializers.CharField())))
    def get_controls(self, obj) -> dict:
        out: dict[str, list[str]] = {}
        for control in obj.controls.all():
            out.setdefault(control.framework.slug, []).append(control.ref_id)
        return out


class RuleSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = MappingRule
        fields = ["rule_id", "kinds", "metric", "style", "minimum", "maximum", "rationale"]
        read_only_fields = fields


class ControlSerializer(serializers.ModelSerializer):
    framework = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    parent = serializers.SlugRelatedField(slug_field="ref_id", read_only=True, allow_null=True)
    retired = serializers.SerializerMethodField()
    mapping_rules = serializers.SerializerMethodField()

    class Meta:
        model = Control
        fields = ["framework", "ref_id", "title", "description", "parent", "automated_evidence", "kinds",
                  "assessable", "aliases", "note", "catalog_version", "retired", "mapping_rules"]
        read_only_fields = fields

    def get_retired(self, obj) -> bool:
        return obj.retired_at is not None

    @extend_schema_field(RuleSummarySerializer(many=True))
    def get_mapping_rules(self, obj) -> list:
        rules = [rule for rule in obj.mapping_rules.all() if rule.retired_at is None]
        return RuleSummarySerializer(rules, many=True).data


@extend_schema(parameters=[OpenApiParameter("slug", str, description="one framework by slug")])
class FrameworkViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The control catalogs (NIST AI RMF, ISO/IEC 42001, EU AI Act, MITRE ATLAS, OWASP ML Top 10).

    Reference data shared by every organization; it holds nothing of any organization.
    """

    queryset = Framework.objects.all()
    serializer_class = FrameworkSerializer
    pagination_class = None

    def get_queryset(self):
        queryset = super().get_queryset()
        slug = self.request.query_params.get("slug")
        return queryset.filter(slug=slug) if slug else queryset


@extend_schema(parameters=[
    OpenApiParameter("framework", str, description="framework slug, e.g. iso-42001"),
    OpenApiParameter("ref_id", str, description="the framework's own id, e.g. A.6.2.4"),
    OpenApiParameter("automated_evidence", str, enum=["yes", "partly", "no"]),
])
class ControlViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Controls of the catalogs with the mapping rules that evidence them; filter by framework and ref_id."""

    queryset = (Control.objects.select_related("framework", "parent")
                .prefetch_related("mapping_rules").order_by("framework__order", "order"))
    serializer_class = ControlSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        params = self.request.query_params
        if params.get("framework"):
            queryset = queryset.filter(framework__slug=params["framework"])
        if params.get("ref_id"):
            queryset = queryset.filter(ref_id=params["ref_id"])
        if params.get("automated_evidence"):
            queryset = queryset.filter(automated_evidence=params["automated_evidence"])
        return queryset


class MappingRuleViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The check-to-control mapping: check kind + metric rule → controls, with the rationale."""

    queryset = MappingRule.objects.filter(retired_at__isnull=True).prefetch_related("controls__framework")
    serializer_class = MappingRuleSerializer
    pagination_class = None


# --- evidence ---------------------------------------------------------------------------------------------


class EvidenceControlSerializer(serializers.ModelSerializer):
    framework = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Control
        fields = ["framework", "ref_id", "title"]
        read_only_fields = fields


class EvidenceRecordSerializer(serializers.ModelSerializer):
    control = EvidenceControlSerializer(read_only=True)
    payload = serializers.SerializerMethodField()

    class Meta:
        model = EvidenceRecord
        fields = ["id", "organization", "seq", "run", "asset", "control", "verdict", "measured_at", "created_at",
                  "payload_sha256", "prev_sha256", "payload"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, obj) -> dict:
        return obj.data


class VerifyResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    records = serializers.IntegerField()
    first_bad = serializers.DictField(allow_null=True, help_text="the first record that does not match: id, seq, reason")
    head = serializers.CharField(help_text="SHA-256 of the newest record (the chain head)")


def organization_from_query(request) -> Organization:
    """The organization named by ?organization= (id or slug) among the user's, else the user's default one."""
    wanted = request.query_params.get("organization")
    if not wanted:
        try:
            return default_organization(request)
        except serializers.ValidationError as exc:
            raise ValidationError(exc.detail) from exc
    mine = organizations_for(request.user)
    found = mine.filter(pk=int(wanted)).first() if wanted.isdigit() else mine.filter(slug=wanted).first()
    if found is None:
        raise NotFound("No such organization.")
    return found


@extend_schema(parameters=[
    OpenApiParameter("asset", int), OpenApiParameter("run", int), OpenApiParameter("framework", str),
    OpenApiParameter("ref_id", str),
])
class EvidenceRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Immutable, hash-chained evidence records of your organizations (one per run and control)."""

    queryset = EvidenceRecord.objects.select_related("control__framework").order_by("organization_id", "-seq")
    serializer_class = EvidenceRecordSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        params = self.request.query_params
        for param, lookup in (("asset", "asset_id"), ("run", "run_id")):
            if params.get(param):
                if not params[param].isdigit():
                    raise ValidationError({param: "Give a number."})
                queryset = queryset.filter(**{lookup: int(params[param])})
        if params.get("framework"):
            queryset = queryset.filter(control__framework__slug=params["framework"])
        if params.get("ref_id"):
            queryset = queryset.filter(control__ref_id=params["ref_id"])
        return queryset

    @extend_schema(
        parameters=[OpenApiParameter("organization", str, description="id or slug; default: your organization")],
        responses={200: VerifyResultSerializer},
        examples=[OpenApiExample("intact", value={"ok": True, "records": 212, "first_bad": None,
                                                  "head": "9f2c…"}),
                  OpenApiExample("tampered", value={"ok": False, "records": 41, "head": "9f2c…", "first_bad": {
                      "id": 1234, "seq": 41, "reason": "payload does not match its SHA-256: the record was "
                                                       "changed after it was written"}})],
    )
    @action(detail=False, methods=["get"])
    def verify(self, request):
        """Walk the organization's evidence chain and name the first record that does not match."""
        organization = organization_from_query(request)
        return Response(services.evidence_verify(organization=organization).as_dict())


class ControlStatusSerializer(serializers.Serializer):
    framework = serializers.CharField()
    ref_id = serializers.CharField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=["compliant", "non_compliant", "partial", "not_assessed", "stale",
                                              "manual"])
    reason = serializers.CharField()
    evidence_id = serializers.IntegerField(allow_null=True)
    measured_at = serializers.DateTimeField(allow_null=True)


class ControlStatusView(APIView):
    """Derived status of every assessable control for one asset: ?asset=<id>[&framework=<slug>]."""

    tenancy_model = EvidenceRecord

    @extend_schema(parameters=[OpenApiParameter("asset", int, required=True), OpenApiParameter("framework", str)],
                   responses={200: ControlStatusSerializer(many=True)})
    def get(self, request):
        from riskapp.assets.models import ModelAsset

        raw = request.query_params.get("asset", "")
        if not raw.isdigit():
            raise ValidationError({"asset": "Give the asset's id: ?asset=<id>."})
        asset = (ModelAsset.objects.select_related("organization")
                 .filter(pk=int(raw), organization_id__in=organization_ids_for(request.user)).first())
        if asset is None:
            raise NotFound("No such asset.")
        framework = None
        if request.query_params.get("framework"):
            framework = selectors.framework_by_slug(request.query_params["framework"])
            if framework is None:
                raise NotFound("No such framework.")
        cells = selectors.control_statuses_for_asset(asset=asset, framework=framework)
        rows = [{"framework": cell.control.framework.slug, "ref_id": cell.control.ref_id,
                 "title": cell.control.title, "status": cell.status, "reason": cell.reason,
                 "evidence_id": cell.evidence["id"] if cell.evidence else None,
                 "measured_at": cell.evidence["measured_at"] if cell.evidence else None} for cell in cells]
        return Response(ControlStatusSerializer(rows, many=True).data)


# --- manual evidence --------------------------------------------------------------------------------------


class ManualEvidenceSerializer(serializers.ModelSerializer):
    organization = OrganizationField()
    framework = serializers.SlugRelatedField(slug_field="slug", queryset=Framework.objects.all(), write_only=True)
    ref_id = serializers.CharField(write_only=True)
    control = EvidenceControlSerializer(read_only=True)
    asset = OwnPrimaryKeyField(_asset_model())
    file = serializers.FileField(write_only=True, required=False)

    class Meta:
        model = ManualEvidence
        fields = ["id", "organization", "asset", "framework", "ref_id", "control", "title", "file",
                  "original_filename", "file_sha256", "link", "owner", "expires_on", "notes", "created_at"]
        read_only_fields = ["id", "control", "original_filename", "file_sha256", "owner", "created_at"]


class ManualEvidenceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                            OrganizationScopedViewSet):
    """Documents or links attached by a person for controls no automated test can (fully) evidence."""

    queryset = ManualEvidence.objects.select_related("control__framework")
    serializer_class = ManualEvidenceSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = self.organization_for_create(serializer)
        data = serializer.validated_data
        if data["asset"].organization_id != organization.pk:
            raise NotFound("No such asset.")
        control = selectors.control_by_ref(framework=data["framework"], ref_id=data["ref_id"])
        if control is None:
            raise ValidationError({"ref_id": "No such control in that framework."})
        evidence = services.manual_evidence_attach(
            organization=organization, asset=data["asset"], control=control, user=request.user, title=data["title"],
            expires_on=data["expires_on"], link=data.get("link", ""), upload=data.get("file"),
            notes=data.get("notes", ""))
        return Response(self.get_serializer(evidence).data, status=status.HTTP_201_CREATED)


# --- reports ----------------------------------------------------------------------------------------------


class ReportSerializer(serializers.ModelSerializer):
    organization = OrganizationField()
    framework = serializers.SlugRelatedField(slug_field="slug", queryset=Framework.objects.all())
    asset = OwnPrimaryKeyField(_asset_model(), required=False, allow_null=True,
                               help_text="one asset; omit for every asset of the organization")
    generated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = ["id", "uid", "organization", "asset", "framework", "format", "period_start", "period_end",
                  "status", "sha256", "size_bytes", "chain_head_sha256", "generated_by", "created_at",
                  "finished_at", "error", "download_url"]
        read_only_fields = ["id", "uid", "status", "sha256", "size_bytes", "chain_head_sha256", "generated_by",
                            "created_at", "finished_at", "error", "download_url"]

    def get_download_url(self, obj) -> str | None:
        if obj.status != ReportStatus.SUCCEEDED:
            return None
        return f"/api/v1/reports/{obj.pk}/download/"


class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                    OrganizationScopedViewSet):
    """Evidence reports (PDF, OSCAL JSON, CSV), generated by a worker; each file is stored with its SHA-256."""

    queryset = Report.objects.select_related("framework", "generated_by")
    serializer_class = ReportSerializer
    filterset_fields = ["status", "format", "asset"]

    @extend_schema(responses={202: ReportSerializer},
                   examples=[OpenApiExample("ISO 42001 PDF for one model", request_only=True,
                                            value={"framework": "iso-42001", "format": "pdf", "asset": 3})])
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = self.organization_for_create(serializer)
        data = serializer.validated_data
        asset = data.get("asset")
        if asset is not None and asset.organization_id != organization.pk:
            raise NotFound("No such asset.")
        report = services.report_request(organization=organization, framework=data["framework"], fmt=data["format"],
                                         user=request.user, asset=asset, period_start=data.get("period_start"),
                                         period_end=data.get("period_end"))
        return Response(self.get_serializer(report).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The report file; its SHA-256 is in the report's `sha256` field and the X-Content-SHA256 header."""
        report = self.get_object()
        if report.status != ReportStatus.SUCCEEDED or not report.file:
            raise NotFound("The report is not ready.")
        return report_file_response(report)


def report_file_response(report: Report) -> FileResponse:
    response = FileResponse(report.file.open("rb"), as_attachment=True, filename=report.filename,
                            content_type=REPORT_CONTENT_TYPES[ReportFormat(report.format)])
    response["X-Content-SHA256"] = report.sha256
    return response


# --- share links ------------------------------------------------------------------------------------------


class ShareLinkSerializer(serializers.ModelSerializer):
    organization = OrganizationField()
    report = OwnPrimaryKeyField(Report, required=False, allow_null=True)
    asset = OwnPrimaryKeyField(_asset_model(), required=False, allow_null=True)
    expires_in_days = serializers.IntegerField(write_only=True, min_value=1, max_value=90, default=14)
    active = serializers.SerializerMethodField()

    class Meta:
        model = ShareLink
        fields = ["id", "organization", "report", "asset", "label", "prefix", "expires_in_days", "expires_at",
                  "revoked_at", "created_at", "last_accessed_at", "access_count", "active"]
        read_only_fields = ["id", "prefix", "expires_at", "revoked_at", "created_at", "last_accessed_at",
                            "access_count", "active"]

    def get_active(self, obj) -> bool:
        return obj.revoked_at is None and obj.expires_at > timezone.now()


class ShareLinkCreatedSerializer(ShareLinkSerializer):
    url = serializers.CharField(read_only=True, help_text="The auditor's link. Shown only in this response.")

    class Meta(ShareLinkSerializer.Meta):
        fields = ShareLinkSerializer.Meta.fields + ["url"]


class ShareLinkViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Expiring, revocable read-only links for auditors (a report or one asset's evidence); every access is audited."""

    queryset = ShareLink.objects.all()
    serializer_class = ShareLinkSerializer

    @extend_schema(request=ShareLinkSerializer, responses={201: ShareLinkCreatedSerializer})
    def create(self, request):
        serializer = ShareLinkSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        organization = self.organization_for_create(serializer)
        data = serializer.validated_data
        for subject in (data.get("report"), data.get("asset")):
            if subject is not None and subject.organization_id != organization.pk:
                raise NotFound("Not found.")
        link, raw = services.share_link_create(organization=organization, user=request.user,
                                               report=data.get("report"), asset=data.get("asset"),
                                               expires_in_days=data["expires_in_days"], label=data.get("label", ""))
        body = ShareLinkSerializer(link, context=self.get_serializer_context()).data
        body["url"] = request.build_absolute_uri(f"/compliance/shared/{raw}/")
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ShareLinkSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        link = self.get_object()
        self.require_write(link.organization_id)
        services.share_link_revoke(link=link, user=request.user)
        return Response(self.get_serializer(link).data)


from riskapp.api_router import router  # noqa: E402

router.register("frameworks", FrameworkViewSet, basename="framework")
router.register("controls", ControlViewSet, basename="control")
router.register("mapping-rules", MappingRuleViewSet, basename="mappingrule")
router.register("evidence", EvidenceRecordViewSet, basename="evidence")
router.register("manual-evidence", ManualEvidenceViewSet, basename="manualevidence")
router.register("reports", ReportViewSet, basename="report")
router.register("share-links", ShareLinkViewSet, basename="sharelink")
