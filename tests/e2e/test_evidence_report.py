"""An auditor-facing PDF, in a real browser: from the ISO/IEC 42001 compliance page a person generates the PDF,
a real worker renders it, the person downloads it; its text names the model and the controls, and its SHA-256 is
the one the page shows."""

from __future__ import annotations

import hashlib
import io
import re

import pytest

from tests.e2e.conftest import assessed_asset, chromium_required

pytestmark = [pytest.mark.e2e, pytest.mark.slow, chromium_required]


@pytest.mark.django_db(transaction=True)
def test_generate_download_and_verify_the_iso_42001_pdf(
        live_server, celery_worker_process, organization, owner, e2e_profile, strong_cnn_path, browser_page,
        screenshots, sign_in):
    pypdf = pytest.importorskip("pypdf")
    from riskapp.compliance.models import EvidenceRecord, Report

    asset, _run = assessed_asset(organization, owner, model_path=strong_cnn_path, name="Claims digit reader",
                                 profile=e2e_profile)
    evidenced = set(EvidenceRecord.objects.filter(asset=asset, control__framework__slug="iso-42001")
                    .values_list("control__ref_id", flat=True))
    assert evidenced, "the run recorded no ISO/IEC 42001 evidence"
    celery_worker_process(queues="default")
    page = browser_page
    sign_in(page, owner.username)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Compliance").click()
    page.wait_for_url("**/compliance/")
    screenshots(page, "compliance")
    page.locator('a[href="/compliance/frameworks/iso-42001/"]').first.click()
    page.wait_for_url("**/compliance/frameworks/iso-42001/")
    page.get_by_test_id("control-matrix").wait_for()
    screenshots(page, "iso-42001-matrix")

    page.get_by_role("link", name="Generate report").first.click()
    page.wait_for_url("**/compliance/reports/**")
    page.get_by_label("Format").select_option("pdf")
    screenshots(page, "report-form")
    page.get_by_role("button", name="Generate report").click()

    # The new row polls its fragment until the worker has rendered the file; then the hash and Download appear.
    row = page.locator('[data-testid="report-list"] tbody tr').first
    row.locator("code").wait_for(timeout=180_000)
    shown_sha = row.locator("code").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", shown_sha)
    assert row.get_attribute("data-poll-url") is None  # nothing left to change: polling stopped
    screenshots(page, "report-ready")

    with page.expect_download() as download_info:
        row.get_by_role("link", name="Download").click()
    content = open(download_info.value.path(), "rb").read()

    assert content.startswith(b"%PDF")
    assert hashlib.sha256(content).hexdigest() == shown_sha
    report = Report.objects.get(organization=organization)
    assert report.sha256 == shown_sha and report.framework.slug == "iso-42001"

    text = "\n".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(content)).pages)
    flat = re.sub(r"\s+", " ", text)
    assert asset.name in flat
    for ref_id in sorted(evidenced):
        assert ref_id in flat, f"control {ref_id} is not in the PDF"
