"""Compliance API: catalogs, evidence, verify, control status, reports with download; outsiders get nothing."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection

from riskapp.compliance.models import EvidenceRecord, Report
from riskapp.compliance.services import evidence_record_for_run, report_generate
from tests.compliance.factories import make_asset, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def evidence(organization):
    asset = make_asset(organization, name="Retina screener")
    return evidence_record_for_run(run=make_run(asset))


def test_frameworks_and_controls_are_browsable(owner_api):
    frameworks = owner_api.get("/api/v1/frameworks/").json()
    assert {f["slug"] for f in frameworks} >= {"iso-42001", "nist-ai-rmf", "eu-ai-act", "mitre-atlas", "owasp-ml-top10"}
    iso = next(f for f in frameworks if f["slug"] == "iso-42001")
    assert iso["controls"] == 38
    rows = owner_api.get("/api/v1/controls/", {"framework": "iso-42001", "ref_id": "A.6.2.4"}).json()["results"]
    assert len(rows) == 1 and rows[0]["parent"] == "A.6"
    assert "evasion-whitebox-robust-accuracy" in {rule["rule_id"] for rule in rows[0]["mapping_rules"]}
    rules = owner_api.get("/api/v1/mapping-rules/").json()
    robust = next(r for r in rules if r["rule_id"] == "evasion-whitebox-robust-accuracy")
    assert robust["metric"] == "robust_accuracy" and "A.6.2.4" in robust["controls"]["iso-42001"]


def test_evidence_lists_only_my_organization(owner_api, outsider_api, evidence):
    mine = owner_api.get("/api/v1/evidence/", {"ref_id": "A.6.2.4"}).json()["results"]
    assert len(mine) == 1 and mine[0]["payload_sha256"] == next(r for r in evidence if r.control.ref_id == "A.6.2.4").payload_sha256
    assert mine[0]["payload"]["checks"][0]["metrics"]["robust_accuracy"] == 0.62
    assert outsider_api.get("/api/v1/evidence/").json()["results"] == []
    assert outsider_api.get(f"/api/v1/evidence/{evidence[0].pk}/").status_code == 404


def test_verify_reports_the_chain_and_names_a_tampered_record(owner_api, organization, evidence):
    body = owner_api.get("/api/v1/evidence/verify/").json()
    assert body == {"ok": True, "records": len(evidence), "first_bad": None, "head": evidence[-1].payload_sha256}
    victim = evidence[2]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_evidencerecord SET payload = replace(payload, '0.62', '0.99') WHERE id = %s",
                       [victim.pk])
    body = owner_api.get("/api/v1/evidence/verify/", {"organization": organization.slug}).json()
    assert body["ok"] is False and body["first_bad"]["id"] == victim.pk and body["first_bad"]["seq"] == victim.seq


def test_outsider_cannot_verify_another_organization(outsider_api, organization, evidence):
    assert outsider_api.get("/api/v1/evidence/verify/", {"organization": organization.slug}).status_code == 404
    assert outsider_api.get("/api/v1/evidence/verify/", {"organization": str(organization.pk)}).status_code == 404
    own = outsider_api.get("/api/v1/evidence/verify/").json()
    assert own == {"ok": True, "records": 0, "first_bad": None, "head": ""}


def test_control_status_for_an_asset(owner_api, outsider_api, evidence):
    asset_id = evidence[0].asset_id
    rows = owner_api.get("/api/v1/control-status/", {"asset": asset_id, "framework": "iso-42001"}).json()
    assert len(rows) == 38
    by_ref = {row["ref_id"]: row for row in rows}
    assert by_ref["A.6.2.4"]["status"] == "compliant" and by_ref["A.2.2"]["status"] == "manual"
    assert outsider_api.get("/api/v1/control-status/", {"asset": asset_id}).status_code == 404
    assert owner_api.get("/api/v1/control-status/").status_code == 400


def test_report_requested_generated_and_downloaded(owner_api, organization, evidence, settings,
                                                   django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.post("/api/v1/reports/", {"framework": "iso-42001", "format": "csv",
                                                       "asset": evidence[0].asset_id}, format="json")
    assert response.status_code == 202, response.content
    report_id = response.json()["id"]
    detail = owner_api.get(f"/api/v1/reports/{report_id}/").json()
    assert detail["status"] == "succeeded" and detail["generated_by"] == "alice"
    download = owner_api.get(detail["download_url"])
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == detail["sha256"] == download["X-Content-SHA256"]
    assert content.startswith(b"ref_id,result,actual,expected,message")


def test_viewer_cannot_request_a_report(viewer_api, evidence):
    response = viewer_api.post("/api/v1/reports/", {"framework": "iso-42001", "format": "csv"}, format="json")
    assert response.status_code == 403
    assert not Report.objects.exists()


def test_outsider_cannot_list_download_or_scope_a_report_on_another_organization(
        owner, outsider_api, organization, evidence):
    from riskapp.compliance.models import Framework
    from riskapp.compliance.services import report_request

    report = report_request(organization=organization, framework=Framework.objects.get(slug="iso-42001"),
                            fmt="csv", user=owner, enqueue=False)
    report_generate(report_id=report.pk)
    assert outsider_api.get("/api/v1/reports/").json()["results"] == []
    assert outsider_api.get(f"/api/v1/reports/{report.pk}/download/").status_code == 404
    response = outsider_api.post("/api/v1/reports/", {"framework": "iso-42001", "format": "pdf",
                                                      "asset": evidence[0].asset_id}, format="json")
    assert response.status_code == 400 and "asset" in response.json()
    assert Report.objects.count() == 1


def test_evidence_rows_cannot_be_changed_through_the_api(owner_api, evidence):
    assert owner_api.delete(f"/api/v1/evidence/{evidence[0].pk}/").status_code == 405
    assert owner_api.patch(f"/api/v1/evidence/{evidence[0].pk}/", {"verdict": "compliant"}, format="json").status_code == 405
    assert EvidenceRecord.objects.count() == len(evidence)


def test_manual_evidence_through_the_api_makes_a_manual_control_compliant(owner_api, outsider_api, evidence):
    from datetime import timedelta

    from django.utils import timezone

    asset_id = evidence[0].asset_id
    expires = (timezone.now().date() + timedelta(days=30)).isoformat()
    response = owner_api.post("/api/v1/manual-evidence/", {
        "asset": asset_id, "framework": "iso-42001", "ref_id": "A.2.2", "title": "AI policy v3",
        "link": "https://intranet.example.test/ai-policy", "expires_on": expires}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["control"] == {"framework": "iso-42001", "ref_id": "A.2.2",
                                          "title": response.json()["control"]["title"]}
    rows = owner_api.get("/api/v1/control-status/", {"asset": asset_id, "framework": "iso-42001"}).json()
    assert next(r for r in rows if r["ref_id"] == "A.2.2")["status"] == "compliant"
    refused = outsider_api.post("/api/v1/manual-evidence/", {
        "asset": asset_id, "framework": "iso-42001", "ref_id": "A.2.2", "title": "x",
        "link": "https://example.test/x", "expires_on": expires}, format="json")
    assert refused.status_code == 400 and "asset" in refused.json()
    past = owner_api.post("/api/v1/manual-evidence/", {
        "asset": asset_id, "framework": "iso-42001", "ref_id": "A.2.3", "title": "old",
        "link": "https://example.test/old", "expires_on": "2020-01-01"}, format="json")
    assert past.status_code == 400
