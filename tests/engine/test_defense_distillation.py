"""defense.distillation: a student distilled at temperature T, attacked on its own logits (PGD and APGD-DLR)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.check_helpers import assert_json_ready, check_context, in_unit_interval, suite_data
from workers.engine.checks import defense_distillation
from workers.engine.types import CheckSkipped

TINY = dict(epochs=1, max_train=200, max_eval=80, pgd_iter=5)


def test_distillation_metrics_on_the_digits_cnn(digits_cnn, digits_data):
    _, model = digits_cnn
    outcome = defense_distillation.run(
        check_context(defense_distillation, model, suite_data(digits_data), **TINY)
    )

    assert_json_ready(outcome)
    assert defense_distillation.summary(outcome.metrics).endswith(".")
    metrics = outcome.metrics
    for name in (
        "clean_accuracy_before",
        "clean_accuracy_after",
        "robust_accuracy_before",
        "robust_accuracy_after",
    ):
        assert in_unit_interval(metrics[name]), name
    # The student is judged by the worst of both attacks, so a masked cross-entropy gradient cannot inflate it.
    assert metrics["robust_accuracy_after"] <= min(metrics["per_attack_after"].values())
    assert metrics["temperature"] == 20.0
    assert metrics["candidates"][0]["defence"] == "defensive_distillation"


def test_teacher_and_student_views_output_probabilities(digits_cnn, digits_data):
    import torch

    _, model = digits_cnn
    softened = defense_distillation.temperature_softmax(model.torch_module(), 20.0)
    with torch.no_grad():
        probabilities = softened(torch.from_numpy(digits_data[4][:16])).numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # Softened at T = 20: the top class keeps its rank but loses most of its confidence.
    assert np.array_equal(probabilities.argmax(axis=1), model.predict_labels(digits_data[4][:16]))
    assert probabilities.max() < 0.9


def test_the_student_starts_from_fresh_weights(digits_cnn):
    _, model = digits_cnn
    student = model.trainable_copy().torch_module()
    before = [p.detach().clone() for p in student.parameters()]
    defense_distillation.reinitialize(student, seed=0)
    after = list(student.parameters())
    assert all(not np.allclose(a.detach().numpy(), b.numpy()) for a, b in zip(after, before) if b.dim() >= 2)


def test_distillation_is_skipped_without_training_data(digits_cnn, digits_data):
    _, model = digits_cnn
    with pytest.raises(CheckSkipped, match="training dataset"):
        defense_distillation.run(
            check_context(defense_distillation, model, suite_data(digits_data, train=False))
        )


@pytest.mark.slow
def test_default_distillation_gives_a_usable_student(digits_cnn, digits_data):
    _, model = digits_cnn
    metrics = defense_distillation.run(
        check_context(defense_distillation, model, suite_data(digits_data))
    ).metrics
    assert metrics["clean_accuracy_after"] > 0.9
    assert metrics["recommended"] in ("defensive_distillation", "none pays off")
