"""Plain dataclasses and exceptions that the engine, its checks and its callers exchange."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from workers.engine.model import ModelHandle


class CheckSkipped(Exception):
    """A check cannot apply to this model or data; the message says why."""


class Cancelled(Exception):
    """The caller asked the suite to stop."""


class QueryBudgetExceeded(Exception):
    """A black-box model (endpoint) refused more predictions than its query budget allows."""


@dataclass
class SuiteData:
    x_eval: np.ndarray
    y_eval: np.ndarray
    x_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    x_holdout: np.ndarray | None = None
    y_holdout: np.ndarray | None = None
    eval_sha256: str | None = None
    train_sha256: str | None = None
    holdout_sha256: str | None = None
    registered_eval_sha256: str | None = None


@dataclass
class CheckSpec:
    kind: str
    params: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "params": dict(self.params), "thresholds": dict(self.thresholds)}

    @classmethod
    def from_dict(cls, raw: dict) -> CheckSpec:
        if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
            raise ValueError("a check needs a 'kind' string")
        params = raw.get("params") or {}
        thresholds = raw.get("thresholds") or {}
        if not isinstance(params, dict) or not isinstance(thresholds, dict):
            raise ValueError(f"check {raw['kind']!r}: 'params' and 'thresholds' must be objects")
        for metric, bound in thresholds.items():
            if not isinstance(bound, dict) or not bound or set(bound) - {"min", "max"}:
                raise ValueError(
                    f"check {raw['kind']!r}: threshold for {metric!r} "
                    "must be {'min': x} and/or {'max': x}"
                )
            for value in bound.values():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"check {raw['kind']!r}: threshold for {metric!r} must be a number")
        return cls(
            kind=raw["kind"], params=dict(params), thresholds={k: dict(v) for k, v in thresholds.items()}
        )


RISK_TIERS = ("minimal", "limited", "high")


@dataclass
class SuiteSpec:
    name: str
    checks: list[CheckSpec]
    risk_tier: str = "limited"

    def to_dict(self) -> dict:
        return {"name": self.name, "risk_tier": self.risk_tier, "checks": [c.to_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, raw: dict) -> SuiteSpec:
        if not isinstance(raw, dict):
            raise ValueError("a suite must be an object with 'name' and 'checks'")
        checks = raw.get("checks")
        if not isinstance(checks, list) or not checks:
            raise ValueError("a suite needs a non-empty 'checks' list")
        risk_tier = raw.get("risk_tier", "limited")
        if risk_tier not in RISK_TIERS:
            raise ValueError(f"risk_tier must be one of {', '.join(RISK_TIERS)}")
        return cls(
            name=str(raw.get("name") or "custom"),
            checks=[CheckSpec.from_dict(c) for c in checks],
            risk_tier=risk_tier,
        )


@dataclass
class CheckResult:
    kind: str
    status: str
    metrics: dict
    thresholds: dict
    verdict: str
    parameters: dict
    seed: int
    duration_s: float
    queries: int
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SuiteResult:
    suite: str
    seed: int
    device: str
    versions: dict
    model_sha256: str | None
    data_hashes: dict
    checks: list[CheckResult]
    unreliable: bool
    unreliable_reasons: list[str]
    started_at: str
    finished_at: str
    risk_tier: str = "limited"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["passed"] = self.passed
        return out

    @property
    def passed(self) -> bool:
        return all(c.status not in ("failed", "error") for c in self.checks)

    def check(self, kind: str) -> CheckResult | None:
        return next((c for c in self.checks if c.kind == kind), None)


@dataclass
class CheckOutcome:
    metrics: dict
    parameters: dict
    queries: int = 0
    notes: list[str] = field(default_factory=list)
    # 95 % intervals by metric name, as built by workers.engine.stats; stored under metrics["intervals"].
    intervals: dict[str, dict] = field(default_factory=dict)


def _no_progress(fraction: float, step: str) -> None:
    return None


def _never_stop() -> bool:
    return False


@dataclass
class CheckContext:
    model: ModelHandle
    data: SuiteData
    params: dict
    seed: int
    progress: Callable[[float, str], None] = _no_progress
    should_stop: Callable[[], bool] = _never_stop
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    prior: dict[str, CheckResult] = field(default_factory=dict)
    device: str = "cpu"

    def check_stop(self) -> None:
        """Raise Cancelled when the caller asked to stop; checks call this between batches."""
        if self.should_stop():
            raise Cancelled("cancelled by the caller")


def to_jsonable(value: Any) -> Any:
    """Turn numpy scalars/arrays and tuples into plain JSON types, recursively."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value
