"""Reads of the audit trail, scoped to an organization."""

from riskapp.audit.models import AuditEvent


def audit_events_for(*, organization, limit: int = 100):
    return AuditEvent.objects.filter(organization=organization).select_related("actor")[:limit]
