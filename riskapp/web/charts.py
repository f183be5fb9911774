"""Server-rendered inline SVG charts (robustness curves, metric trends, bars), shared by pages and the PDF report.

Pure functions: data in, an SVG string out (marked safe; every piece of text in it is escaped). No JavaScript,
so the same markup renders in a browser and in WeasyPrint.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from html import escape
from itertools import count

from django.utils.safestring import SafeString, mark_safe

# Okabe–Ito: distinguishable with the common colour-vision deficiencies; series also differ in dash pattern.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F3C8D", "#5B6578"]
DASHES = ["", "6 3", "2 3", "8 3 2 3", "4 4", "1 2"]
EMPHASIS_COLOUR = "#172033"
GRID = "#e1e6ef"
AXIS = "#5b6578"
TEXT = "#172033"
GOOD = "#137a43"
BAD = "#b42318"
BAND = "#e5f5ec"
FONT = "Inter, 'Segoe UI', Helvetica, Arial, sans-serif"

_ids = count(1)


def _chart_id(prefix: str) -> str:
    # Unique per rendered chart so several charts on one page keep their <title>/<desc> references apart.
    return f"{prefix}-{next(_ids)}"


def _fmt(value: float) -> str:
    """Compact number text for ticks and descriptions."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    text = f"{value:.3g}"
    return text


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5, 5 × 10^k steps)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw_step = (high - low) / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high - step * 1e-9:
        ticks.append(round(value, 12))
    return ticks


