"""poisoning.data_scan: activation clustering and spectral signatures on penultimate activations, calibrated on a planted poison."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.check_helpers import assert_json_ready, check_context, in_unit_interval, suite_data
from workers.engine.checks import poisoning_data_scan
from workers.engine.suite import seed_everything
from workers.engine.types import CheckSkipped


def test_scan_reports_suspected_fraction_and_calibrated_precision_recall(digits_cnn, digits_data):
    _, model = digits_cnn
    ctx = check_context(poisoning_data_scan, model, suite_data(digits_data), max_train=400, epochs=1)
    outcome = poisoning_data_scan.run(ctx)

    assert_json_ready(outcome)
    assert poisoning_data_scan.summary(outcome.metrics).endswith(".")
    metrics = outcome.metrics
    assert in_unit_interval(metrics["suspected_fraction"])
    assert in_unit_interval(metrics["suspected_fraction_spectral"])
    assert len(metrics["suspected_fraction_by_class"]) == 10
    for detector in ("activation_clustering", "spectral_signatures"):
        figures = metrics["calibration"][detector]
        assert all(
            in_unit_interval(figures[k])
            for k in ("precision", "recall", "false_positive_rate", "flagged_fraction")
        )
    assert metrics["planted_fraction"] == pytest.approx(0.05, abs=0.003)
    assert outcome.parameters["layer"] == "penultimate"


def test_registered_set_figure_equals_art_activation_defence_on_penultimate_activations(
    digits_cnn, digits_data
):
    _, model = digits_cnn
    ctx = check_context(poisoning_data_scan, model, suite_data(digits_data), seed=2, max_train=300, epochs=1)
    engine_fraction = poisoning_data_scan.run(ctx).metrics["suspected_fraction"]

    from art.defences.detector.poison import ActivationDefence

    x_train, y_train = digits_data[0], digits_data[1]
    idx = np.sort(np.random.default_rng(2).choice(len(x_train), size=300, replace=False))
    defence = ActivationDefence(model.logits_classifier(), x_train[idx], y_train[idx])
    # ART's documented attribute for precomputed activations: here the penultimate layer's.
    defence.activations_by_class = defence._segment_by_class(model.penultimate(x_train[idx]), y_train[idx])
    seed_everything(2)
    _, is_clean = defence.detect_poison(nb_clusters=2, nb_dims=10, reduce="PCA", cluster_analysis="smaller")

    assert engine_fraction == float(np.mean(np.asarray(is_clean) == 0))


def test_scan_is_skipped_for_a_model_without_activations(cancer_logreg, cancer_data):
    _, model = cancer_logreg
    with pytest.raises(CheckSkipped, match="PyTorch"):
        poisoning_data_scan.run(check_context(poisoning_data_scan, model, suite_data(cancer_data)))


def test_relative_size_analysis_is_refused(digits_cnn, digits_data):
    _, model = digits_cnn
    ctx = check_context(poisoning_data_scan, model, suite_data(digits_data), cluster_analysis="relative-size")
    with pytest.raises(ValueError, match="cluster_analysis"):
        poisoning_data_scan.run(ctx)


@pytest.mark.slow
def test_default_scan_finds_most_of_the_planted_poison(digits_cnn, digits_data):
    _, model = digits_cnn
    metrics = poisoning_data_scan.run(
        check_context(poisoning_data_scan, model, suite_data(digits_data))
    ).metrics
    assert metrics["calibration"]["activation_clustering"]["recall"] > 0.5
    assert metrics["calibration"]["spectral_signatures"]["recall"] > 0.2
