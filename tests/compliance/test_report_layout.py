"""The PDF report lays out inside its pages: no box runs past the right margin, every chart keeps its title."""

from __future__ import annotations

import pytest

from riskapp.compliance.models import Framework
from riskapp.compliance.reports import pdf_document, report_data
from riskapp.compliance.services import evidence_record_for_run, report_request
from tests.compliance.factories import WHITEBOX_METRICS, WHITEBOX_THRESHOLDS, make_asset, make_run

pytestmark = pytest.mark.django_db

TOLERANCE_PX = 1.0  # sub-pixel rounding of the layout engine


def _boxes(box, inside_margin_box=False):
    name = type(box).__name__
    in_margin = inside_margin_box or name == "MarginBox"
    yield box, in_margin
    for child in getattr(box, "children", None) or []:
        yield from _boxes(child, in_margin)


@pytest.fixture
def document(organization, owner):
    asset = make_asset(organization, name="Retina screener with a rather long model name for the tiles")
    for seed, robust in ((1, 0.62), (2, 0.55), (3, 0.31)):
        metrics = {**WHITEBOX_METRICS, "robust_accuracy": robust}
        evidence_record_for_run(run=make_run(asset, seed=seed, checks=[
            ("evasion.whitebox", "passed" if robust >= 0.4 else "failed", metrics, WHITEBOX_THRESHOLDS)]))
    report = report_request(organization=organization, framework=Framework.objects.get(slug="iso-42001"),
                            fmt="pdf", user=owner, asset=asset, enqueue=False)
    return pdf_document(report_data(report))


def test_no_box_runs_past_the_right_margin_on_any_page(document):
    overflows = []
    for number, page in enumerate(document.pages, start=1):
        page_box = page._page_box
        right_edge = page.width - page_box.margin_right + TOLERANCE_PX
        for box, in_margin in _boxes(page_box):
            if in_margin or type(box).__name__ == "PageBox" or not hasattr(box, "margin_width"):
                continue
            right = box.position_x + box.margin_width()
            if right > right_edge:
                text = getattr(box, "text", "") or getattr(box, "element_tag", "")
                overflows.append(f"page {number}: {type(box).__name__} {text[:40]!r} ends at {right:.0f}px "
                                 f"> {right_edge:.0f}px")
    assert not overflows, "\n".join(overflows[:20])


def _is_chart(box) -> bool:
    return "Replaced" in type(box).__name__ and str(getattr(box, "element_tag", "")).endswith("svg")


def test_every_chart_is_on_the_same_page_as_its_title(document):
    charts_seen = 0
    for number, page in enumerate(document.pages, start=1):
        boxes = [box for box, _ in _boxes(page._page_box)]
        charts = sum(1 for box in boxes if _is_chart(box))
        titles = sum(1 for box in boxes if getattr(box, "element_tag", None) == "figcaption"
                     and type(box).__name__ == "BlockBox")
        charts_seen += charts
        assert charts <= titles, f"page {number} has {charts} chart(s) but only {titles} chart title(s)"
    assert charts_seen >= 2  # the robustness curve and the trend across the three runs


def test_the_trend_line_of_the_profiles_threshold_is_called_a_threshold(organization, owner, document):
    from riskapp.compliance.models import Report

    report = Report.objects.get()
    html = "".join(str(item.get("trend", "")) for item in _charts_of(report))
    assert "threshold 0.30" in html and "baseline 0.30" not in html


def _charts_of(report):
    from riskapp.compliance.reports import _charts

    return _charts(report_data(report))
