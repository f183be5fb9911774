"""Template filters that print measured values the same way on every assessments page."""

from __future__ import annotations

import json

from django import template

register = template.Library()


@register.filter
def metric(value) -> str:
    """A metric value for people: booleans as yes/no, fractions to 3 significant digits, None as "—"."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


@register.filter
def bound(threshold: dict) -> str:
    """A threshold {"min": x} / {"max": y} as "≥ x" / "≤ y"."""
    if not threshold:
        return ""
    parts = []
    if "min" in threshold:
        parts.append(f"≥ {metric(threshold['min'])}")
    if "max" in threshold:
        parts.append(f"≤ {metric(threshold['max'])}")
    return " and ".join(parts)


@register.filter
def percent(value) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—"
    return f"{value:.1%}"


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def humanize_metric(name: str) -> str:
    return str(name).replace("_", " ")


@register.filter
def run_duration(run) -> str:
    """How long a run took (or has been running), in seconds or minutes: runs often take under a minute."""
    from django.utils import timezone

    if not run.started_at:
        return "—"
    seconds = ((run.finished_at or timezone.now()) - run.started_at).total_seconds()
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
