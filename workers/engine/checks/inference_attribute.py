"""Attribute inference: does the model's output help an attacker guess a hidden feature of a training record?"""

from __future__ import annotations

import numpy as np

from workers.engine.checks._support import reseed, require_training_data, subsample
from workers.engine.types import CheckOutcome, CheckSkipped

KIND = "inference.attribute"
TITLE = "Attribute inference (black-box vs baseline)"
DESCRIPTION = (
    "Plays an attacker who knows all of a training record except one sensitive feature and tries to guess it. "
    "The guess is compared with what the same attacker achieves without asking the model; only the difference "
    "is a leak caused by the model."
)
NEEDS = frozenset({"train", "tabular"})
DEFAULTS = {
    "attack_feature": None,
    "attack_model": "rf",
    "max_samples": 600,
    "nn_epochs": 100,
}
ATTACK_MODELS = ("rf", "nn", "gb", "lr", "dt", "knn", "svm")


def choose_feature(x: np.ndarray, y: np.ndarray) -> int:
    """The feature most correlated with the label: the one the model's output most likely gives away."""
    centred_x = x - x.mean(axis=0)
    centred_y = y - y.mean()
    denominator = np.sqrt((centred_x**2).sum(axis=0) * (centred_y**2).sum())
    correlation = np.divide(
        np.abs(centred_x.T @ centred_y), denominator, out=np.zeros(x.shape[1]), where=denominator > 0
    )
    return int(np.argmax(correlation))


def binarize_feature(x: np.ndarray, feature: int) -> tuple[np.ndarray, list[float], float]:
    """Records with the attacked feature reduced to two levels (the mean of each side of the median).

    The attack then guesses one of two values, so its accuracy can be compared with the
    baseline's. A feature that already takes two values is left as it is.
    """
    column = x[:, feature]
    distinct = np.unique(column)
    if len(distinct) == 2:
        return x.copy(), [float(distinct[0]), float(distinct[1])], float(distinct.mean())
    cut = float(np.median(column))
    high = column > cut
    if high.all() or not high.any():
        raise CheckSkipped(f"feature {feature} is constant in the training data; nothing to infer")
    levels = [float(np.float32(column[~high].mean())), float(np.float32(column[high].mean()))]
    out = x.copy()
    out[:, feature] = np.where(high, levels[1], levels[0]).astype(x.dtype)
    return out, levels, cut


def attribute_attacks(
    view,
    x_fit,
    x_test,
    pred_test,
    *,
    feature: int,
    values: list[float],
    attack_model: str,
    nn_epochs: int,
    seed: int,
):
    """Inferred values of the attacked feature by ART's black-box attack and by its model-free baseline."""
    from art.attacks.inference.attribute_inference import (
        AttributeInferenceBaseline,
        AttributeInferenceBlackBox,
    )

    x_test_without = np.delete(x_test, feature, axis=1)
    reseed(seed)
    attack = AttributeInferenceBlackBox(
        view, attack_model_type=attack_model, attack_feature=feature, nn_model_epochs=nn_epochs
    )
    attack.fit(x_fit)
    inferred = attack.infer(x_test_without, pred=pred_test, values=values)
    reseed(seed)
    baseline = AttributeInferenceBaseline(
        attack_model_type=attack_model, attack_feature=feature, nn_model_epochs=nn_epochs
    )
    baseline.fit(x_fit)
    guessed = baseline.infer(x_test_without, values=values)
    return np.asarray(inferred).reshape(-1), np.asarray(guessed).reshape(-1)


def summary(metrics: dict) -> str:
    return (
        f"Guessing feature {metrics['attack_feature']} of training records: {metrics['attack_accuracy']:.2f} with the "
        f"model's answers vs {metrics['baseline_accuracy']:.2f} without (advantage "
        f"{metrics['advantage_over_baseline']:+.2f})."
    )


def run(ctx):
    model, data, params = ctx.model, ctx.data, ctx.params
    require_training_data(data, "Attribute inference")
    if model.task != "tabular" or len(model.input_shape) != 1:
        raise CheckSkipped("attribute inference applies to tabular models with flat feature vectors")
    if params["attack_model"] not in ATTACK_MODELS:
        raise ValueError(f"attack_model must be one of {ATTACK_MODELS}")

    idx = subsample(ctx.rng, len(data.x_train), params["max_samples"])
    x = data.x_train[idx].astype(np.float32)
    y = data.y_train[idx].astype(np.int64)
    if len(x) < 40:
        raise CheckSkipped(f"attribute inference needs at least 40 training records; has {len(x)}")
    feature = int(params["attack_feature"]) if params["attack_feature"] is not None else choose_feature(x, y)
    if not 0 <= feature < x.shape[1]:
        raise ValueError(f"attack_feature {feature} is outside 0..{x.shape[1] - 1}")
    x_levels, values, cut = binarize_feature(x, feature)

    order = ctx.rng.permutation(len(x))
    half = len(x) // 2
    x_fit, x_test = x_levels[np.sort(order[:half])], x_levels[np.sort(order[half:])]
    queries_before = model.queries
    view = model.proba_classifier(label_only=model.label_only)
    ctx.progress(0.1, "querying the model on the target records")
    # The attacker sees the model's answer for each target record: an (N, 1) column of predicted classes.
    pred_test = np.argmax(view.predict(x_test), axis=1).reshape(-1, 1).astype(np.float32)
    ctx.check_stop()
    ctx.progress(0.3, "fitting the attack and the baseline")
    inferred, guessed = attribute_attacks(
        view,
        x_fit,
        x_test,
        pred_test,
        feature=feature,
        values=values,
        attack_model=params["attack_model"],
        nn_epochs=int(params["nn_epochs"]),
        seed=ctx.seed,
    )
    truth = x_test[:, feature]
    attack_accuracy = float(np.mean(np.isclose(inferred, truth)))
    baseline_accuracy = float(np.mean(np.isclose(guessed, truth)))
    majority = float(max(np.mean(np.isclose(truth, v)) for v in values))
    metrics = {
        "attack_accuracy": attack_accuracy,
        "baseline_accuracy": baseline_accuracy,
        "advantage_over_baseline": attack_accuracy - baseline_accuracy,
        "majority_rate": majority,
        "attack_feature": feature,
        "n_fit": int(len(x_fit)),
        "n_test": int(len(x_test)),
    }
    parameters = {
        **{k: params[k] for k in DEFAULTS},
        "attack_feature": feature,
        "feature_chosen_by": "explicit"
        if params["attack_feature"] is not None
        else "largest |correlation| with the label",
        "binarized": {"cut": cut, "values": values},
        "targets": "training records (members)",
        "view": "labels" if model.label_only else "probabilities",
    }
    return CheckOutcome(metrics=metrics, parameters=parameters, queries=int(model.queries - queries_before))
