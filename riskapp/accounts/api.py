"""The organization-scoped DRF base viewset every API uses, plus the organization and token endpoints."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from riskapp.accounts.middleware import SESSION_KEY
from riskapp.accounts.models import ApiToken, Organization, Role
from riskapp.accounts.permissions import can_write
from riskapp.accounts.services import api_token_create, api_token_revoke
from riskapp.accounts.tenancy import organization_ids_for, organizations_for, scope_queryset


class OrganizationField(serializers.PrimaryKeyRelatedField):
    """A writable organization reference limited to the requesting user's organizations.

    Optional when the user belongs to exactly one organization: it then defaults to that one.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        return organizations_for(request.user) if request else Organization.objects.none()


def default_organization(request) -> Organization:
    ids = organization_ids_for(request.user)
    session = getattr(request, "session", None)
    chosen = session.get(SESSION_KEY) if session is not None else None
    if chosen in ids:
        return Organization.objects.get(pk=chosen)
    if len(ids) == 1:
        return Organization.objects.get(pk=ids[0])
    raise serializers.ValidationError({"organization": ["You belong to several organizations: say which one."]})


class OrganizationScopedViewSet(viewsets.GenericViewSet):
    """Base for every API viewset: the queryset is scoped to the user's organizations through one helper.

    `org_field` is the lookup path from the model to its organization (e.g. "asset__organization").
    Writes need `write_role` (analyst by default) in the object's organization; an outsider gets 404.
    """

    org_field = "organization"
    write_role = Role.ANALYST

    def get_queryset(self):
        return scope_queryset(super().get_queryset(), self.request.user, org_field=self.org_field)

    def organization_id_of(self, obj) -> int:
        target = obj
        parts = self.org_field.split("__")
        for part in parts[:-1]:
            target = getattr(target, part)
        return getattr(target, f"{parts[-1]}_id")

    def require_write(self, organization_id: int, minimum: str | None = None) -> None:
        if not can_write(self.request.user, organization_id, minimum or self.write_role):
            raise PermissionDenied("Your role in this organization does not allow this action.")

    def organization_for_create(self, serializer) -> Organization:
        organization = serializer.validated_data.get("organization") or default_organization(self.request)
        self.require_write(organization.pk)
        return organization


class OrganizationScopedModelViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    OrganizationScopedViewSet,
):
    def perform_create(self, serializer):
        organization = self.organization_for_create(serializer)
        with transaction.atomic():
            serializer.save(organization=organization)


# --- organizations and tokens ---------------------------------------------------------------------------


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "freshness_days", "created_at", "role"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices))
    def get_role(self, obj) -> str:
        request = self.context["request"]
        return obj.memberships.filter(user=request.user).values_list("role", flat=True).first()


class OrganizationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    org_field = "pk"

    def get_queryset(self):
        return organizations_for(self.request.user)

    def organization_id_of(self, obj) -> int:
        return obj.pk


class ApiTokenSerializer(serializers.ModelSerializer):
    organization = OrganizationField()

    class Meta:
        model = ApiToken
        fields = ["id", "organization", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret token. Shown only in this response.")

    class Meta(ApiTokenSerializer.Meta):
        fields = ApiTokenSerializer.Meta.fields + ["token"]


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                      OrganizationScopedViewSet):
    """Your own API tokens. The secret is returned once, at creation; only its hash is stored."""

    queryset = ApiToken.objects.select_related("organization")
    serializer_class = ApiTokenSerializer
    write_role = Role.VIEWER  # anyone may hold tokens for their own use; a viewer's token can only read

    def get_queryset(self):
        return super().get_queryset().filter(user=self.request.user)

    @extend_schema(request=ApiTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        serializer = ApiTokenSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        organization = self.organization_for_create(serializer)
        token, raw = api_token_create(user=request.user, organization=organization,
                                      name=serializer.validated_data["name"],
                                      expires_at=serializer.validated_data.get("expires_at"))
        data = ApiTokenSerializer(token, context=self.get_serializer_context()).data
        data["token"] = raw
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        api_token_revoke(token=instance, actor=self.request.user)


from riskapp.api_router import router  # noqa: E402

router.register("organizations", OrganizationViewSet, basename="organization")
router.register("tokens", ApiTokenViewSet, basename="apitoken")
