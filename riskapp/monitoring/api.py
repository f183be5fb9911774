"""API of the monitoring app: schedules (+ pause/resume), alerts (+ ack/resolve), channels (+ test), baselines."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from riskapp.accounts.api import OrganizationScopedModelViewSet, OrganizationScopedViewSet
from riskapp.accounts.models import Role
from riskapp.accounts.tenancy import organization_ids_for
from riskapp.assessments.models import AssessmentRun, Profile
from riskapp.assets.models import ModelAsset
from riskapp.monitoring import selectors, services
from riskapp.monitoring.models import (
    Alert,
    BaselinePin,
    Channel,
    ChannelKind,
    Delivery,
    IntervalUnit,
    Schedule,
    ScheduleKind,
    Severity,
)


class _ScopedPrimaryKey(serializers.PrimaryKeyRelatedField):
    """A reference limited to the requesting user's organizations (another tenant's id reads as "does not exist")."""

    def __init__(self, model, org_field: str = "organization", **kwargs):
        self.model, self.org_field = model, org_field
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        ids = organization_ids_for(request.user) if request else []
        return self.model.objects.filter(**{f"{self.org_field}__in": ids})


class _ProfileReference(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        request = self.context.get("request")
        ids = organization_ids_for(request.user) if request else []
        return Profile.objects.filter(Q(organization__isnull=True) | Q(organization__in=ids))


# --- schedules -------------------------------------------------------------------------------------------------


class ScheduleSerializer(serializers.ModelSerializer):
    asset = _ScopedPrimaryKey(ModelAsset)
    profile = _ProfileReference(help_text="A profile id (GET /api/v1/profiles/).")
    kind = serializers.ChoiceField(choices=ScheduleKind.choices, default=ScheduleKind.CRON)
    cron = serializers.CharField(required=False, allow_blank=True, default="",
                                 help_text="Five cron fields in UTC, e.g. \"0 3 * * *\" (daily at 03:00).")
    interval_every = serializers.IntegerField(required=False, allow_null=True, min_value=1, default=None)
    interval_unit = serializers.ChoiceField(choices=IntervalUnit.choices, required=False, allow_blank=True, default="")
    next_run_at = serializers.SerializerMethodField()

    class Meta:
        model = Schedule
        fields = ["id", "organization", "asset", "profile", "kind", "cron", "interval_every", "interval_unit",
                  "enabled", "run_on_new_version", "next_run_at", "last_run", "last_fired_at", "last_error",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "organization", "enabled", "next_run_at", "last_run", "last_fired_at",
                            "last_error", "created_at", "updated_at"]

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_run_at(self, obj):
        next_run = selectors.schedule_next_run(obj)
        return serializers.DateTimeField().to_representation(next_run) if next_run else None


SCHEDULE_EXAMPLE = OpenApiExample(
    "Daily at 03:00 UTC with the standard profile",
    value={"asset": 1, "profile": 2, "kind": "cron", "cron": "0 3 * * *", "run_on_new_version": True},
    request_only=True,
)


class ScheduleViewSet(OrganizationScopedModelViewSet):
    """Recurring re-assessments of an asset with a profile, run by celery beat's database scheduler.

    Each finished run is compared with its baseline; regressions open alerts. `run_on_new_version` also
    re-assesses every newly validated model version of the asset with the schedule's profile.
    """

    queryset = Schedule.objects.select_related("asset", "profile", "periodic_task", "periodic_task__crontab",
                                               "periodic_task__interval")
    serializer_class = ScheduleSerializer
    filterset_fields = ["asset", "profile", "enabled"]

    @extend_schema(examples=[SCHEDULE_EXAMPLE], responses={201: ScheduleSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        asset = data["asset"]
        self.require_write(asset.organization_id)
        schedule = services.schedule_create(
            organization=asset.organization, asset=asset, profile=data["profile"], user=request.user,
            kind=data["kind"], cron=data.get("cron", ""), interval_every=data.get("interval_every"),
            interval_unit=data.get("interval_unit", ""), run_on_new_version=data.get("run_on_new_version", True))
        return Response(self.get_serializer(schedule).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        changes = {k: v for k, v in serializer.validated_data.items() if k != "asset"}
        if "asset" in serializer.validated_data and serializer.validated_data["asset"] != serializer.instance.asset:
            raise serializers.ValidationError({"asset": ["A schedule's asset cannot change: create a new one."]})
        serializer.instance = services.schedule_update(schedule=serializer.instance, user=self.request.user,
                                                       **changes)

    def perform_destroy(self, instance):
        services.schedule_delete(schedule=instance, user=self.request.user)

    @extend_schema(request=None, responses={202: ScheduleSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        schedule = self.get_object()
        self.require_write(schedule.organization_id)
        schedule = services.schedule_pause(schedule=schedule, user=request.user)
        return Response(self.get_serializer(schedule).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: OpenApiResponse(description="The started run: {id, status, url}.")})
    @action(detail=True, methods=["post"], url_path="run-now")
    def run_now(self, request, pk=None):
        """Start the schedule's re-assessment now; the run becomes the schedule's last run."""
        schedule = self.get_object()
        self.require_write(schedule.organization_id)
        try:
            run = services.schedule_run_now(schedule=schedule, user=request.user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"detail": exc.messages}) from exc
        return Response({"id": run.pk, "status": run.status, "url": f"/api/v1/runs/{run.pk}/"},
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: ScheduleSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        schedule = self.get_object()
        self.require_write(schedule.organization_id)
        schedule = services.schedule_resume(schedule=schedule, user=request.user)
        return Response(self.get_serializer(schedule).data, status=status.HTTP_202_ACCEPTED)


# --- alerts ----------------------------------------------------------------------------------------------------


class DiffRowSerializer(serializers.Serializer):
    check = serializers.CharField(help_text="The engine's check kind.")
    key = serializers.CharField(help_text="Stable identity of the compared number.")
    metric = serializers.CharField()
    baseline = serializers.FloatField(allow_null=True)
    current = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(allow_null=True, help_text="current − baseline")
    tolerance = serializers.FloatField()
    tolerance_kind = serializers.ChoiceField(choices=["absolute", "relative"])
    worse_when = serializers.ChoiceField(choices=["lower", "higher"])


class AlertSerializer(serializers.ModelSerializer):
    diff = DiffRowSerializer(many=True, read_only=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Alert
        fields = ["id", "organization", "asset", "profile", "kind", "severity", "status", "title", "diff", "controls",
                  "reasons", "baseline_run", "current_run", "first_run", "resolved_by_run", "occurrences",
                  "opened_at", "last_seen_at", "acknowledged_at", "acknowledged_by", "acknowledge_comment",
                  "resolved_at", "resolved_by", "resolve_comment", "auto_resolved"]
        read_only_fields = fields


class AlertCommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class AlertResolveSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=4000, help_text="Why the alert is resolved; audited.")


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Alerts raised by regression checks. Deduplicated per asset, profile and kind; resolved automatically
    when a later run recovers. Filter with ?status=open|acknowledged|resolved and ?asset=<id>."""

    queryset = Alert.objects.select_related("acknowledged_by", "resolved_by")
    serializer_class = AlertSerializer
    filterset_fields = ["status", "severity", "kind", "asset", "profile"]

    @extend_schema(request=AlertCommentSerializer, responses={202: AlertSerializer})
    @action(detail=True, methods=["post"])
    def ack(self, request, pk=None):
        alert = self.get_object()
        self.require_write(alert.organization_id)
        payload = AlertCommentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        alert = services.alert_acknowledge(alert=alert, user=request.user, comment=payload.validated_data["comment"])
        return Response(AlertSerializer(alert).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=AlertResolveSerializer, responses={202: AlertSerializer},
                   examples=[OpenApiExample("Resolve", value={"comment": "Retrained with adversarial training; "
                                                                         "accepted by the model owner."},
                                            request_only=True)])
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        alert = self.get_object()
        self.require_write(alert.organization_id)
        payload = AlertResolveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        alert = services.alert_resolve(alert=alert, user=request.user, comment=payload.validated_data["comment"])
        return Response(AlertSerializer(alert).data, status=status.HTTP_202_ACCEPTED)


