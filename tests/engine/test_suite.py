"""The suite runner: profiles as data, progress, cancellation, risk tiers, error isolation, provenance."""

from __future__ import annotations

import json

import pytest

from workers.engine import PROFILES, SuiteData, SuiteSpec, run_suite
from workers.engine.checks import CHECKS, KIND_MODULES, NEEDS_VOCABULARY
from workers.engine.suite import evaluate_thresholds, tighten_thresholds
from workers.engine.types import Cancelled

SMALL = {
    "name": "small",
    "checks": [
        {"kind": "integrity.data", "thresholds": {"nan_count": {"max": 0}}},
        {
            "kind": "evasion.whitebox",
            "params": {"epsilons": [0.05, 0.1], "pgd_max_iter": 5, "max_samples": 60},
            "thresholds": {"clean_accuracy": {"min": 0.8}},
        },
    ],
}


def _data(digits_data):
    return SuiteData(x_eval=digits_data[4], y_eval=digits_data[5])


def test_quick_profile_runs_every_check_with_provenance(digits_cnn, digits_data):
    _, handle = digits_cnn
    updates = []
    result = run_suite(
        handle, _data(digits_data), "quick", seed=0, progress=lambda f, s: updates.append((f, s))
    )
    assert [c.kind for c in result.checks] == [c["kind"] for c in PROFILES["quick"]["checks"]]
    assert all(c.status in ("passed", "failed") for c in result.checks), [
        (c.kind, c.reason) for c in result.checks
    ]
    fractions = [f for f, _ in updates]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any("PGD" in step for _, step in updates)
    assert result.device == "cpu" and result.model_sha256 == handle.sha256
    assert {"art", "torch", "numpy", "sklearn", "python", "riskapp-engine"} <= set(result.versions)
    assert result.versions["art"] == "1.20.1"
    assert len(result.data_hashes["evaluation"]) == 64
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["checks"][1]["metrics"]["curves"]["pgd"]
    assert result.started_at <= result.finished_at
    assert all(c.duration_s >= 0 and c.seed == 0 for c in result.checks)
    # the same model, data, profile and seed give the same numbers, black-box attacks included
    again = run_suite(handle, _data(digits_data), "quick", seed=0)
    assert [c.metrics for c in again.checks] == [c.metrics for c in result.checks]
    assert [c.queries for c in again.checks] == [c.queries for c in result.checks]


def test_should_stop_cancels_between_attacks(digits_cnn, digits_data):
    _, handle = digits_cnn
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        run_suite(handle, _data(digits_data), SMALL, seed=0, should_stop=should_stop)


def test_high_risk_tier_tightens_thresholds():
    thresholds = {
        "robust_accuracy": {"min": 0.3},
        "success_rate": {"max": 0.4},
        "clean_accuracy": {"min": 0.95},
    }
    tightened = tighten_thresholds(thresholds, "high")
    assert tightened["robust_accuracy"]["min"] == pytest.approx(0.4)
    assert tightened["success_rate"]["max"] == pytest.approx(0.2)
    assert tightened["clean_accuracy"]["min"] == 1.0
    assert tighten_thresholds(thresholds, "limited") == thresholds


def test_high_risk_run_records_the_tightened_thresholds(digits_cnn, digits_data):
    _, handle = digits_cnn
    result = run_suite(handle, _data(digits_data), {**SMALL, "risk_tier": "high"}, seed=0)
    assert result.risk_tier == "high"
    assert result.checks[1].thresholds == {"clean_accuracy": {"min": pytest.approx(0.9)}}


def test_a_broken_check_is_an_error_and_the_others_still_run(digits_cnn, digits_data):
    _, handle = digits_cnn
    suite = {
        "name": "broken",
        "checks": [
            {"kind": "evasion.whitebox", "params": {"attacks": ["nonsense"], "max_samples": 10}},
            {"kind": "no.such.check"},
            {"kind": "integrity.data"},
        ],
    }
    result = run_suite(handle, _data(digits_data), suite, seed=0)
    broken, unknown, integrity = result.checks
    assert broken.status == "error" and "nonsense" in broken.reason
    assert unknown.status == "error" and "Unknown check kind" in unknown.reason
    assert integrity.status == "passed"
    assert not result.passed


def test_a_kind_whose_module_is_missing_is_skipped_with_the_reason(digits_cnn, digits_data, monkeypatch):
    _, handle = digits_cnn
    monkeypatch.setitem(KIND_MODULES, "evasion.future", "workers.engine.checks.evasion_future")
    result = run_suite(
        handle, _data(digits_data), {"name": "f", "checks": [{"kind": "evasion.future"}]}, seed=0
    )
    assert result.checks[0].status == "skipped"
    assert "not available" in result.checks[0].reason
    assert "evasion.future" not in CHECKS


def test_profiles_are_plain_data_that_round_trip():
    for name, profile in PROFILES.items():
        spec = SuiteSpec.from_dict(profile)
        assert spec.name == name
        assert SuiteSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(ValueError, match="min"):
        SuiteSpec.from_dict(
            {"name": "x", "checks": [{"kind": "integrity.data", "thresholds": {"nan_count": {"below": 1}}}]}
        )
    with pytest.raises(ValueError, match="risk_tier"):
        SuiteSpec.from_dict({"name": "x", "risk_tier": "extreme", "checks": [{"kind": "integrity.data"}]})


def test_every_available_check_declares_the_contract():
    assert {"integrity.data", "evasion.whitebox", "evasion.blackbox", "evasion.sanity"} <= set(CHECKS)
    for kind, module in CHECKS.items():
        assert module.KIND == kind
        assert module.TITLE and module.DESCRIPTION
        assert set(module.NEEDS) <= NEEDS_VOCABULARY
        assert isinstance(module.DEFAULTS, dict) and callable(module.run)


def test_missing_metric_fails_its_threshold():
    status, failures, _ = evaluate_thresholds({"a": 0.5}, {"b": {"min": 0.1}})
    assert status == "failed" and "not measured" in failures[0]
