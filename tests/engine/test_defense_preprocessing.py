"""defense.preprocessing: JPEG, feature squeezing and spatial smoothing, attacked naively and through the defence (BPDA)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.check_helpers import assert_json_ready, check_context, in_unit_interval, suite_data
from workers.engine.checks import defense_preprocessing
from workers.engine.suite import seed_everything
from workers.engine.types import CheckSkipped

TINY = dict(max_eval=40, pgd_iter=3, apgd_dlr=False)


def test_every_defence_gets_naive_and_adaptive_figures(digits_cnn, digits_data):
    _, model = digits_cnn
    outcome = defense_preprocessing.run(
        check_context(defense_preprocessing, model, suite_data(digits_data), **TINY)
    )

    assert_json_ready(outcome)
    assert defense_preprocessing.summary(outcome.metrics).endswith(".")
    per_defence = outcome.metrics["per_defence"]
    assert set(per_defence) == {"jpeg", "feature_squeezing", "spatial_smoothing"}
    for name, figures in per_defence.items():
        for key in ("clean_accuracy", "robust_accuracy_naive", "robust_accuracy_adaptive"):
            assert in_unit_interval(figures[key]), (name, key)
        assert figures["robust_gain"] == pytest.approx(
            figures["robust_accuracy_adaptive"] - outcome.metrics["robust_accuracy_undefended"]
        )
    assert outcome.metrics["recommended"] in {
        "jpeg",
        "feature_squeezing",
        "spatial_smoothing",
        "none pays off",
    }


def test_adaptive_figure_equals_art_pgd_through_the_preprocessor(digits_cnn, digits_data):
    _, model = digits_cnn
    ctx = check_context(
        defense_preprocessing, model, suite_data(digits_data), seed=6, defences=["feature_squeezing"], **TINY
    )
    engine_figure = defense_preprocessing.run(ctx).metrics["per_defence"]["feature_squeezing"][
        "per_attack_adaptive"
    ]["pgd"]

    import torch
    from art.attacks.evasion import ProjectedGradientDescent
    from art.defences.preprocessor import FeatureSqueezing
    from art.estimators.classification import PyTorchClassifier

    x_eval, y_eval = digits_data[4], digits_data[5]
    idx = np.sort(np.random.default_rng(6).choice(len(x_eval), size=40, replace=False))
    defended = PyTorchClassifier(
        model=model.torch_module(),
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(1, 8, 8),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        preprocessing_defences=[
            FeatureSqueezing(clip_values=(0.0, 1.0), bit_depth=3, apply_fit=False, apply_predict=True)
        ],
    )
    seed_everything(6)
    attack = ProjectedGradientDescent(
        defended,
        norm=np.inf,
        eps=0.1,
        eps_step=0.025,
        max_iter=3,
        num_random_init=0,
        batch_size=128,
        verbose=False,
    )
    x_adv = attack.generate(x_eval[idx], y=y_eval[idx])
    art_figure = float(np.mean(np.argmax(defended.predict(x_adv), axis=1) == y_eval[idx]))

    assert engine_figure == art_figure


def test_preprocessing_defences_are_skipped_for_tabular_models(cancer_logreg, cancer_data):
    _, model = cancer_logreg
    with pytest.raises(CheckSkipped, match="image"):
        defense_preprocessing.run(check_context(defense_preprocessing, model, suite_data(cancer_data)))


@pytest.mark.slow
def test_bpda_is_at_least_as_strong_as_the_naive_transfer(digits_cnn, digits_data):
    _, model = digits_cnn
    outcome = defense_preprocessing.run(check_context(defense_preprocessing, model, suite_data(digits_data)))
    for name, figures in outcome.metrics["per_defence"].items():
        assert figures["robust_accuracy_adaptive"] <= figures["robust_accuracy_naive"] + 0.02, name
