"""poisoning.backdoor: a trigger planted in training data of a retrained copy, against an identically trained clean copy."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.check_helpers import assert_json_ready, check_context, in_unit_interval, suite_data
from workers.engine.checks import poisoning_backdoor
from workers.engine.types import Cancelled, CheckSkipped


def test_backdoor_metrics_on_the_digits_cnn(digits_cnn, digits_data):
    _, model = digits_cnn
    ctx = check_context(
        poisoning_backdoor, model, suite_data(digits_data), epochs=1, max_train=300, max_test=100
    )
    outcome = poisoning_backdoor.run(ctx)

    assert_json_ready(outcome)
    assert poisoning_backdoor.summary(outcome.metrics).endswith(".")
    metrics = outcome.metrics
    for name in (
        "attack_success_rate",
        "trigger_rate_clean_copy",
        "clean_accuracy_baseline",
        "clean_accuracy_poisoned",
    ):
        assert in_unit_interval(metrics[name]), name
    assert metrics["clean_accuracy_cost"] == pytest.approx(
        metrics["clean_accuracy_baseline"] - metrics["clean_accuracy_poisoned"]
    )
    assert metrics["n_poisoned"] == 30
    assert outcome.parameters["trigger"] == {
        "kind": "art.add_pattern_bd",
        "distance": 2,
        "pixel_value": 1.0,
        "channels_first": True,
    }


def test_the_image_trigger_is_arts_pattern_in_the_bottom_right_corner(digits_cnn, digits_data):
    _, model = digits_cnn
    trigger, _ = poisoning_backdoor.make_trigger(model, digits_data[0], poisoning_backdoor.DEFAULTS)
    blank = np.zeros((2, 1, 8, 8), dtype=np.float32)
    marked = trigger(blank)
    assert marked.dtype == np.float32
    assert {(int(r), int(c)) for r, c in zip(*np.nonzero(marked[0, 0]))} == {(6, 6), (5, 5), (6, 4), (4, 6)}


def test_planting_relabels_only_non_target_samples(cancer_data):
    x, y = cancer_data[0], cancer_data[1]
    trigger = poisoning_backdoor.FeaturePatternTrigger([0, 3], 1.0)
    x_poisoned, y_poisoned, planted = poisoning_backdoor.plant_backdoor(
        x, y, trigger, fraction=0.1, target_class=1, rng=np.random.default_rng(0)
    )
    assert planted.sum() == round(0.1 * len(x))
    assert np.all(y[planted] == 0) and np.all(y_poisoned[planted] == 1)
    assert np.all(x_poisoned[planted][:, [0, 3]] == 1.0)
    assert np.array_equal(x_poisoned[~planted], x[~planted])


def test_a_feature_trigger_backdoors_the_refitted_logistic_regression(cancer_logreg, cancer_data):
    _, model = cancer_logreg
    outcome = poisoning_backdoor.run(check_context(poisoning_backdoor, model, suite_data(cancer_data)))
    metrics = outcome.metrics
    assert outcome.parameters["trigger"]["kind"] == "feature_pattern"
    assert metrics["attack_success_rate"] > 0.8
    assert metrics["trigger_rate_clean_copy"] < 0.3
    assert metrics["clean_accuracy_cost"] <= 0.1


def test_backdoor_is_skipped_without_training_data(cancer_logreg, cancer_data):
    _, model = cancer_logreg
    with pytest.raises(CheckSkipped, match="training dataset"):
        poisoning_backdoor.run(check_context(poisoning_backdoor, model, suite_data(cancer_data, train=False)))


def test_backdoor_stops_between_epochs_when_cancelled(digits_cnn, digits_data):
    _, model = digits_cnn
    ctx = check_context(
        poisoning_backdoor, model, suite_data(digits_data), max_train=200, should_stop=lambda: True
    )
    with pytest.raises(Cancelled):
        poisoning_backdoor.run(ctx)


def test_default_backdoor_takes_over_the_digits_cnn_at_little_clean_cost(digits_cnn, digits_data):
    _, model = digits_cnn
    metrics = poisoning_backdoor.run(
        check_context(poisoning_backdoor, model, suite_data(digits_data))
    ).metrics
    assert metrics["attack_success_rate"] > 0.5
    assert metrics["trigger_rate_clean_copy"] < 0.1
    assert metrics["clean_accuracy_cost"] < 0.1


def test_same_seed_gives_the_same_backdoor_figures(digits_cnn, digits_data):
    _, model = digits_cnn
    runs = [
        poisoning_backdoor.run(
            check_context(
                poisoning_backdoor, model, suite_data(digits_data), epochs=1, max_train=300, max_test=100
            )
        ).metrics
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
