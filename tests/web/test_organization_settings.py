"""Admins change the organization's evidence freshness window and raw-input retention from the settings page."""

from __future__ import annotations

from riskapp.audit.models import AuditEvent


def test_an_owner_changes_freshness_and_retention_and_it_is_audited(owner_client, organization):
    page = owner_client.get("/settings/").content.decode()
    assert 'data-testid="organization-settings"' in page and 'value="30"' in page
    response = owner_client.post("/settings/organization/", {"freshness_days": "90", "store_screened_inputs": "on"})
    assert response.status_code == 302
    organization.refresh_from_db()
    assert organization.freshness_days == 90 and organization.store_screened_inputs is True
    event = AuditEvent.objects.get(action="organization.settings")
    assert event.details == {"freshness_days": [30, 90], "store_screened_inputs": [False, True]}


def test_out_of_range_days_are_refused_with_a_message(owner_client, organization):
    for value in ("0", "99999", "²", "ten"):
        response = owner_client.post("/settings/organization/", {"freshness_days": value}, follow=True)
        assert response.status_code == 200
        assert "Settings not saved" in response.content.decode()
    organization.refresh_from_db()
    assert organization.freshness_days == 30
    assert not AuditEvent.objects.filter(action="organization.settings").exists()


def test_an_analyst_sees_the_settings_but_cannot_change_them(client, member, organization):
    client.force_login(member)
    page = client.get("/settings/").content.decode()
    assert "Evidence stays fresh for" in page and 'data-testid="organization-settings"' not in page
    assert client.post("/settings/organization/", {"freshness_days": "5"}).status_code == 403
    organization.refresh_from_db()
    assert organization.freshness_days == 30
