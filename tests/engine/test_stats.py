"""The interval helpers match textbook values and scipy's own implementations."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from workers.engine import stats


def test_wilson_matches_the_closed_form_for_a_known_case():
    # 8 successes of 10: Wilson 95 % interval is (0.4902, 0.9433) (Newcombe 1998, table I style check).
    interval = stats.wilson(8, 10)
    assert interval["low"] == pytest.approx(0.4902, abs=1e-4)
    assert interval["high"] == pytest.approx(0.9433, abs=1e-4)
    assert interval["n"] == 10 and interval["method"] == "wilson"


def test_clopper_pearson_matches_scipy_binomtest():
    expected = scipy_stats.binomtest(3, 40).proportion_ci(confidence_level=0.95, method="exact")
    interval = stats.clopper_pearson(3, 40)
    assert interval["low"] == pytest.approx(expected.low, abs=1e-6)
    assert interval["high"] == pytest.approx(expected.high, abs=1e-6)


def test_edges_stay_inside_zero_and_one():
    assert stats.clopper_pearson(0, 20)["low"] == 0.0
    assert stats.clopper_pearson(20, 20)["high"] == 1.0
    assert stats.wilson(0, 0) == {"low": 0.0, "high": 1.0, "n": 0, "method": "wilson", "level": 0.95}


def test_auc_interval_covers_the_auc_and_is_reproducible():
    rng = np.random.default_rng(1)
    labels = np.r_[np.ones(200), np.zeros(200)]
    scores = np.r_[rng.normal(0.5, 1, 200), rng.normal(0, 1, 200)]
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(labels, scores)
    first = stats.auc_interval(labels, scores, seed=3)
    assert first["low"] < auc < first["high"]
    assert first == stats.auc_interval(labels, scores, seed=3)
    assert 0.05 < first["high"] - first["low"] < 0.2


def test_straddles_says_borderline_only_inside_the_interval():
    interval = stats.wilson(30, 100)
    assert stats.straddles(interval, 0.3)
    assert not stats.straddles(interval, 0.5)
    assert not stats.straddles(None, 0.3)
