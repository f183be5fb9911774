"""Build a CheckContext for one check the way the suite does (DEFAULTS merged with overrides, seeded)."""

from __future__ import annotations

import copy
import json

import numpy as np

from workers.engine.suite import seed_everything
from workers.engine.types import CheckContext, SuiteData


def suite_data(splits, *, train: bool = True, holdout: bool = True) -> SuiteData:
    x_train, y_train, x_holdout, y_holdout, x_eval, y_eval = splits
    return SuiteData(
        x_eval=x_eval,
        y_eval=y_eval,
        x_train=x_train if train else None,
        y_train=y_train if train else None,
        x_holdout=x_holdout if holdout else None,
        y_holdout=y_holdout if holdout else None,
    )


def check_context(
    module, model, data: SuiteData, *, seed: int = 0, should_stop=None, progress=None, **params
) -> CheckContext:
    seed_everything(seed)
    merged = {**copy.deepcopy(module.DEFAULTS), **params}
    steps: list[tuple[float, str]] = []
    return CheckContext(
        model=model,
        data=data,
        params=merged,
        seed=seed,
        progress=progress or (lambda fraction, step: steps.append((fraction, step))),
        should_stop=should_stop or (lambda: False),
        rng=np.random.default_rng(seed),
    )


def assert_json_ready(outcome) -> None:
    """Metrics and parameters must survive a strict JSON round trip unchanged (no numpy types)."""
    for part in (outcome.metrics, outcome.parameters):
        assert json.loads(json.dumps(part, allow_nan=False)) == part


def in_unit_interval(value) -> bool:
    return isinstance(value, float) and 0.0 <= value <= 1.0
