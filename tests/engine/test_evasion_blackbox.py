"""Black-box evasion: HopSkipJump and Square through the probability view, inside the query budget."""

from __future__ import annotations

from workers.engine import SuiteData, run_suite

QUICK_BLACKBOX = {
    "max_samples": 8,
    "hsj_max_iter": 4,
    "hsj_max_eval": 40,
    "hsj_init_eval": 5,
    "square_max_iter": 40,
}


def _run(handle, x, y, params, seed=0):
    suite = {"name": "t", "checks": [{"kind": "evasion.blackbox", "params": params}]}
    return run_suite(handle, SuiteData(x_eval=x, y_eval=y), suite, seed=seed).checks[0]


def test_blackbox_on_the_digits_cnn_reports_both_attacks(digits_cnn, digits_data):
    _, handle = digits_cnn
    check = _run(handle, digits_data[4], digits_data[5], QUICK_BLACKBOX)
    assert check.status == "passed", check.reason
    metrics = check.metrics
    assert set(metrics["attacks"]) == {"hopskipjump", "square"}
    for attack in metrics["attacks"].values():
        assert attack["attacked"] > 0 and attack["queries"] > 0
        assert 0.0 <= attack["success_rate"] <= 1.0
    # HopSkipJump is unbounded: it finds an adversarial example for (nearly) every sample
    assert metrics["attacks"]["hopskipjump"]["success_rate"] >= 0.75
    assert (
        metrics["attacks"]["square"]["median_perturbation"] is None
        or metrics["attacks"]["square"]["median_perturbation"] <= 0.1 + 1e-6
    )
    assert 0.0 <= metrics["success_rate"] <= 1.0
    assert (
        metrics["queries_used"] == check.queries == sum(a["queries"] for a in metrics["attacks"].values()) + 8
    )


def test_query_budget_stops_the_attacks(digits_cnn, digits_data):
    _, handle = digits_cnn
    check = _run(
        handle, digits_data[4], digits_data[5], {**QUICK_BLACKBOX, "query_budget": 400, "chunk_size": 2}
    )
    assert check.status == "passed", check.reason
    assert check.metrics["queries_used"] <= 400
    assert any(a["budget_exhausted"] for a in check.metrics["attacks"].values())
    assert any("budget" in note for note in check.metrics["notes"])


def test_tree_model_gets_hopskipjump_only(cancer_gbc, cancer_data):
    _, handle = cancer_gbc
    check = _run(handle, cancer_data[4], cancer_data[5], QUICK_BLACKBOX)
    assert check.status == "passed", check.reason
    assert set(check.metrics["attacks"]) == {"hopskipjump"}
    assert any("tabular" in note for note in check.metrics["notes"])


def test_blackbox_is_reproducible(digits_cnn, digits_data):
    _, handle = digits_cnn
    first = _run(handle, digits_data[4], digits_data[5], QUICK_BLACKBOX, seed=5)
    second = _run(handle, digits_data[4], digits_data[5], QUICK_BLACKBOX, seed=5)
    assert first.metrics == second.metrics
