"""Judging one check result against one mapping rule, and a control's status from its evidence (no database)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from riskapp.compliance.catalog_schema import (
    BOUNDS,
    NONE_MEANS,
    NONE_NEEDS_ATTEMPTS,
    PASSES_WHEN_NONE,
    PERFORMED,
    STATUS_ONLY,
    THRESHOLD,
)

PASS = "pass"
FAIL = "fail"
NO_VERDICT = "no_verdict"  # the metric could not be judged: not reported, not measurable, run unreliable
RECORDED = "recorded"  # measured, but the profile sets no criterion for it: context, neither pass nor fail

COMPLIANT = "compliant"
NON_COMPLIANT = "non_compliant"
PARTIAL = "partial"
NOT_ASSESSED = "not_assessed"
STALE = "stale"
NEEDS_MANUAL = "manual"

# Check results that say something about the model; skipped and errored checks are not evidence.
COMPLETED_CHECK_STATUSES = ("passed", "failed")


def canonical_json(value) -> str:
    """Sorted keys, no whitespace, ASCII only, floats as repr; NaN/Infinity refused (the engine maps them to null)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RuleOutcome:
    rule_id: str
    kind: str
    style: str
    outcome: str  # pass | fail | no_verdict
    reason: str
    metric: str | None = None
    value: float | None = None
    minimum: float | None = None
    maximum: float | None = None

    def as_dict(self) -> dict:
        return {
            "rule": self.rule_id, "check": self.kind, "style": self.style, "outcome": self.outcome,
            "reason": self.reason, "metric": self.metric, "value": self.value,
            "min": self.minimum, "max": self.maximum,
        }


def _number(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return value
    return None


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _resolve(bound, metric: str, key: str, thresholds: dict):
    if bound == THRESHOLD:
        value = (thresholds or {}).get(metric, {}).get(key)
        return _number(value)
    return bound


def judge(*, rule_id: str, style: str, metric: str | None, minimum, maximum, kind: str, status: str,
          metrics: dict, thresholds: dict, unreliable: bool = False) -> RuleOutcome:
    """How one completed check result fares against one mapping rule."""
    if style == PERFORMED:
        return RuleOutcome(rule_id, kind, style, PASS, f"{kind} was carried out and recorded (check {status}).")
    if style == STATUS_ONLY:
        if status == "failed":
            return RuleOutcome(rule_id, kind, style, FAIL, f"{kind} did not meet the profile's thresholds.")
        if unreliable:
            return RuleOutcome(rule_id, kind, style, NO_VERDICT,
                               f"{kind} passed, but the run's evaluation was marked unreliable by the sanity checks.")
        return RuleOutcome(rule_id, kind, style, PASS, f"{kind} met the profile's thresholds.")
    if style != BOUNDS:
        raise ValueError(f"unknown rule style {style!r}")

    low = _resolve(minimum, metric, "min", thresholds)
    high = _resolve(maximum, metric, "max", thresholds)
    base = dict(metric=metric, minimum=low, maximum=high)
    if metric not in metrics:
        return RuleOutcome(rule_id, kind, style, NO_VERDICT, f"{kind} did not report {metric}.", **base)
    raw = metrics[metric]
    value = _number(raw)
    if value is None:
        meaning = NONE_MEANS.get((kind, metric))
        attempts_metric = NONE_NEEDS_ATTEMPTS.get((kind, metric))
        attempted = attempts_metric is None or (_number(metrics.get(attempts_metric)) or 0) > 0
        if meaning == PASSES_WHEN_NONE and attempted and raw is None:
            if unreliable:
                return RuleOutcome(rule_id, kind, style, NO_VERDICT,
                                   f"{metric} was never reached, but the evaluation was marked unreliable.", **base)
            return RuleOutcome(rule_id, kind, style, PASS,
                               f"{metric} was never reached within what was tested, which meets the bound.", **base)
        return RuleOutcome(rule_id, kind, style, NO_VERDICT, f"{metric} was not measurable in this run.", **base)
    base["value"] = value
    if minimum == THRESHOLD and low is None or maximum == THRESHOLD and high is None:
        return RuleOutcome(rule_id, kind, style, RECORDED,
                           f"{metric} = {_fmt(value)} recorded; the profile sets no threshold for it.", **base)
    if low is not None and value < low:
        return RuleOutcome(rule_id, kind, style, FAIL, f"{metric} = {_fmt(value)} is below {_fmt(low)}.", **base)
    if high is not None and value > high:
        return RuleOutcome(rule_id, kind, style, FAIL, f"{metric} = {_fmt(value)} is above {_fmt(high)}.", **base)
    bounds = " and ".join(text for text in (
        f"≥ {_fmt(low)}" if low is not None else "", f"≤ {_fmt(high)}" if high is not None else "") if text)
    if unreliable:
        return RuleOutcome(rule_id, kind, style, NO_VERDICT,
                           f"{metric} = {_fmt(value)} meets {bounds}, but the evaluation was marked unreliable.",
                           **base)
    return RuleOutcome(rule_id, kind, style, PASS, f"{metric} = {_fmt(value)} meets {bounds}.", **base)


def record_verdict(outcomes: list[RuleOutcome]) -> str:
    """A record's verdict: any failed rule fails the control; a rule that could not be judged, or no criterion
    at all, leaves it partial; otherwise every criterion the profile set was met and it is compliant."""
    if any(o.outcome == FAIL for o in outcomes):
        return NON_COMPLIANT
    if any(o.outcome == NO_VERDICT for o in outcomes):
        return PARTIAL
    if any(o.outcome == PASS for o in outcomes):
        return COMPLIANT
    return PARTIAL


@dataclass(frozen=True)
class StatusReason:
    status: str
    reason: str


def derive_status(*, automated_evidence: str, automated_possible: bool, newest_verdict: str | None,
                  newest_measured_at: datetime | None, manual_expires_on: date | None, now: datetime,
                  freshness_days: int) -> StatusReason:
    """A control's status for one asset, from its newest automated evidence and newest manual evidence."""
    manual_valid = manual_expires_on is not None and manual_expires_on >= now.date()
    if not automated_possible:
        if manual_valid:
            return StatusReason(COMPLIANT, f"manual evidence valid until {manual_expires_on:%Y-%m-%d}")
        if manual_expires_on is not None:
            return StatusReason(STALE, f"manual evidence expired on {manual_expires_on:%Y-%m-%d}")
        return StatusReason(NEEDS_MANUAL, "no automated test can evidence this control; attach manual evidence")
    if newest_verdict is None:
        if manual_valid:
            return StatusReason(PARTIAL, "manual evidence only; no assessment has evidenced it yet")
        return StatusReason(NOT_ASSESSED, "no assessment has produced evidence for it yet")
    if newest_measured_at < now - timedelta(days=freshness_days):
        return StatusReason(STALE, f"newest evidence from {newest_measured_at:%Y-%m-%d} is older than "
                                   f"{freshness_days} days")
    if newest_verdict == COMPLIANT and automated_evidence == "partly" and not manual_valid:
        return StatusReason(PARTIAL, "tests cover part of this control; the rest needs manual evidence")
    reasons = {COMPLIANT: "newest evidence meets every mapped rule",
               NON_COMPLIANT: "newest evidence fails a mapped rule",
               PARTIAL: "newest evidence gives no verdict on some mapped rules"}
    return StatusReason(newest_verdict, reasons.get(newest_verdict, ""))
