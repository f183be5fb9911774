"""Recording audit events. Every service that changes something calls audit_record."""

from __future__ import annotations

from django.db.models import Model

from riskapp.audit.models import AuditEvent


def audit_record(*, actor, organization, action: str, obj: Model | None = None,
                 details: dict | None = None) -> AuditEvent:
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        actor=actor if is_user else None,
        actor_label=actor.get_username() if is_user else (actor if isinstance(actor, str) else "system"),
        organization=organization,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        details=details or {},
    )
    event.save()
    return event