# --- channels --------------------------------------------------------------------------------------------------


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = ["id", "channel", "alert", "event", "message_id", "attempt", "previous", "status", "response_status",
                  "error", "created_at", "attempted_at"]
        read_only_fields = fields


class ChannelSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    email_recipients = serializers.ListField(child=serializers.EmailField(), required=False, default=list)
    min_severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.WARNING)
    assets = serializers.ManyRelatedField(child_relation=_ScopedPrimaryKey(ModelAsset), required=False)
    url = serializers.URLField(required=False, allow_blank=True, write_only=True, max_length=500,
                               help_text="Receiver URL (webhook and Slack). Write-only: it may hold a credential.")
    url_display = serializers.CharField(read_only=True, help_text="The URL without path tokens or query.")

    class Meta:
        model = Channel
        fields = ["id", "organization", "name", "kind", "email_recipients", "url", "url_display", "min_severity",
                  "all_assets", "assets", "enabled", "disabled_reason", "disabled_at", "created_at"]
        read_only_fields = ["id", "organization", "url_display", "disabled_reason", "disabled_at", "created_at"]


class ChannelCreatedSerializer(ChannelSerializer):
    secret = serializers.CharField(read_only=True, allow_null=True,
                                   help_text="Webhook signing secret (whsec_…). Returned only in this response.")

    class Meta(ChannelSerializer.Meta):
        fields = ChannelSerializer.Meta.fields + ["secret"]


