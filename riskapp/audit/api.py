"""Read-only API over the audit trail of the user's organizations."""

from rest_framework import mixins, serializers

from riskapp.accounts.api import OrganizationScopedViewSet
from riskapp.audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "actor_label", "organization", "action", "object_type", "object_id", "details"]
        read_only_fields = fields


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_fields = ["action", "object_type", "object_id"]


from riskapp.api_router import router  # noqa: E402

router.register("audit-events", AuditEventViewSet, basename="auditevent")
