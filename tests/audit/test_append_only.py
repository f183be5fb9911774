"""Audit events are append-only: the ORM refuses to update or delete them."""

import pytest

from riskapp.audit.models import AppendOnlyError, AuditEvent
from riskapp.audit.services import audit_record


@pytest.fixture
def event(organization, owner):
    return audit_record(actor=owner, organization=organization, action="asset.create", details={"name": "x"})


def test_audit_record_stores_actor_organization_and_action(event, owner, organization):
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor, stored.actor_label, stored.organization, stored.action) == (owner, "alice", organization, "asset.create")


def test_an_event_cannot_be_saved_again(event):
    event.action = "something.else"
    with pytest.raises(AppendOnlyError):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "asset.create"


def test_an_event_cannot_be_deleted(event):
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_queryset_update_and_delete_are_refused(event):
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "asset.create"


def test_deleting_the_organization_keeps_its_audit_trail(event, organization):
    organization.delete()
    assert AuditEvent.objects.get(pk=event.pk).organization is None
