"""Uncertainty for every rate, accuracy and AUC the engine reports: 95 % intervals with their sample size.

An interval travels with its metric as ``{"low", "high", "n", "method", "level"}``; a check puts them in
``CheckOutcome.intervals`` keyed by metric name and the suite stores them under ``metrics["intervals"]``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _scipy_stats

LEVEL = 0.95


def _interval(low: float, high: float, n: int, method: str, level: float) -> dict:
    return {
        "low": round(float(max(0.0, low)), 6),
        "high": round(float(min(1.0, high)), 6),
        "n": int(n),
        "method": method,
        "level": level,
    }


def wilson(successes: float, n: int, *, level: float = LEVEL) -> dict:
    """Wilson score interval for a proportion successes / n (good coverage at small n and near 0 or 1)."""
    n = int(n)
    if n <= 0:
        return _interval(0.0, 1.0, 0, "wilson", level)
    p = float(successes) / n
    z = float(_scipy_stats.norm.ppf(0.5 + level / 2))
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return _interval(centre - half, centre + half, n, "wilson", level)


def clopper_pearson(successes: int, n: int, *, level: float = LEVEL) -> dict:
    """Exact (conservative) binomial interval; use it where a guarantee matters more than width."""
    n = int(n)
    k = int(round(successes))
    if n <= 0:
        return _interval(0.0, 1.0, 0, "clopper-pearson", level)
    alpha = 1 - level
    low = 0.0 if k == 0 else float(_scipy_stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(_scipy_stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return _interval(low, high, n, "clopper-pearson", level)


def rate_interval(flags, *, level: float = LEVEL) -> dict:
    """Wilson interval of the share of true values in a boolean array (e.g. per-example 'still correct')."""
    flags = np.asarray(flags, dtype=bool).ravel()
    return wilson(int(flags.sum()), int(flags.size), level=level)


def bootstrap_interval(statistic, *arrays, n_resamples: int = 1000, seed: int = 0, level: float = LEVEL,
                       method: str = "bootstrap-percentile") -> dict:
    """Percentile bootstrap of statistic(*arrays) over rows resampled together (seeded, so reproducible)."""
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    if n == 0:
        return _interval(0.0, 1.0, 0, method, level)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(n_resamples)):
        index = rng.integers(0, n, size=n)
        try:
            value = statistic(*(a[index] for a in arrays))
        except ValueError:  # e.g. a resample with one class only: AUC undefined
            continue
        if value is not None and np.isfinite(value):
            values.append(float(value))
    if not values:
        return _interval(0.0, 1.0, n, method, level)
    alpha = 1 - level
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return _interval(low, high, n, method, level)


def auc_interval(labels, scores, *, n_resamples: int = 1000, seed: int = 0, level: float = LEVEL) -> dict:
    """Bootstrap interval of ROC AUC (labels 1 = positive); resamples stratified by class keep both present."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).astype(int).ravel()
    scores = np.asarray(scores, dtype=float).ravel()
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if len(positives) == 0 or len(negatives) == 0:
        return _interval(0.0, 1.0, len(labels), "bootstrap-stratified", level)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(n_resamples)):
        index = np.concatenate([rng.choice(positives, len(positives)), rng.choice(negatives, len(negatives))])
        values.append(float(roc_auc_score(labels[index], scores[index])))
    alpha = 1 - level
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return _interval(low, high, len(labels), "bootstrap-stratified", level)


def straddles(interval: dict | None, threshold: float) -> bool:
    """True when the threshold lies inside the interval: the data cannot tell pass from fail ("borderline")."""
    if not interval:
        return False
    return float(interval["low"]) <= float(threshold) <= float(interval["high"])


__all__ = ["LEVEL", "auc_interval", "bootstrap_interval", "clopper_pearson", "rate_interval", "straddles", "wilson"]
