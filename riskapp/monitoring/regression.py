"""Metric-by-metric comparison of a run's check results with its baseline's, against regression tolerances.

Pure functions over the engine's metrics JSON (CheckResult.metrics); no database access here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# Tolerance names a Profile.tolerances may override, with the defaults from the monitoring design.
DEFAULT_TOLERANCES: dict[str, float] = {
    "robust_accuracy": 0.05,  # absolute drop, at any ε of the grid, per attack curve or worst case
    "breaking_epsilon": 0.20,  # relative drop of the smallest ε that halves accuracy
    "membership_auc": 0.05,  # absolute rise of the strongest membership-inference AUC
    "extraction_agreement": 0.05,  # absolute rise of a thief's agreement at the same budget
    "backdoor_success": 0.10,  # absolute rise of the backdoor's attack success rate
}
RELATIVE_TOLERANCES = {"breaking_epsilon"}


@dataclass(frozen=True)
class MetricDiff:
    check: str
    key: str  # stable identity of the compared number, e.g. "evasion.whitebox:pgd:robust_accuracy@0.1"
    metric: str  # human label
    tolerance_name: str
    baseline: float | None
    current: float | None
    delta: float | None
    tolerance: float
    tolerance_kind: str  # "absolute" | "relative"
    worse_when: str  # "lower" | "higher"
    regressed: bool
    excess: float  # how many tolerances past the line (0 when not regressed); drives severity

    def to_dict(self) -> dict:
        return asdict(self)


def tolerances_for(overrides: dict | None) -> dict[str, float]:
    """Defaults overridden by a profile's tolerances; unknown names and non-numbers are ignored."""
    merged = dict(DEFAULT_TOLERANCES)
    for name, value in (overrides or {}).items():
        if name in merged and isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            merged[name] = float(value)
    return merged


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _absolute(check: str, key: str, metric: str, name: str, baseline, current, tolerance: float,
              worse_when: str) -> MetricDiff | None:
    baseline, current = _number(baseline), _number(current)
    if baseline is None or current is None:
        return None
    delta = current - baseline
    worsening = -delta if worse_when == "lower" else delta
    # A tiny epsilon keeps a drop of exactly the tolerance (0.05 in binary floating point) from counting.
    regressed = worsening > tolerance + 1e-9
    excess = worsening / tolerance if regressed and tolerance > 0 else (math.inf if regressed else 0.0)
    return MetricDiff(check, key, metric, name, baseline, current, delta, tolerance, "absolute", worse_when,
                      regressed, excess)


def _breaking_epsilon(check: str, key: str, metric: str, baseline, current, tolerance: float,
                      largest_epsilon: float | None) -> MetricDiff | None:
    baseline, current = _number(baseline), _number(current)
    if current is None:
        return None  # accuracy never halved within the grid: no weaker than any baseline
    if baseline is None:
        # The baseline never halved within the grid, so its breaking ε exceeds the largest ε tried;
        # that largest ε is a lower bound, which is enough to call a large enough fall a regression.
        if largest_epsilon is None:
            return None
        bound = largest_epsilon
        relative = (bound - current) / bound if bound > 0 else 0.0
        regressed = relative > tolerance + 1e-9
        return MetricDiff(check, key, metric + " (baseline: not reached within the grid)", "breaking_epsilon",
                          None, current, None, tolerance, "relative", "lower", regressed,
                          relative / tolerance if regressed and tolerance > 0 else 0.0)
    if baseline <= 0:
        return None
    relative = (baseline - current) / baseline
    regressed = relative > tolerance + 1e-9
    return MetricDiff(check, key, metric, "breaking_epsilon", baseline, current, current - baseline, tolerance,
                      "relative", "lower", regressed, relative / tolerance if regressed and tolerance > 0 else 0.0)


def _curve_points(metrics: dict) -> dict[tuple[str, float], float]:
    """(curve, ε fraction) -> robust accuracy for every attack curve and the worst-case curves."""
    points: dict[tuple[str, float], float] = {}
    for curve, entry in (metrics.get("attacks") or {}).items():
        if not isinstance(entry, dict):
            continue
        for point in entry.get("points") or []:
            fraction = _number(point.get("epsilon_fraction"))
            accuracy = _number(point.get("robust_accuracy"))
            if fraction is not None and accuracy is not None:
                points[(curve, round(fraction, 10))] = accuracy
    return points


