"""Compliance pages: posture, matrix with filters, control page, manual evidence, reports UI, asset section."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from riskapp.compliance.models import ManualEvidence, Report
from riskapp.compliance.services import evidence_record_for_run
from tests.compliance.factories import make_asset, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def assessed(organization):
    asset = make_asset(organization, name="Retina screener")
    evidence_record_for_run(run=make_run(asset))
    return asset


def test_index_lists_frameworks_with_posture(owner_client, assessed):
    page = owner_client.get("/compliance/")
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("NIST AI Risk Management Framework", "ISO/IEC 42001", "EU Artificial Intelligence Act",
                 "MITRE ATLAS", "OWASP"):
        assert name in html
    assert "hash-chained record" in html


def test_matrix_shows_status_per_asset_and_filters(owner_client, assessed):
    page = owner_client.get("/compliance/frameworks/iso-42001/")
    html = page.content.decode()
    assert page.status_code == 200 and "Retina screener" in html
    assert 'data-status="compliant"' in html and "A.6.2.4" in html and "A.2.2" in html
    filtered = owner_client.get("/compliance/frameworks/iso-42001/", {"status": "compliant"}).content.decode()
    assert "A.6.2.4" in filtered and ">A.2.2<" not in filtered


def test_control_page_shows_rationale_history_and_links(owner_client, assessed):
    page = owner_client.get("/compliance/frameworks/iso-42001/controls/A.6.2.4/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "evasion-whitebox-robust-accuracy" in html and "Accuracy that survives" in html
    assert 'data-testid="evidence-history"' in html and "robust_accuracy = 0.62" in html
    nist = owner_client.get("/compliance/frameworks/nist-ai-rmf/controls/MEASURE 2.7/")
    assert nist.status_code == 200
    eu = owner_client.get("/compliance/frameworks/eu-ai-act/controls/Art. 15(5)(3)/")
    assert eu.status_code == 200


def test_outsider_sees_none_of_the_evidence_on_the_control_page(outsider_client, assessed):
    html = outsider_client.get("/compliance/frameworks/iso-42001/controls/A.6.2.4/").content.decode()
    assert "Retina screener" not in html and "robust_accuracy = 0.62" not in html


def test_manual_evidence_is_attached_with_a_file(owner_client, owner, assessed):
    from riskapp.compliance.models import Control

    control = Control.objects.get(framework__slug="iso-42001", ref_id="A.2.2")
    expires = (timezone.now().date() + timedelta(days=200)).isoformat()
    response = owner_client.post(
        f"/compliance/assets/{assessed.pk}/controls/{control.pk}/manual-evidence/",
        {"title": "AI policy v3", "owner": owner.pk, "expires_on": expires,
         "file": SimpleUploadedFile("policy.pdf", b"%PDF-1.4 policy", content_type="application/pdf")})
    assert response.status_code == 302
    evidence = ManualEvidence.objects.get()
    assert evidence.file_sha256 and evidence.original_filename == "policy.pdf"
    html = owner_client.get("/compliance/frameworks/iso-42001/").content.decode()
    page = owner_client.get("/compliance/frameworks/iso-42001/controls/A.2.2/").content.decode()
    assert "AI policy v3" in page and "Compliant" in page
    download = owner_client.get(f"/compliance/manual-evidence/{evidence.pk}/file/")
    assert b"".join(download.streaming_content) == b"%PDF-1.4 policy"
    assert html


def test_outsider_cannot_attach_evidence_to_another_organizations_asset(outsider_client, outsider, assessed):
    from riskapp.compliance.models import Control

    control = Control.objects.get(framework__slug="iso-42001", ref_id="A.2.2")
    response = outsider_client.post(
        f"/compliance/assets/{assessed.pk}/controls/{control.pk}/manual-evidence/",
        {"title": "x", "owner": outsider.pk, "link": "https://example.test/x",
         "expires_on": (timezone.now().date() + timedelta(days=2)).isoformat()})
    assert response.status_code == 404 and not ManualEvidence.objects.exists()


def test_generate_report_from_the_ui_and_download_it(owner_client, assessed, settings,
                                                     django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/compliance/reports/", {"framework": "iso-42001", "asset": assessed.pk,
                                                              "format": "oscal"})
    assert response.status_code == 302
    report = Report.objects.get()
    assert report.status == "succeeded"
    listing = owner_client.get("/compliance/reports/").content.decode()
    assert report.sha256 in listing and "alice" in listing
    download = owner_client.get(f"/compliance/reports/{report.pk}/download/")
    assert download.status_code == 200 and download["X-Content-SHA256"] == report.sha256


def test_outsider_cannot_download_a_report_from_the_ui(owner, outsider_client, organization, assessed):
    from riskapp.compliance.models import Framework
    from riskapp.compliance.services import report_generate, report_request

    report = report_request(organization=organization, framework=Framework.objects.get(slug="iso-42001"),
                            fmt="csv", user=owner, enqueue=False)
    report = report_generate(report_id=report.pk)
    assert len(report.sha256) == 64
    assert outsider_client.get(f"/compliance/reports/{report.pk}/download/").status_code == 404
    assert outsider_client.get(f"/compliance/reports/{report.pk}/row/").status_code == 404
    assert report.sha256 not in outsider_client.get("/compliance/reports/").content.decode()


def test_queued_report_row_polls_until_it_is_done(owner_client, owner, organization, assessed):
    from riskapp.compliance.models import Framework
    from riskapp.compliance.services import report_generate, report_request

    report = report_request(organization=organization, framework=Framework.objects.get(slug="iso-42001"),
                            fmt="csv", user=owner, enqueue=False)
    assert "data-poll-url" in owner_client.get(f"/compliance/reports/{report.pk}/row/").content.decode()
    report_generate(report_id=report.pk)
    assert "data-poll-url" not in owner_client.get(f"/compliance/reports/{report.pk}/row/").content.decode()


def test_asset_page_shows_posture_per_framework(owner_client, assessed):
    page = owner_client.get(f"/assets/{assessed.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="asset-compliance"' in html and "ISO/IEC 42001" in html


def test_mapping_page_lists_every_rule_with_its_controls(owner_client):
    html = owner_client.get("/compliance/mapping/").content.decode()
    assert "evasion-whitebox-robust-accuracy" in html and "A.6.2.4" in html and "Art. 15(5)" in html


def test_framework_without_models_still_lists_its_controls(owner_client):
    html = owner_client.get("/compliance/frameworks/nist-ai-rmf/").content.decode()
    assert "No models to show" in html and "MEASURE 2.7" in html and "GOVERN 1.1" in html


def test_verify_page_walks_the_chain_and_names_a_tampered_record(owner_client, organization, assessed):
    from django.db import connection

    from riskapp.compliance.models import EvidenceRecord

    assert "Intact." in owner_client.get("/compliance/verify/").content.decode()
    victim = EvidenceRecord.objects.filter(organization=organization).order_by("seq")[2]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_evidencerecord SET payload = payload || ' ' WHERE id = %s", [victim.pk])
    html = owner_client.get("/compliance/verify/").content.decode()
    assert f"Broken at record #{victim.seq}" in html