def _svg_open(chart_id: str, width: int, height: int, title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'font-family="{escape(FONT)}" font-size="12">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def _empty_chart(chart_id: str, width: int, height: int, title: str, message: str) -> SafeString:
    parts = _svg_open(chart_id, width, height, title or "Chart", message)
    parts.append(f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" fill="{AXIS}">'
                 f'{escape(message)}</text></svg>')
    return mark_safe("".join(parts))


class _Frame:
    """Plot area inside the SVG and the linear maps from data to pixels."""

    def __init__(self, width, height, left, right, top, bottom, x_range, y_range):
        self.left, self.top = left, top
        self.plot_w = max(width - left - right, 10)
        self.plot_h = max(height - top - bottom, 10)
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range

    def x(self, value: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return self.left + (value - self.x0) / span * self.plot_w

    def y(self, value: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return self.top + self.plot_h - (value - self.y0) / span * self.plot_h

    @property
    def bottom_y(self) -> float:
        return self.top + self.plot_h

    @property
    def right_x(self) -> float:
        return self.left + self.plot_w


def _axes(frame: _Frame, x_ticks, y_ticks, *, x_label: str, y_label: str, x_tick_text=None,
          y_tick_format=_fmt) -> list[str]:
    parts = []
    for tick in y_ticks:
        y = frame.y(tick)
        parts.append(f'<line x1="{frame.left:.1f}" y1="{y:.1f}" x2="{frame.right_x:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{frame.left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}">'
                     f'{escape(y_tick_format(tick))}</text>')
    for index, tick in enumerate(x_ticks):
        x = frame.x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{frame.top:.1f}" x2="{x:.1f}" y2="{frame.bottom_y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        label = x_tick_text[index] if x_tick_text else _fmt(tick)
        parts.append(f'<text x="{x:.1f}" y="{frame.bottom_y + 16:.1f}" text-anchor="middle" fill="{AXIS}">'
                     f'{escape(label)}</text>')
    parts.append(f'<line x1="{frame.left:.1f}" y1="{frame.bottom_y:.1f}" x2="{frame.right_x:.1f}" '
                 f'y2="{frame.bottom_y:.1f}" stroke="{AXIS}" stroke-width="1"/>')
    parts.append(f'<line x1="{frame.left:.1f}" y1="{frame.top:.1f}" x2="{frame.left:.1f}" '
                 f'y2="{frame.bottom_y:.1f}" stroke="{AXIS}" stroke-width="1"/>')
    if x_label:
        parts.append(f'<text x="{frame.left + frame.plot_w / 2:.1f}" y="{frame.bottom_y + 34:.1f}" '
                     f'text-anchor="middle" fill="{TEXT}">{escape(x_label)}</text>')
    if y_label:
        cy = frame.top + frame.plot_h / 2
        parts.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" fill="{TEXT}" '
                     f'transform="rotate(-90 14 {cy:.1f})">{escape(y_label)}</text>')
    return parts


def _legend(entries: list[tuple[str, str, str, float]], *, x: float, y: float, width: float) -> tuple[list[str], float]:
    """Legend rows (label, colour, dash, stroke width) wrapped to `width`; returns the parts and the height used."""
    parts, cursor_x, cursor_y, row_h = [], x, y, 18
    for label, colour, dash, stroke in entries:
        item_w = 30 + 7 * len(label)
        if cursor_x + item_w > x + width and cursor_x > x:
            cursor_x, cursor_y = x, cursor_y + row_h
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<line x1="{cursor_x:.1f}" y1="{cursor_y:.1f}" x2="{cursor_x + 22:.1f}" y2="{cursor_y:.1f}" '
                     f'stroke="{colour}" stroke-width="{stroke}"{dash_attr}/>')
        parts.append(f'<text x="{cursor_x + 27:.1f}" y="{cursor_y + 4:.1f}" fill="{TEXT}">{escape(label)}</text>')
        cursor_x += item_w
    return parts, (cursor_y - y) + row_h if entries else 0


def robustness_curve_svg(series: list[dict], *, title: str = "", width: int = 640, height: int = 320,
                         x_label: str = "ε (largest change allowed per input value)",
                         y_label: str = "Accuracy") -> SafeString:
    """Accuracy vs ε per attack: series = [{"label": "PGD", "points": [(eps, acc), ...], "emphasis": bool}]."""
    chart_id = _chart_id("robustness")
    title = title or "Robustness curve: accuracy under attack as ε grows"
    usable = [s for s in series if s.get("points")]
    if not usable:
        return _empty_chart(chart_id, width, height, title, "No robustness measurements to plot.")
    all_eps = [float(e) for s in usable for e, _ in s["points"]]
    x_ticks = nice_ticks(0.0, max(all_eps) or 1.0)
    y_ticks = [0.0, 0.25, 0.5, 0.75, 1.0]

    entries = []
    colours = iter(PALETTE)
    dashes = iter(DASHES * 4)
    for s in usable:
        if s.get("emphasis"):
            entries.append((str(s["label"]), EMPHASIS_COLOUR, "", 3.0))
        else:
            entries.append((str(s["label"]), next(colours, PALETTE[-1]), next(dashes), 2.0))
    _, legend_h = _legend(entries, x=56, y=0, width=width - 72)
    frame = _Frame(width, height, left=56, right=16, top=16, bottom=44 + legend_h + 6,
                   x_range=(x_ticks[0], x_ticks[-1]), y_range=(0.0, 1.0))

    lines = [f"{s['label']}: " + ", ".join(f"ε={_fmt(e)} accuracy {a:.2f}" for e, a in s["points"]) for s in usable]
    parts = _svg_open(chart_id, width, height, title, "; ".join(lines) + ".")
    parts += _axes(frame, x_ticks, y_ticks, x_label=x_label, y_label=y_label,
                   y_tick_format=lambda v: f"{v:.0%}")
    # The worst case equals the strongest attack wherever that attack wins, so its line would hide the attack's:
    # draw emphasised series first, wide and translucent, and every attack's own line on top of it.
    drawing_order = sorted(zip(usable, entries), key=lambda pair: not pair[0].get("emphasis"))
    for s, (label, colour, dash, stroke) in drawing_order:
        points = sorted((float(e), max(0.0, min(1.0, float(a)))) for e, a in s["points"])
        path = " ".join(f"{frame.x(e):.1f},{frame.y(a):.1f}" for e, a in points)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        under = ' stroke-opacity="0.35" stroke-linecap="round"' if s.get("emphasis") else ""
        width_drawn = stroke * 2.5 if s.get("emphasis") else stroke
        parts.append(f'<g class="series"><title>{escape(label)}</title>'
                     f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="{width_drawn}" '
                     f'stroke-linejoin="round"{dash_attr}{under}/>')
        for e, a in points:
            parts.append(f'<circle cx="{frame.x(e):.1f}" cy="{frame.y(a):.1f}" r="{stroke + 0.5:.1f}" '
                         f'fill="{colour}"><title>{escape(f"{label}: ε={_fmt(e)}, accuracy {a:.1%}")}</title>'
                         f'</circle>')
        parts.append("</g>")
    legend, _ = _legend(entries, x=frame.left, y=frame.bottom_y + 50, width=frame.plot_w)
    parts += legend
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _x_positions(labels: list) -> tuple[list[float], list[str]]:
    """Positions for trend points: proportional to time when every label is a date/datetime, else evenly spaced."""
    if labels and all(isinstance(label, (datetime, date)) for label in labels):
        stamps = [label.timestamp() if isinstance(label, datetime)
                  else datetime(label.year, label.month, label.day).timestamp() for label in labels]
        text = [label.strftime("%Y-%m-%d") for label in labels]
        return stamps, text
    return [float(i) for i in range(len(labels))], [str(label) for label in labels]


def trend_svg(points: list[tuple], *, baseline: float | None = None, tolerance: float | None = None,
              higher_is_better: bool = True, title: str = "", width: int = 640, height: int = 240,
              y_label: str = "", value_format: str = "{:.2f}", y_min: float | None = None,
              y_max: float | None = None, baseline_label: str = "baseline") -> SafeString:
    """A metric over time: points = [(datetime or label, value)], with a reference line and tolerance band.

    The reference line is a baseline run's value by default; `baseline_label` names it otherwise (e.g. "threshold"
    when it is a profile's pass mark). A point worse than it by more than the tolerance is drawn in red (the
    direction follows higher_is_better).
    """
    chart_id = _chart_id("trend")
    title = title or "Trend"
    usable = [(label, float(value)) for label, value in points if value is not None and math.isfinite(float(value))]
    if not usable:
        return _empty_chart(chart_id, width, height, title, "No measurements yet.")
    xs, x_text = _x_positions([label for label, _ in usable])
    values = [value for _, value in usable]
    bounds = list(values)
    if baseline is not None:
        bounds.append(baseline)
        if tolerance is not None:
            bounds += [baseline - tolerance, baseline + tolerance]
    low = min(bounds) if y_min is None else y_min
    high = max(bounds) if y_max is None else y_max
    if high == low:
        pad = abs(high) * 0.1 or 0.1
        low, high = low - pad, high + pad
    y_ticks = nice_ticks(low, high, target=4)
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    # Date labels are centred on their point: leave half a label's width on the right so the last one fits.
    right = 40 if any(len(text) >= 8 for text in x_text) else 16
    frame = _Frame(width, height, left=56, right=right, top=16, bottom=44,
                   x_range=(x_lo, x_hi), y_range=(y_ticks[0], y_ticks[-1]))

    def breached(value: float) -> bool:
        if baseline is None or tolerance is None:
            return False
        return value < baseline - tolerance if higher_is_better else value > baseline + tolerance

    description = [", ".join(f"{text}: {value_format.format(value)}" for text, value in zip(x_text, values))]
    if baseline is not None:
        description.append(f"{baseline_label} {value_format.format(baseline)}"
                           + (f" ± {value_format.format(tolerance)}" if tolerance is not None else ""))
    worse = [text for text, value in zip(x_text, values) if breached(value)]
    if worse:
        description.append("worse than the baseline beyond tolerance at " + ", ".join(worse))
    parts = _svg_open(chart_id, width, height, title, "; ".join(description) + ".")

    if baseline is not None and tolerance is not None:
        top_y = frame.y(min(baseline + tolerance, y_ticks[-1]))
        bottom_y = frame.y(max(baseline - tolerance, y_ticks[0]))
        parts.append(f'<rect class="tolerance" x="{frame.left:.1f}" y="{top_y:.1f}" width="{frame.plot_w:.1f}" '
                     f'height="{max(bottom_y - top_y, 0):.1f}" fill="{BAND}"><title>'
                     f'{escape("Tolerance band: baseline ± " + value_format.format(tolerance))}</title></rect>')
    # At most ~8 x labels so dates never overlap.
    step = max(1, math.ceil(len(xs) / 8))
    shown = list(range(0, len(xs), step))
    parts += _axes(frame, [xs[i] for i in shown], y_ticks, x_label="", y_label=y_label,
                   x_tick_text=[x_text[i] for i in shown])
    if baseline is not None:
        by = frame.y(baseline)
        parts.append(f'<line class="baseline" x1="{frame.left:.1f}" y1="{by:.1f}" x2="{frame.right_x:.1f}" '
                     f'y2="{by:.1f}" stroke="{GOOD}" stroke-width="1.5" stroke-dasharray="6 3"/>')
        parts.append(f'<text x="{frame.right_x - 4:.1f}" y="{by - 5:.1f}" text-anchor="end" fill="{GOOD}">'
                     f'{escape(baseline_label + " " + value_format.format(baseline))}</text>')
    path = " ".join(f"{frame.x(x):.1f},{frame.y(v):.1f}" for x, v in zip(xs, values))
    parts.append(f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2" '
                 f'stroke-linejoin="round"/>')
    for x, value, text in zip(xs, values, x_text):
        colour = BAD if breached(value) else PALETTE[0]
        radius = 4.5 if breached(value) else 3.5
        parts.append(f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(value):.1f}" r="{radius}" fill="{colour}">'
                     f'<title>{escape(f"{text}: {value_format.format(value)}")}</title></circle>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def bar_svg(bars: list[tuple], *, title: str = "", width: int = 640, bar_height: int = 22,
            max_value: float | None = None, value_format: str = "{:.2f}") -> SafeString:
    """Horizontal bars: bars = [(label, value)] or [(label, value, colour)]; e.g. controls by status."""
    chart_id = _chart_id("bars")
    title = title or "Bar chart"
    usable = [bar for bar in bars if bar[1] is not None]
    if not usable:
        return _empty_chart(chart_id, width, 80, title, "Nothing to show.")
    label_w = min(260, 12 + 7 * max(len(str(bar[0])) for bar in usable))
    height = 16 + len(usable) * (bar_height + 8) + 8
    top_value = max_value if max_value is not None else max(float(bar[1]) for bar in usable) or 1.0
    plot_w = width - label_w - 70
    description = ", ".join(f"{bar[0]}: {value_format.format(float(bar[1]))}" for bar in usable)
    parts = _svg_open(chart_id, width, height, title, description + ".")
    for index, bar in enumerate(usable):
        label, value = str(bar[0]), float(bar[1])
        colour = bar[2] if len(bar) > 2 and bar[2] else PALETTE[index % len(PALETTE)]
        y = 16 + index * (bar_height + 8)
        length = max(0.0, min(value / top_value, 1.0)) * plot_w if top_value else 0.0
        parts.append(f'<text x="{label_w - 8}" y="{y + bar_height / 2 + 4:.1f}" text-anchor="end" fill="{TEXT}">'
                     f'{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_height}" fill="{GRID}" rx="3"/>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_height}" '
                     f'fill="{escape(colour)}" rx="3"><title>{escape(f"{label}: {value_format.format(value)}")}'
                     f'</title></rect>')
        parts.append(f'<text x="{label_w + plot_w + 6}" y="{y + bar_height / 2 + 4:.1f}" fill="{TEXT}">'
                     f'{escape(value_format.format(value))}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def posture_over_time_svg(series: list[dict], *, title: str = "", width: int = 640, height: int = 260,
                          y_label: str = "Controls compliant") -> SafeString:
    """Share of controls compliant over time, one line per framework.

    series = [{"label": "ISO/IEC 42001", "points": [(datetime, share 0–1), ...]}]; x is proportional to time.
    """
    chart_id = _chart_id("posture")
    title = title or "Control posture over time"
    usable = [s for s in series if s.get("points")]
    if not usable:
        return _empty_chart(chart_id, width, height, title, "No evidence recorded yet.")
    stamps = sorted({label for s in usable for label, _ in s["points"]})
    xs, x_text = _x_positions(stamps)
    if all(isinstance(stamp, datetime) for stamp in stamps):
        # Within two days the dates alone would repeat: show times then.
        short = (stamps[-1] - stamps[0]).total_seconds() < 2 * 86400
        x_text = [stamp.strftime("%H:%M" if short else "%d %b") for stamp in stamps]
    position = dict(zip(stamps, xs))
    text_at = dict(zip(stamps, x_text))
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 3600, x_hi + 3600
    entries = [(str(s["label"]), PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)], 2.0)
               for i, s in enumerate(usable)]
    _, legend_h = _legend(entries, x=56, y=0, width=width - 72)
    # Scaled to the highest share (a young organization sits near 0%, where a 0–100% axis shows flat lines).
    highest = max(float(share) for s in usable for _, share in s["points"])
    y_ticks = [tick for tick in nice_ticks(0.0, min(1.0, max(highest * 1.15, 0.1)), target=4) if tick <= 1.0]
    frame = _Frame(width, height, left=56, right=16, top=16, bottom=30 + legend_h + 6,
                   x_range=(x_lo, x_hi), y_range=(0.0, y_ticks[-1]))
    description = "; ".join(f"{s['label']}: " + ", ".join(f"{text_at[when]} {share:.0%}" for when, share in s["points"])
                            for s in usable)
    parts = _svg_open(chart_id, width, height, title, description + ".")
    # Labels at least ~48 px apart (the newest always shown), so close evidence times never overprint.
    shown: list[int] = []
    for index in reversed(range(len(stamps))):
        if not shown or frame.x(xs[shown[-1]]) - frame.x(xs[index]) >= 48:
            shown.append(index)
    shown.reverse()
    parts += _axes(frame, [xs[i] for i in shown], y_ticks, x_label="", y_label=y_label,
                   x_tick_text=[x_text[i] for i in shown], y_tick_format=lambda v: f"{v:.0%}")
    for s, (label, colour, dash, stroke) in zip(usable, entries):
        points = sorted((position[when], max(0.0, min(y_ticks[-1], float(share)))) for when, share in s["points"])
        path = " ".join(f"{frame.x(x):.1f},{frame.y(v):.1f}" for x, v in points)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<g class="series"><title>{escape(label)}</title>'
                     f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="{stroke}" '
                     f'stroke-linejoin="round"{dash_attr}/>')
        for (when, share), (x, v) in zip(sorted(s["points"]), points):
            parts.append(f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(v):.1f}" r="3" fill="{colour}">'
                         f'<title>{escape(f"{label}: {share:.1%} of controls compliant")}</title></circle>')
        parts.append("</g>")
    legend, _ = _legend(entries, x=frame.left, y=frame.bottom_y + 30, width=frame.plot_w)
    parts += legend
    parts.append("</svg>")
    return mark_safe("".join(parts))