def _largest_epsilon(metrics: dict, curve: str) -> float | None:
    points = ((metrics.get("attacks") or {}).get(curve) or {}).get("points") or []
    values = [_number(p.get("epsilon")) for p in points]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def compare_whitebox(baseline: dict, current: dict, tol: dict[str, float]) -> list[MetricDiff]:
    check = "evasion.whitebox"
    rows: list[MetricDiff] = []
    base_points, current_points = _curve_points(baseline), _curve_points(current)
    for (curve, fraction) in sorted(current_points, key=lambda k: (not k[0].startswith("worst_case"), k)):
        if (curve, fraction) not in base_points:
            continue  # a changed grid: only the same ε of the same curve is comparable
        label = f"robust accuracy, {curve.replace('_', ' ')} at ε={fraction:g}"
        row = _absolute(check, f"{check}:{curve}:robust_accuracy@{fraction:g}", label, "robust_accuracy",
                        base_points[(curve, fraction)], current_points[(curve, fraction)],
                        tol["robust_accuracy"], "lower")
        if row:
            rows.append(row)
    for suffix, norm in (("", "L∞"), ("_l2", "L2")):
        name = f"breaking_epsilon{suffix}"
        if name not in current or name not in baseline:
            continue
        row = _breaking_epsilon(check, f"{check}:{name}", f"breaking ε ({norm})", baseline.get(name),
                                current.get(name), tol["breaking_epsilon"],
                                _largest_epsilon(baseline, f"worst_case{suffix}"))
        if row:
            rows.append(row)
    return rows


def compare_blackbox(baseline: dict, current: dict, tol: dict[str, float]) -> list[MetricDiff]:
    check = "evasion.blackbox"
    eps_b, eps_c = _number(baseline.get("epsilon")), _number(current.get("epsilon"))
    if eps_b is None or eps_c is None or not math.isclose(eps_b, eps_c, rel_tol=1e-9, abs_tol=1e-12):
        return []
    row = _absolute(check, f"{check}:robust_accuracy@{eps_c:g}", f"black-box robust accuracy at ε={eps_c:g}",
                    "robust_accuracy", baseline.get("robust_accuracy"), current.get("robust_accuracy"),
                    tol["robust_accuracy"], "lower")
    return [row] if row else []


def compare_membership(baseline: dict, current: dict, tol: dict[str, float]) -> list[MetricDiff]:
    check = "inference.membership"
    row = _absolute(check, f"{check}:auc", "membership-inference AUC (strongest attack)", "membership_auc",
                    baseline.get("auc"), current.get("auc"), tol["membership_auc"], "higher")
    return [row] if row else []


def compare_extraction(baseline: dict, current: dict, tol: dict[str, float]) -> list[MetricDiff]:
    check = "extraction"

    def by_budget(metrics: dict) -> dict[tuple, float]:
        table = {}
        for row in metrics.get("results") or []:
            agreement = _number(row.get("agreement"))
            if agreement is not None:
                table[(str(row.get("output")), str(row.get("attack")), int(row.get("budget") or 0))] = agreement
        return table

    base, cur = by_budget(baseline), by_budget(current)
    rows = []
    for output, attack, budget in sorted(cur):
        if (output, attack, budget) not in base:
            continue
        row = _absolute(check, f"{check}:{attack}:{output}:agreement@{budget}",
                        f"extraction agreement, {attack} on {output.replace('_', ' ')} output, {budget} queries",
                        "extraction_agreement", base[(output, attack, budget)], cur[(output, attack, budget)],
                        tol["extraction_agreement"], "higher")
        if row:
            rows.append(row)
    return rows


def compare_backdoor(baseline: dict, current: dict, tol: dict[str, float]) -> list[MetricDiff]:
    check = "poisoning.backdoor"
    row = _absolute(check, f"{check}:attack_success_rate", "backdoor attack success rate", "backdoor_success",
                    baseline.get("attack_success_rate"), current.get("attack_success_rate"),
                    tol["backdoor_success"], "higher")
    return [row] if row else []


COMPARATORS = {
    "evasion.whitebox": compare_whitebox,
    "evasion.blackbox": compare_blackbox,
    "inference.membership": compare_membership,
    "extraction": compare_extraction,
    "poisoning.backdoor": compare_backdoor,
}


def compare_checks(baseline: dict[str, dict], current: dict[str, dict], tolerances: dict | None = None) -> list[MetricDiff]:
    """Compare {check kind: metrics} of two runs; only checks both runs measured are compared."""
    tol = tolerances_for(tolerances)
    rows: list[MetricDiff] = []
    for kind, comparator in COMPARATORS.items():
        if kind in baseline and kind in current:
            rows.extend(comparator(baseline[kind] or {}, current[kind] or {}, tol))
    return rows
