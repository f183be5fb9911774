"""defense.adversarial_training: PGD adversarial training of a copy, measured with the same white-box attacks before and after."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.check_helpers import assert_json_ready, check_context, in_unit_interval, suite_data
from workers.engine.checks import _support, defense_adversarial_training
from workers.engine.suite import seed_everything
from workers.engine.types import CheckResult, CheckSkipped

TINY = dict(epochs=1, max_train=200, max_eval=80, pgd_iter=5)


def test_adversarial_training_metrics_on_the_digits_cnn(digits_cnn, digits_data):
    _, model = digits_cnn
    outcome = defense_adversarial_training.run(
        check_context(defense_adversarial_training, model, suite_data(digits_data), **TINY)
    )

    assert_json_ready(outcome)
    assert defense_adversarial_training.summary(outcome.metrics).endswith(".")
    metrics = outcome.metrics
    for name in (
        "clean_accuracy_before",
        "clean_accuracy_after",
        "robust_accuracy_before",
        "robust_accuracy_after",
    ):
        assert in_unit_interval(metrics[name]), name
    assert metrics["robust_accuracy_before"] <= min(metrics["per_attack_before"].values())
    assert metrics["robust_gain"] == pytest.approx(
        metrics["robust_accuracy_after"] - metrics["robust_accuracy_before"]
    )
    assert set(metrics["per_attack_before"]) == {"pgd", "apgd_dlr"}
    assert metrics["eps"] == pytest.approx(0.1)
    assert outcome.parameters["trainer"]["eps"] == pytest.approx(
        0.1
    )  # in the model's [0, 1] range, not ART's 8
    assert metrics["recommendation"]["text"]
    assert metrics["recommended"] in ("pgd_adversarial_training", "none pays off")


def test_robust_accuracy_before_equals_art_pgd_called_directly(digits_cnn, digits_data):
    _, model = digits_cnn
    ctx = check_context(defense_adversarial_training, model, suite_data(digits_data), seed=1, **TINY)
    engine_figure = defense_adversarial_training.run(ctx).metrics["per_attack_before"]["pgd"]

    from art.attacks.evasion import ProjectedGradientDescent

    x_eval, y_eval = digits_data[4], digits_data[5]
    rng = np.random.default_rng(1)
    rng.choice(len(digits_data[0]), size=200, replace=False)  # the check draws its training subset first
    idx = np.sort(rng.choice(len(x_eval), size=80, replace=False))
    seed_everything(1)
    attack = ProjectedGradientDescent(
        model.logits_classifier(),
        norm=np.inf,
        eps=0.1,
        eps_step=0.025,
        max_iter=5,
        num_random_init=0,
        batch_size=128,
        verbose=False,
    )
    x_adv = attack.generate(x_eval[idx], y=y_eval[idx])
    art_figure = float(np.mean(np.argmax(model.logits_classifier().predict(x_adv), axis=1) == y_eval[idx]))

    assert engine_figure == art_figure


def test_adversarial_training_is_skipped_for_sklearn_models(cancer_logreg, cancer_data):
    _, model = cancer_logreg
    with pytest.raises(CheckSkipped, match="PyTorch"):
        defense_adversarial_training.run(
            check_context(defense_adversarial_training, model, suite_data(cancer_data))
        )


def test_the_recommendation_takes_the_largest_gain_within_the_clean_cost_budget():
    candidates = [
        {"defence": "jpeg", "robust_gain": 0.30, "clean_cost": 0.20},
        {"defence": "feature_squeezing", "robust_gain": 0.10, "clean_cost": 0.01},
        {"defence": "spatial_smoothing", "robust_gain": 0.01, "clean_cost": 0.0},
    ]
    assert _support.recommend(candidates)["defence"] == "feature_squeezing"
    assert _support.recommend(candidates[2:])["defence"] is None
    assert _support.recommend(candidates[2:])["text"].startswith("none pays off")


def test_recommended_combines_defence_checks_already_run_in_the_suite():
    earlier = CheckResult(
        kind="defense.preprocessing",
        status="passed",
        thresholds={},
        verdict="",
        parameters={},
        seed=0,
        duration_s=0.0,
        queries=0,
        metrics={"candidates": [{"defence": "jpeg", "robust_gain": 0.2, "clean_cost": 0.01}]},
    )
    own = [{"defence": "pgd_adversarial_training", "robust_gain": 0.1, "clean_cost": 0.0}]
    combined = _support.recommendation_metrics(own, {"defense.preprocessing": earlier})
    assert combined["recommendation"]["defence"] == "pgd_adversarial_training"
    assert combined["recommended"] == "jpeg"


@pytest.mark.slow
def test_default_adversarial_training_raises_robust_accuracy(digits_cnn, digits_data):
    _, model = digits_cnn
    metrics = defense_adversarial_training.run(
        check_context(defense_adversarial_training, model, suite_data(digits_data))
    ).metrics
    assert metrics["robust_gain"] > 0.05
    assert metrics["clean_cost"] < 0.05
    assert metrics["recommended"] == "pgd_adversarial_training"
