"""Template filters for the dashboard: shares of a total and percentages shown the same way on every page."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def share(count, total) -> float:
    """count / total as a percentage number (0–100) for widths; 0 when there is nothing to share."""
    try:
        return round(100.0 * float(count) / float(total), 2) if total else 0.0
    except (TypeError, ValueError):
        return 0.0


@register.filter
def pct(value) -> str:
    """A 0–1 fraction as '48%' (one decimal below 10%); an em dash when there is no number."""
    if value is None or isinstance(value, bool):
        return "—"
    try:
        number = 100.0 * float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{number:.1f}%" if 0 < abs(number) < 10 else f"{number:.0f}%"


# Names people use for the frameworks in conversation; the catalog's full names are long for tables.
FRAMEWORK_SHORT_NAMES = {
    "iso-42001": "ISO/IEC 42001",
    "nist-ai-rmf": "NIST AI RMF",
    "eu-ai-act": "EU AI Act",
    "mitre-atlas": "MITRE ATLAS",
    "owasp-ml-top10": "OWASP ML Top 10",
}


@register.filter
def framework_short(framework) -> str:
    return FRAMEWORK_SHORT_NAMES.get(getattr(framework, "slug", ""), getattr(framework, "name", str(framework)))