CHANNEL_EXAMPLE = OpenApiExample(
    "A signed webhook for critical alerts",
    value={"name": "On-call", "kind": "webhook", "url": "https://hooks.example.com/riskapp",
           "min_severity": "critical", "all_assets": True},
    request_only=True,
)


class ChannelViewSet(OrganizationScopedModelViewSet):
    """Where alerts are sent: e-mail, signed webhooks (Standard Webhooks), Slack-compatible webhooks.

    Managing channels needs the admin role. A webhook's signing secret is returned once, at creation.
    A receiver answering 4xx disables the channel (`disabled_reason` says why); set `enabled` to re-enable.
    """

    queryset = Channel.objects.prefetch_related("assets")
    serializer_class = ChannelSerializer
    write_role = Role.ADMIN
    filterset_fields = ["kind", "enabled"]

    @extend_schema(examples=[CHANNEL_EXAMPLE], responses={201: ChannelCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = self.organization_for_create(serializer)
        data = serializer.validated_data
        channel, secret = services.channel_create(
            organization=organization, user=request.user, name=data["name"], kind=data["kind"],
            url=data.get("url", ""), email_recipients=data.get("email_recipients", []),
            min_severity=data.get("min_severity", Severity.WARNING), all_assets=data.get("all_assets", True),
            assets=data.get("assets", []))
        body = ChannelSerializer(channel, context=self.get_serializer_context()).data
        body["secret"] = secret
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        data = serializer.validated_data
        if "kind" in data and data["kind"] != serializer.instance.kind:
            raise serializers.ValidationError({"kind": ["A channel's type cannot change: create a new channel."]})
        serializer.instance = services.channel_update(
            channel=serializer.instance, user=self.request.user, name=data.get("name"), url=data.get("url"),
            email_recipients=data.get("email_recipients"), min_severity=data.get("min_severity"),
            all_assets=data.get("all_assets"), assets=data.get("assets"), enabled=data.get("enabled"))

    def perform_destroy(self, instance):
        services.channel_delete(channel=instance, user=self.request.user)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        channel = self.get_object()
        self.require_write(channel.organization_id)
        delivery = services.channel_send_test(channel=channel, user=request.user)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: DeliverySerializer(many=True)},
                   parameters=[OpenApiParameter("limit", int, description="At most this many (default 50).")])
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        channel = self.get_object()
        rows = selectors.deliveries_for(organization=channel.organization, channel=channel)
        return Response(DeliverySerializer(rows, many=True).data)


# --- baselines -------------------------------------------------------------------------------------------------


class BaselinePinSerializer(serializers.ModelSerializer):
    run = _ScopedPrimaryKey(AssessmentRun, help_text="A succeeded run; its asset and profile are the pin's.")
    pinned_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = BaselinePin
        fields = ["id", "organization", "asset", "profile", "run", "pinned_by", "pinned_at"]
        read_only_fields = ["id", "organization", "asset", "profile", "pinned_by", "pinned_at"]


class BaselinePinViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                         mixins.DestroyModelMixin, OrganizationScopedViewSet):
    """Pinned baselines: POST a run to compare later runs of its asset and profile with it; DELETE to go back
    to the default (the last good run)."""

    queryset = BaselinePin.objects.select_related("pinned_by")
    serializer_class = BaselinePinSerializer
    filterset_fields = ["asset", "profile"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = serializer.validated_data["run"]
        self.require_write(run.organization_id)
        pin = services.baseline_pin(run=run, user=request.user)
        return Response(self.get_serializer(pin).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.baseline_unpin(asset=instance.asset, profile=instance.profile, user=self.request.user)


from riskapp.api_router import router  # noqa: E402

router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("alerts", AlertViewSet, basename="alert")
router.register("channels", ChannelViewSet, basename="channel")
router.register("baselines", BaselinePinViewSet, basename="baselinepin")
