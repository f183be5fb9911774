"""People acknowledge and resolve alerts (audited); the navigation badge counts open ones; pages render the diff."""

from __future__ import annotations

import re

import pytest

from riskapp.audit.models import AuditEvent
from riskapp.monitoring.models import AlertStatus
from riskapp.monitoring.services import alert_acknowledge, alert_resolve
from tests.monitoring.factories import make_alert


@pytest.fixture
def alert(organization, owner):
    return make_alert(organization, owner)


def test_acknowledge_then_resolve_with_comments_is_audited(alert, member):
    alert_acknowledge(alert=alert, user=member, comment="Looking into it")
    alert_resolve(alert=alert, user=member, comment="Retrained with adversarial training")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and not alert.auto_resolved
    assert alert.acknowledged_by == member and alert.resolved_by == member
    events = AuditEvent.objects.filter(object_id=str(alert.pk), object_type="monitoring.alert")
    assert {e.action: e.details.get("comment") for e in events if e.actor_id == member.pk} == {
        "alert.acknowledge": "Looking into it", "alert.resolve": "Retrained with adversarial training"}


def test_resolving_needs_a_comment(alert, member):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        alert_resolve(alert=alert, user=member, comment="  ")


def test_api_ack_and_resolve(alert, member_api, viewer_api):
    assert viewer_api.post(f"/api/v1/alerts/{alert.pk}/ack/", {"comment": "x"}, format="json").status_code == 403
    response = member_api.post(f"/api/v1/alerts/{alert.pk}/ack/", {"comment": "on it"}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "acknowledged"
    missing = member_api.post(f"/api/v1/alerts/{alert.pk}/resolve/", {}, format="json")
    assert missing.status_code == 400
    response = member_api.post(f"/api/v1/alerts/{alert.pk}/resolve/", {"comment": "accepted risk"}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "resolved"
    listed = member_api.get("/api/v1/alerts/?status=resolved").json()["results"]
    assert [row["id"] for row in listed] == [alert.pk]
    row = listed[0]["diff"][0]
    assert {"metric", "baseline", "current", "delta", "tolerance"} <= set(row)


def test_the_badge_counts_open_alerts(alert, owner_client, member):
    page = owner_client.get("/").content.decode()
    assert re.search(r'data-testid="alert-badge"[^>]*>1</span>', page)
    alert_acknowledge(alert=alert, user=member)
    assert 'data-testid="alert-badge"' not in owner_client.get("/").content.decode()


def test_alert_pages_show_the_diff_trend_and_forms(alert, owner_client):
    listing = owner_client.get("/monitoring/").content.decode()
    assert alert.title in listing
    detail = owner_client.get(f"/monitoring/alerts/{alert.pk}/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert 'data-testid="alert-diff"' in html and "0.6000" in html and "0.3000" in html and "-0.3000" in html
    assert "<svg" in html  # the trend chart
    assert "Acknowledge" in html and "Resolve" in html
    response = owner_client.post(f"/monitoring/alerts/{alert.pk}/resolve/", {"comment": "fixed in v3"})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.resolve_comment == "fixed in v3"


def test_pinning_the_current_run_from_the_alert_page(alert, owner_client):
    from riskapp.monitoring.models import BaselinePin

    response = owner_client.post(f"/monitoring/baselines/pin/{alert.current_run_id}/",
                                 {"next": f"/monitoring/alerts/{alert.pk}/"})
    assert response.status_code == 302 and response["Location"] == f"/monitoring/alerts/{alert.pk}/"
    assert BaselinePin.objects.get(asset=alert.asset, profile=alert.profile).run_id == alert.current_run_id
