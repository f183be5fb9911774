"""inference.attribute: black-box attribute inference against its model-free baseline on tabular training records."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.check_helpers import assert_json_ready, check_context, in_unit_interval, suite_data
from workers.engine.checks import inference_attribute
from workers.engine.suite import seed_everything
from workers.engine.types import CheckSkipped


def test_attribute_inference_against_baseline_on_the_cancer_logreg(cancer_logreg, cancer_data):
    _, model = cancer_logreg
    outcome = inference_attribute.run(check_context(inference_attribute, model, suite_data(cancer_data)))

    assert_json_ready(outcome)
    assert inference_attribute.summary(outcome.metrics).endswith(".")
    metrics = outcome.metrics
    assert in_unit_interval(metrics["attack_accuracy"]) and in_unit_interval(metrics["baseline_accuracy"])
    assert metrics["advantage_over_baseline"] == pytest.approx(
        metrics["attack_accuracy"] - metrics["baseline_accuracy"]
    )
    assert 0.5 <= metrics["majority_rate"] <= 1.0
    assert len(outcome.parameters["binarized"]["values"]) == 2
    assert outcome.queries == metrics["n_fit"] + metrics["n_test"]


def test_attack_accuracy_equals_art_called_directly(cancer_gbc, cancer_data):
    _, model = cancer_gbc
    ctx = check_context(inference_attribute, model, suite_data(cancer_data), seed=4, attack_feature=3)
    outcome = inference_attribute.run(ctx)

    from art.attacks.inference.attribute_inference import AttributeInferenceBlackBox

    x_train = cancer_data[0]
    rng = np.random.default_rng(4)
    # max_samples (600) exceeds the training set: every record is used, then split in half.
    x_levels, values, _ = inference_attribute.binarize_feature(x_train.astype(np.float32), 3)
    order = rng.permutation(len(x_train))
    half = len(x_train) // 2
    x_fit, x_test = x_levels[np.sort(order[:half])], x_levels[np.sort(order[half:])]
    view = model.proba_classifier()
    pred = np.argmax(view.predict(x_test), axis=1).reshape(-1, 1).astype(np.float32)
    seed_everything(4)
    attack = AttributeInferenceBlackBox(view, attack_model_type="rf", attack_feature=3)
    attack.fit(x_fit)
    inferred = attack.infer(np.delete(x_test, 3, axis=1), pred=pred, values=values)

    assert outcome.metrics["attack_accuracy"] == float(np.mean(np.isclose(inferred, x_test[:, 3])))


def test_the_most_label_correlated_feature_is_attacked_by_default():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = rng.random((300, 5))
    x[:, 2] = y + rng.normal(0, 0.1, 300)
    assert inference_attribute.choose_feature(x, y) == 2


def test_attribute_inference_is_skipped_for_images(digits_cnn, digits_data):
    _, model = digits_cnn
    with pytest.raises(CheckSkipped, match="tabular"):
        inference_attribute.run(check_context(inference_attribute, model, suite_data(digits_data)))
