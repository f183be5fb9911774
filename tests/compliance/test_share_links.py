"""Auditor links: read-only, no account, token shown once and stored hashed, expiring, revocable, audited."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from riskapp.audit.models import AuditEvent
from riskapp.compliance.models import Framework, ShareLink
from riskapp.compliance.services import (
    evidence_record_for_run,
    report_generate,
    report_request,
    share_link_create,
    share_link_revoke,
)
from tests.compliance.factories import make_asset, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(organization, owner):
    asset = make_asset(organization, name="Retina screener")
    evidence_record_for_run(run=make_run(asset))
    queued = report_request(organization=organization, framework=Framework.objects.get(slug="iso-42001"),
                            fmt="csv", user=owner, asset=asset, enqueue=False)
    return report_generate(report_id=queued.pk)


def test_token_is_stored_only_as_its_hash(organization, owner, report):
    link, raw = share_link_create(organization=organization, user=owner, report=report, expires_in_days=7)
    assert raw.startswith("rsk_share_") and raw not in str(ShareLink.objects.filter(pk=link.pk).values().get())
    assert link.token_hash == hashlib.sha256(raw.encode()).hexdigest()


def test_auditor_without_account_reads_and_downloads_the_report_and_each_access_is_audited(
        client, organization, owner, report):
    link, raw = share_link_create(organization=organization, user=owner, report=report, expires_in_days=7,
                                  label="Ext. auditor")
    page = client.get(f"/compliance/shared/{raw}/")
    assert page.status_code == 200
    assert report.sha256 in page.content.decode()
    download = client.get(f"/compliance/shared/{raw}/download/")
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == report.sha256
    accesses = AuditEvent.objects.filter(action="share_link.access", object_id=str(link.pk))
    assert accesses.count() == 2
    assert set(accesses.values_list("actor_label", flat=True)) == {f"auditor-link:{link.prefix}"}
    link.refresh_from_db()
    assert link.access_count == 2 and link.last_accessed_at is not None


def test_asset_evidence_link_shows_statuses_and_records_read_only(client, organization, owner, report):
    link, raw = share_link_create(organization=organization, user=owner, asset=report.asset, expires_in_days=3)
    html = client.get(f"/compliance/shared/{raw}/").content.decode()
    assert "Evidence of Retina screener" in html and "A.6.2.4" in html and "hash-chained" not in html
    assert "evidence chain holds" in html
    assert client.get(f"/compliance/shared/{raw}/download/").status_code == 404
    assert "<form" not in html.split("<main")[1]


def test_revoked_and_expired_links_open_nothing(client, organization, owner, report, monkeypatch):
    link, raw = share_link_create(organization=organization, user=owner, report=report, expires_in_days=1)
    share_link_revoke(link=link, user=owner)
    assert client.get(f"/compliance/shared/{raw}/").status_code == 404
    assert client.get(f"/compliance/shared/{raw}/download/").status_code == 404
    second, raw2 = share_link_create(organization=organization, user=owner, report=report, expires_in_days=1)
    later = timezone.now() + timedelta(days=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert client.get(f"/compliance/shared/{raw2}/").status_code == 404
    refused = AuditEvent.objects.filter(action="share_link.refused").values_list("details", flat=True)
    assert {d["why"] for d in refused} == {"revoked", "expired"}


def test_unknown_token_opens_nothing(client):
    assert client.get("/compliance/shared/rsk_share_not-a-real-token/").status_code == 404
    assert client.get("/compliance/shared/whatever/").status_code == 404


def test_share_link_api_returns_the_url_once_and_revokes(owner_api, outsider_api, report):
    response = owner_api.post("/api/v1/share-links/", {"report": report.pk, "expires_in_days": 5}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert "/compliance/shared/rsk_share_" in body["url"]
    listed = owner_api.get(f"/api/v1/share-links/{body['id']}/").json()
    assert "url" not in listed and listed["active"] is True
    assert outsider_api.post(f"/api/v1/share-links/{body['id']}/revoke/").status_code == 404
    assert owner_api.post(f"/api/v1/share-links/{body['id']}/revoke/").json()["active"] is False


def test_outsider_cannot_share_another_organizations_report(outsider_api, report):
    response = outsider_api.post("/api/v1/share-links/", {"report": report.pk}, format="json")
    assert response.status_code == 400 and not ShareLink.objects.exists()


def test_ui_creates_a_link_and_shows_it_once(owner_client, report):
    response = owner_client.post("/compliance/share/", {"report": report.pk, "expires_in_days": 7,
                                                        "label": "Auditor"}, follow=True)
    html = response.content.decode()
    assert "/compliance/shared/rsk_share_" in html
    again = owner_client.get("/compliance/reports/").content.decode()
    assert "/compliance/shared/rsk_share_" not in again and ShareLink.objects.get().prefix in again
