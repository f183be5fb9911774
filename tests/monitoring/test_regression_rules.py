"""The comparison rules on the engine's metrics: what counts as worse, by how much, and per profile."""

from __future__ import annotations

import pytest

from riskapp.monitoring.regression import compare_checks, tolerances_for
from tests.monitoring.factories import whitebox_metrics


def _regressed(rows):
    return {row.key: row for row in rows if row.regressed}


def test_robust_accuracy_drop_past_tolerance_at_any_epsilon_regresses():
    baseline = whitebox_metrics(clean=0.95, robust={0.05: 0.80, 0.1: 0.60, 0.2: 0.30})
    current = whitebox_metrics(clean=0.95, robust={0.05: 0.79, 0.1: 0.60, 0.2: 0.24})
    regressed = _regressed(compare_checks({"evasion.whitebox": baseline}, {"evasion.whitebox": current}))
    assert set(regressed) == {"evasion.whitebox:worst_case:robust_accuracy@0.2",
                              "evasion.whitebox:pgd:robust_accuracy@0.2"}
    row = regressed["evasion.whitebox:worst_case:robust_accuracy@0.2"]
    assert row.baseline == 0.30 and row.current == 0.24
    assert row.delta == pytest.approx(-0.06)
    assert row.tolerance == 0.05 and row.tolerance_kind == "absolute"


def test_a_drop_of_exactly_the_tolerance_is_not_a_regression():
    baseline = whitebox_metrics(clean=0.9, robust={0.1: 0.65})
    current = whitebox_metrics(clean=0.9, robust={0.1: 0.60})
    assert not _regressed(compare_checks({"evasion.whitebox": baseline}, {"evasion.whitebox": current}))


def test_breaking_epsilon_falls_more_than_twenty_percent():
    baseline = whitebox_metrics(clean=0.9, robust={0.1: 0.6}, breaking=0.2)
    slightly = whitebox_metrics(clean=0.9, robust={0.1: 0.6}, breaking=0.17)
    much = whitebox_metrics(clean=0.9, robust={0.1: 0.6}, breaking=0.1)
    assert not _regressed(compare_checks({"evasion.whitebox": baseline}, {"evasion.whitebox": slightly}))
    rows = _regressed(compare_checks({"evasion.whitebox": baseline}, {"evasion.whitebox": much}))
    assert rows["evasion.whitebox:breaking_epsilon"].tolerance_kind == "relative"
    assert rows["evasion.whitebox:breaking_epsilon"].delta == pytest.approx(-0.1)


def test_breaking_epsilon_that_appears_within_the_grid_is_compared_with_the_largest_epsilon():
    # The baseline never halved accuracy up to ε=0.2; now it halves at 0.05: at least a 75 % fall.
    baseline = whitebox_metrics(clean=0.9, robust={0.05: 0.8, 0.1: 0.7, 0.2: 0.6}, breaking=None)
    current = whitebox_metrics(clean=0.9, robust={0.05: 0.8, 0.1: 0.7, 0.2: 0.6}, breaking=0.05)
    row = _regressed(compare_checks({"evasion.whitebox": baseline}, {"evasion.whitebox": current}))[
        "evasion.whitebox:breaking_epsilon"]
    assert row.baseline is None and row.current == 0.05


def test_privacy_extraction_and_backdoor_regress_when_they_rise():
    baseline = {
        "inference.membership": {"auc": 0.55},
        "extraction": {"results": [{"output": "probabilities", "attack": "copycat", "budget": 250, "agreement": 0.70},
                                   {"output": "probabilities", "attack": "copycat", "budget": 1000, "agreement": 0.80}]},
        "poisoning.backdoor": {"attack_success_rate": 0.20},
    }
    current = {
        "inference.membership": {"auc": 0.61},
        "extraction": {"results": [{"output": "probabilities", "attack": "copycat", "budget": 250, "agreement": 0.74},
                                   {"output": "probabilities", "attack": "copycat", "budget": 1000, "agreement": 0.86},
                                   {"output": "probabilities", "attack": "copycat", "budget": 4000, "agreement": 0.99}]},
        "poisoning.backdoor": {"attack_success_rate": 0.35},
    }
    regressed = _regressed(compare_checks(baseline, current))
    assert set(regressed) == {
        "inference.membership:auc",
        "extraction:copycat:probabilities:agreement@1000",  # +0.06 at the same budget; 250 rose only 0.04
        "poisoning.backdoor:attack_success_rate",
    }


def test_improvements_never_regress():
    baseline = {"inference.membership": {"auc": 0.70}, "poisoning.backdoor": {"attack_success_rate": 0.9},
                "evasion.whitebox": whitebox_metrics(clean=0.9, robust={0.1: 0.2}, breaking=0.05)}
    current = {"inference.membership": {"auc": 0.52}, "poisoning.backdoor": {"attack_success_rate": 0.1},
               "evasion.whitebox": whitebox_metrics(clean=0.95, robust={0.1: 0.7}, breaking=None)}
    assert not _regressed(compare_checks(baseline, current))


def test_profile_tolerances_override_the_defaults_and_ignore_nonsense():
    assert tolerances_for({"robust_accuracy": 0.2, "unknown": 1, "membership_auc": "x"})["robust_accuracy"] == 0.2
    assert tolerances_for({"membership_auc": "x"})["membership_auc"] == 0.05
    baseline = whitebox_metrics(clean=0.9, robust={0.1: 0.6})
    current = whitebox_metrics(clean=0.9, robust={0.1: 0.45})
    assert _regressed(compare_checks({"evasion.whitebox": baseline}, {"evasion.whitebox": current}))
    assert not _regressed(compare_checks({"evasion.whitebox": baseline}, {"evasion.whitebox": current},
                                         {"robust_accuracy": 0.2}))


def test_only_checks_and_epsilons_both_runs_measured_are_compared():
    baseline = whitebox_metrics(clean=0.9, robust={0.1: 0.6})
    current = whitebox_metrics(clean=0.9, robust={0.3: 0.0})
    assert compare_checks({"evasion.whitebox": baseline}, {"evasion.whitebox": current}) == []
    assert compare_checks({}, {"inference.membership": {"auc": 0.9}}) == []
