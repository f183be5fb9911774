"""Dataset integrity: fingerprint against the registered hash, and the data problems that mislead results."""

from __future__ import annotations

import numpy as np

from workers.engine import SuiteData, run_suite
from workers.engine.data import array_sha256

SUITE = {
    "name": "integrity",
    "checks": [
        {
            "kind": "integrity.data",
            "thresholds": {
                "hash_matches": {"min": 1},
                "nan_count": {"max": 0},
                "duplicate_fraction": {"max": 0.05},
            },
        }
    ],
}


def test_clean_registered_data_passes(digits_cnn, digits_data):
    _, handle = digits_cnn
    x_train, y_train, _, _, x_eval, y_eval = digits_data
    data = SuiteData(
        x_eval=x_eval,
        y_eval=y_eval,
        x_train=x_train,
        y_train=y_train,
        registered_eval_sha256=array_sha256(x_eval, y_eval),
    )
    check = run_suite(handle, data, SUITE, seed=0).checks[0]
    assert check.status == "passed", check.verdict
    assert check.metrics["hash_matches"] == 1
    assert check.metrics["duplicate_fraction"] == 0.0
    assert sum(check.metrics["class_counts"]) == len(y_eval)
    assert check.metrics["train_evaluation_overlap"] == 0.0


def test_tampered_duplicated_and_leaking_data_fail(digits_cnn, digits_data):
    _, handle = digits_cnn
    x_train, y_train, _, _, x_eval, y_eval = digits_data
    registered = array_sha256(x_eval, y_eval)
    x_bad = x_eval.copy()
    x_bad[:40] = x_bad[40:80]  # 40 duplicates
    x_bad[100, 0, 0, 0] = 3.0  # outside the model's [0, 1] range
    x_bad[101:111] = x_train[:10]  # evaluation samples leaked from training
    data = SuiteData(
        x_eval=x_bad, y_eval=y_eval, x_train=x_train, y_train=y_train, registered_eval_sha256=registered
    )
    check = run_suite(handle, data, SUITE, seed=0).checks[0]
    assert check.status == "failed"
    assert check.metrics["hash_matches"] == 0
    assert np.isclose(check.metrics["duplicate_fraction"], 40 / len(y_eval))
    assert check.metrics["conflicting_duplicates"] > 0
    assert np.isclose(check.metrics["out_of_range_fraction"], 1 / len(y_eval))
    assert check.metrics["train_evaluation_overlap"] >= 10 / len(y_eval)
    assert "hash_matches 0 is below the 1 minimum" in check.verdict


def test_without_a_registered_hash_the_hash_threshold_is_not_applicable(cancer_gbc, cancer_data):
    _, handle = cancer_gbc
    check = run_suite(handle, SuiteData(x_eval=cancer_data[4], y_eval=cancer_data[5]), SUITE, seed=0).checks[
        0
    ]
    assert check.status == "passed", check.verdict
    assert check.metrics["hash_matches"] is None
    assert "not applicable" in check.verdict
