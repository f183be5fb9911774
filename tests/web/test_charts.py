"""The shared SVG charts: well-formed, accessible, escaped, and drawing what they are given."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest

from riskapp.web.charts import BAD, PALETTE, bar_svg, nice_ticks, robustness_curve_svg, trend_svg

SVG = "{http://www.w3.org/2000/svg}"

SERIES = [
    {"label": "FGSM (L∞)", "points": [(0.0, 0.98), (0.05, 0.8), (0.1, 0.6), (0.2, 0.3)]},
    {"label": "PGD (L∞)", "points": [(0.0, 0.98), (0.05, 0.7), (0.1, 0.45), (0.2, 0.05)]},
    {"label": "Worst case (L∞)", "points": [(0.0, 0.98), (0.05, 0.7), (0.1, 0.45), (0.2, 0.05)], "emphasis": True},
]


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on malformed markup or unescaped text


def test_robustness_curve_is_valid_svg_with_a_title_and_a_description_of_every_point():
    root = _parse(robustness_curve_svg(SERIES, title="Digits CNN v1"))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title.text == "Digits CNN v1"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "PGD (L∞): ε=0 accuracy 0.98, ε=0.05 accuracy 0.70, ε=0.1 accuracy 0.45, ε=0.2 accuracy 0.05" in desc.text


def test_robustness_curve_draws_one_line_per_attack_in_palette_colours_and_a_legend():
    root = _parse(robustness_curve_svg(SERIES))
    lines = root.findall(f".//{SVG}polyline")
    assert len(lines) == 3
    # The worst case is drawn first (underneath, wide and translucent), then each attack in palette colours.
    assert [line.get("stroke") for line in lines[1:]] == PALETTE[:2]
    assert float(lines[0].get("stroke-width")) > float(lines[1].get("stroke-width"))  # the worst case stands out
    assert len(root.findall(f".//{SVG}circle")) == 12
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"FGSM (L∞)", "PGD (L∞)", "Worst case (L∞)"} <= set(texts)
    assert {"0%", "50%", "100%"} <= set(texts)  # accuracy axis


def test_higher_accuracy_is_drawn_higher_and_larger_epsilon_further_right():
    root = _parse(robustness_curve_svg([SERIES[1]]))
    points = [tuple(map(float, p.split(","))) for p in root.find(f".//{SVG}polyline").get("points").split()]
    xs, ys = zip(*points)
    assert list(xs) == sorted(xs)
    assert list(ys) == sorted(ys)  # accuracy falls as ε grows, and SVG y grows downwards


def test_text_is_escaped():
    svg = robustness_curve_svg([{"label": "<script>alert(1)</script> & co", "points": [(0.1, 0.5)]}],
                               title='"quoted" <b>title</b>')
    assert "<script>" not in svg and "<b>" not in svg
    root = _parse(svg)
    assert root.find(f"{SVG}title").text == '"quoted" <b>title</b>'


def test_empty_series_render_a_message_not_an_error():
    root = _parse(robustness_curve_svg([]))
    assert "No robustness measurements" in "".join(root.itertext())
    assert "No measurements yet" in "".join(_parse(trend_svg([])).itertext())


def test_trend_draws_baseline_and_tolerance_band_and_marks_breaches():
    start = datetime(2026, 11, 1)
    points = [(start + timedelta(days=i), value) for i, value in enumerate([0.50, 0.52, 0.49, 0.38, 0.51])]
    root = _parse(trend_svg(points, baseline=0.5, tolerance=0.05, title="Robust accuracy"))
    assert root.find(f".//{SVG}line[@class='baseline']") is not None
    band = root.find(f".//{SVG}rect[@class='tolerance']")
    assert band is not None and float(band.get("height")) > 0
    circles = root.findall(f".//{SVG}circle")
    assert [c.get("fill") for c in circles] == [PALETTE[0], PALETTE[0], PALETTE[0], BAD, PALETTE[0]]
    assert "worse than the baseline beyond tolerance at 2026-11-04" in root.find(f"{SVG}desc").text


def test_trend_where_lower_is_better_marks_rises():
    root = _parse(trend_svg([("run 1", 0.55), ("run 2", 0.70)], baseline=0.55, tolerance=0.05,
                            higher_is_better=False))
    assert [c.get("fill") for c in root.findall(f".//{SVG}circle")] == [PALETTE[0], BAD]


def test_trend_spaces_dates_by_time():
    start = datetime(2026, 11, 1)
    root = _parse(trend_svg([(start, 1.0), (start + timedelta(days=1), 2.0), (start + timedelta(days=10), 3.0)]))
    xs = [float(c.get("cx")) for c in root.findall(f".//{SVG}circle")]
    assert xs[2] - xs[1] > 5 * (xs[1] - xs[0])


def test_bar_chart_lengths_are_proportional():
    root = _parse(bar_svg([("Compliant", 12, "#137a43"), ("Non-compliant", 3, "#b42318"), ("Not assessed", 6)],
                          title="Controls", value_format="{:.0f}"))
    filled = [r for r in root.findall(f".//{SVG}rect") if r.find(f"{SVG}title") is not None]
    widths = [float(r.get("width")) for r in filled]
    assert widths[0] == pytest.approx(4 * widths[1], abs=0.5) and widths[2] == pytest.approx(2 * widths[1], abs=0.5)
    assert filled[0].get("fill") == "#137a43"


def test_nice_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(0, 0.3) == [0.0, 0.1, 0.2, 0.3]
    assert nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = nice_ticks(0.37, 0.52, target=4)
    assert ticks[0] <= 0.37 and ticks[-1] >= 0.52


def test_every_chart_has_unique_ids_so_several_fit_on_one_page():
    first, second = robustness_curve_svg(SERIES), robustness_curve_svg(SERIES)
    ids = re.findall(r'<title id="([^"]+)"', first) + re.findall(r'<title id="([^"]+)"', second)
    assert len(set(ids)) == 2


def test_attack_lines_are_drawn_over_the_worst_case_line_they_coincide_with():
    points = [(0.0, 0.98), (0.05, 0.7), (0.1, 0.45)]
    svg = str(robustness_curve_svg([
        {"label": "FGSM", "points": [(0.0, 0.98), (0.05, 0.8), (0.1, 0.6)]},
        {"label": "PGD", "points": points},
        {"label": "Worst case", "points": points, "emphasis": True},
    ]))
    polylines = re.findall(r"<title>([^<]+)</title><polyline[^>]*>", svg)
    assert polylines == ["Worst case", "FGSM", "PGD"]  # the worst case underneath, every attack on top
    worst = re.search(r"<title>Worst case</title><polyline([^>]*)>", svg).group(1)
    assert 'stroke-opacity="0.35"' in worst
