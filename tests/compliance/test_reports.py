"""Reports: PDF (text, hashes, pages render), OSCAL validated against NIST's schema, CSV round-trip, task path."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from riskapp.compliance.models import EvidenceChain, Framework, Report, ReportFormat
from riskapp.compliance.reports import CSV_COLUMNS, oscal_control_id
from riskapp.compliance.selectors import control_statuses_for_asset
from riskapp.compliance.services import evidence_record_for_run, report_generate, report_request
from tests.compliance.factories import WHITEBOX_METRICS, WHITEBOX_THRESHOLDS, make_asset, make_run

pytestmark = pytest.mark.django_db

OSCAL_SCHEMA = Path(__file__).parent / "oscal" / "oscal_assessment-results_schema.json"


@pytest.fixture
def assessed(organization, owner):
    asset = make_asset(organization, name="Retina screener")
    evidence_record_for_run(run=make_run(asset))
    failing = {**WHITEBOX_METRICS, "robust_accuracy": 0.21, "attack_success_rate": 0.78}
    evidence_record_for_run(run=make_run(asset, seed=9, checks=[
        ("evasion.whitebox", "failed", failing, WHITEBOX_THRESHOLDS),
        ("inference.membership", "passed", {"auc": 0.54, "advantage": 0.06, "tpr_at_1pct_fpr": 0.02},
         {"auc": {"max": 0.6}}),
    ]))
    return asset


def _generate(organization, owner, fmt, slug="iso-42001", asset=None) -> Report:
    report = report_request(organization=organization, framework=Framework.objects.get(slug=slug), fmt=fmt,
                            user=owner, asset=asset, enqueue=False)
    report = report_generate(report_id=report.pk)
    assert report.status == "succeeded", report.error
    return report


def test_stored_file_hash_matches_the_file(organization, owner, assessed):
    report = _generate(organization, owner, ReportFormat.CSV, asset=assessed)
    with report.file.open("rb") as handle:
        content = handle.read()
    assert report.sha256 == hashlib.sha256(content).hexdigest() and report.size_bytes == len(content)
    assert report.chain_head_sha256 == EvidenceChain.objects.get(organization=organization).head_sha256


def test_pdf_states_controls_asset_measured_values_and_chain_head(organization, owner, assessed, tmp_path):
    pypdf = pytest.importorskip("pypdf")
    report = _generate(organization, owner, ReportFormat.PDF, asset=assessed)
    with report.file.open("rb") as handle:
        content = handle.read()
    assert content.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(content))
    assert len(reader.pages) >= 4
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    for ref_id in ("A.6.2.4", "A.2.2", "A.7.4"):
        assert ref_id in flat
    assert "Retina screener" in flat and "Acme Health" in flat
    assert "robust_accuracy = 0.21" in flat  # the measured value of the newest run
    assert "0.54" in flat  # membership AUC
    chain_head = EvidenceChain.objects.get(organization=organization).head_sha256
    assert chain_head in flat.replace(" ", "") or chain_head in text.replace("\n", "")
    assert str(report.uid) in flat
    assert "Page 2 of" in flat
    assert "Non-compliant" in flat


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_pdf_first_page_renders_to_png(organization, owner, assessed, tmp_path):
    report = _generate(organization, owner, ReportFormat.PDF, asset=assessed)
    pdf = tmp_path / "report.pdf"
    with report.file.open("rb") as handle:
        pdf.write_bytes(handle.read())
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=60)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 1
    png = pages[0].read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 2000


def test_oscal_validates_against_the_official_schema(organization, owner, assessed):
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    report = _generate(organization, owner, ReportFormat.OSCAL, slug="nist-ai-rmf")
    with report.file.open("rb") as handle:
        document = json.loads(handle.read())
    validator = jsonschema_rs.Draft7Validator(json.loads(OSCAL_SCHEMA.read_text()))
    errors = [str(error)[:300] for error in validator.iter_errors(document)]
    assert errors == []
    result = document["assessment-results"]["results"][0]
    selected = result["reviewed-controls"]["control-selections"][0]["include-controls"]
    assert len(selected) == 72
    findings = {f["target"]["target-id"]: f for f in result["findings"]}
    assert findings[oscal_control_id("MEASURE 2.7")]["target"]["status"]["state"] == "not-satisfied"
    observation = next(o for o in result["observations"] if o["title"].startswith("MEASURE 2.7"))
    assert any(p["name"] == "evidence-sha256" for p in observation["props"])


def test_oscal_validation_catches_a_broken_document():
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    validator = jsonschema_rs.Draft7Validator(json.loads(OSCAL_SCHEMA.read_text()))
    broken = {"assessment-results": {"uuid": "not-a-uuid", "metadata": {}, "import-ap": {}, "results": []}}
    assert not validator.is_valid(broken)


def test_control_ids_become_oscal_tokens():
    assert oscal_control_id("MEASURE 2.7") == "measure-2.7"
    assert oscal_control_id("Art. 15(5)(3)") == "art.-15-5-3"
    assert oscal_control_id("A.6.2.4") == "a.6.2.4"
    assert oscal_control_id("AML.T0043.000") == "aml.t0043.000"


def test_csv_round_trips_to_the_same_statuses(organization, owner, assessed):
    report = _generate(organization, owner, ReportFormat.CSV, asset=assessed)
    with report.file.open("rb") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read().decode("utf-8"))))
    assert list(rows[0].keys())[:5] == ["ref_id", "result", "actual", "expected", "message"]
    assert list(rows[0].keys()) == CSV_COLUMNS
    statuses = {cell.control.ref_id: cell.status for cell in
                control_statuses_for_asset(asset=assessed, framework=Framework.objects.get(slug="iso-42001"))}
    assert {row["ref_id"]: row["status"] for row in rows} == statuses
    assert len(rows) == 38
    a624 = next(row for row in rows if row["ref_id"] == "A.6.2.4")
    assert a624["result"] == "non_compliant"
    assert "evasion.whitebox robust_accuracy=0.21" in a624["actual"]
    assert "evasion.whitebox robust_accuracy ≥ 0.3" in a624["expected"]
    manual = next(row for row in rows if row["ref_id"] == "A.2.2")
    assert manual["result"] == "not_assessed" and manual["status"] == "manual"


def test_report_task_runs_through_celery_eager(organization, owner, assessed, settings,
                                               django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        report = report_request(organization=organization, framework=Framework.objects.get(slug="owasp-ml-top10"),
                                fmt=ReportFormat.CSV, user=owner, asset=assessed)
    report.refresh_from_db()
    assert report.status == "succeeded" and len(report.sha256) == 64


def test_a_broken_render_is_recorded_on_the_report(organization, owner, assessed, monkeypatch):
    from riskapp.compliance import reports

    def explode(*args, **kwargs):
        raise RuntimeError("renderer unavailable")

    monkeypatch.setattr(reports, "render_csv", explode)
    report = report_request(organization=organization, framework=Framework.objects.get(slug="iso-42001"),
                            fmt=ReportFormat.CSV, user=owner, enqueue=False)
    report = report_generate(report_id=report.pk)
    assert report.status == "failed" and "renderer unavailable" in report.error and not report.sha256


def test_report_left_running_by_a_dead_worker_is_generated_on_redelivery(organization, owner, assessed):
    from datetime import timedelta

    from django.utils import timezone

    report = report_request(organization=organization, framework=Framework.objects.get(slug="iso-42001"),
                            fmt=ReportFormat.CSV, user=owner, enqueue=False)
    Report.objects.filter(pk=report.pk).update(status="running")
    assert report_generate(report_id=report.pk).status == "running"  # another worker may still be on it
    Report.objects.filter(pk=report.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert report_generate(report_id=report.pk).status == "succeeded"
