"""Backdoor poisoning: how well a trigger planted in a few training samples takes over a retrained copy."""

from __future__ import annotations

import functools

import numpy as np

from workers.engine.checks._support import accuracy, reseed, require_training_data, subsample, value_range
from workers.engine.types import CheckOutcome

KIND = "poisoning.backdoor"
TITLE = "Backdoor poisoning (trigger pattern in training data)"
DESCRIPTION = (
    "Retrains a copy of the model on training data in which a small share of samples carry a hidden trigger "
    "and a wrong label. Measures how often the trigger then forces the attacker's class, and whether clean "
    "accuracy would have given the poisoning away."
)
NEEDS = frozenset({"train", "trainable"})
DEFAULTS = {
    "poison_fraction": 0.1,
    "target_class": 0,
    "epochs": 5,
    "batch_size": 64,
    "lr": 1e-3,
    "max_train": 2000,
    "max_test": 500,
    "trigger_distance": 2,
    "trigger_features": 3,
}


class FeaturePatternTrigger:
    """Tabular trigger: a fixed set of features pushed to the top of the value range.

    The features chosen are those whose training mean lies furthest below the maximum, so
    the pattern is rare in clean data (the tabular analogue of a pixel pattern in a corner).
    """

    def __init__(self, features: list[int], value: float):
        self.features = [int(f) for f in features]
        self.value = float(value)

    @classmethod
    def for_data(cls, x_train: np.ndarray, n_features: int, high: float) -> "FeaturePatternTrigger":
        gap = high - x_train.mean(axis=0)
        chosen = np.argsort(-gap, kind="stable")[: max(1, min(n_features, x_train.shape[1]))]
        return cls(sorted(int(f) for f in chosen), high)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        triggered = np.array(x, copy=True)
        triggered[:, self.features] = self.value
        return triggered.astype(x.dtype)


def make_trigger(model, x_train: np.ndarray, params: dict):
    """The trigger function and a JSON description of it."""
    from art.attacks.poisoning.perturbations import add_pattern_bd

    _, high = value_range(model)
    if model.task == "image":
        distance = int(params["trigger_distance"])
        trigger = functools.partial(add_pattern_bd, distance=distance, pixel_value=high, channels_first=True)
        return trigger, {
            "kind": "art.add_pattern_bd",
            "distance": distance,
            "pixel_value": high,
            "channels_first": True,
        }
    trigger = FeaturePatternTrigger.for_data(x_train, int(params["trigger_features"]), high)
    return trigger, {"kind": "feature_pattern", "features": trigger.features, "value": trigger.value}


def plant_backdoor(x: np.ndarray, y: np.ndarray, trigger, *, fraction: float, target_class: int, rng):
    """Replace `fraction` of the non-target samples with triggered copies labelled `target_class`.

    Returns the poisoned set and a boolean mask of the planted samples.
    """
    from art.attacks.poisoning import PoisoningAttackBackdoor

    candidates = np.flatnonzero(y != target_class)
    n_poison = int(round(fraction * len(x)))
    n_poison = min(n_poison, len(candidates))
    planted = np.zeros(len(x), dtype=bool)
    x_poisoned, y_poisoned = np.array(x, copy=True), np.array(y, copy=True)
    if n_poison == 0:
        return x_poisoned, y_poisoned, planted
    chosen = np.sort(rng.choice(candidates, size=n_poison, replace=False))
    attack = PoisoningAttackBackdoor(trigger)
    x_bd, y_bd = attack.poison(x[chosen], y=np.full(n_poison, target_class, dtype=np.int64))
    x_poisoned[chosen] = x_bd
    y_poisoned[chosen] = y_bd
    planted[chosen] = True
    return x_poisoned, y_poisoned, planted


def train_copy(model, x, y, *, epochs: int, batch_size: int, lr: float, seed: int, ctx, step: str, span):
    """Fit a fresh trainable copy epoch by epoch, so a cancel request is honoured between epochs."""
    copy = model.trainable_copy()
    reseed(seed)
    if model.framework == "torch":
        for epoch in range(epochs):
            ctx.check_stop()
            copy.fit(x, y, epochs=1, batch_size=batch_size, lr=lr, seed=seed + epoch)
            ctx.progress(
                span[0] + (span[1] - span[0]) * (epoch + 1) / epochs, f"{step}: epoch {epoch + 1}/{epochs}"
            )
    else:
        copy.fit(x, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
        ctx.progress(span[1], step)
    return copy


def summary(metrics: dict) -> str:
    return (
        f"A trigger in {metrics['n_poisoned']} of {metrics['n_train']} training samples steers "
        f"{metrics['attack_success_rate']:.0%} of triggered inputs to the attacker's class, while clean accuracy "
        f"moves from {metrics['clean_accuracy_baseline']:.2f} to {metrics['clean_accuracy_poisoned']:.2f}."
    )


def run(ctx):
    model, data, params = ctx.model, ctx.data, ctx.params
    require_training_data(data, "Backdoor poisoning")
    target = int(params["target_class"])
    if not 0 <= target < model.nb_classes:
        raise ValueError(f"target_class {target} is outside 0..{model.nb_classes - 1}")

    train_idx = subsample(ctx.rng, len(data.x_train), params["max_train"])
    x_train = data.x_train[train_idx].astype(np.float32)
    y_train = data.y_train[train_idx].astype(np.int64)
    test_idx = subsample(ctx.rng, len(data.x_eval), params["max_test"])
    x_test = data.x_eval[test_idx].astype(np.float32)
    y_test = data.y_eval[test_idx].astype(np.int64)

    trigger, trigger_record = make_trigger(model, x_train, params)
    x_poisoned, y_poisoned, planted = plant_backdoor(
        x_train, y_train, trigger, fraction=float(params["poison_fraction"]), target_class=target, rng=ctx.rng
    )
    fit_kwargs = dict(
        epochs=int(params["epochs"]), batch_size=int(params["batch_size"]), lr=float(params["lr"])
    )

    ctx.progress(0.02, "training the clean copy")
    baseline = train_copy(
        model, x_train, y_train, seed=ctx.seed, ctx=ctx, step="clean copy", span=(0.02, 0.45), **fit_kwargs
    )
    ctx.progress(0.45, "training the poisoned copy")
    poisoned = train_copy(
        model,
        x_poisoned,
        y_poisoned,
        seed=ctx.seed,
        ctx=ctx,
        step="poisoned copy",
        span=(0.45, 0.9),
        **fit_kwargs,
    )
    ctx.check_stop()

    ctx.progress(0.92, "measuring the trigger")
    not_target = y_test != target
    x_triggered = trigger(x_test[not_target])
    queries_before = model.queries
    original_clean = accuracy(model.predict_labels(x_test), y_test)
    clean_baseline = accuracy(baseline.predict_labels(x_test), y_test)
    clean_poisoned = accuracy(poisoned.predict_labels(x_test), y_test)
    hits_poisoned = poisoned.predict_labels(x_triggered) == target
    hits_baseline = baseline.predict_labels(x_triggered) == target
    queries = (model.queries - queries_before) + baseline.queries + poisoned.queries

    metrics = {
        "attack_success_rate": float(np.mean(hits_poisoned)) if len(hits_poisoned) else 0.0,
        "trigger_rate_clean_copy": float(np.mean(hits_baseline)) if len(hits_baseline) else 0.0,
        "clean_accuracy_original": original_clean,
        "clean_accuracy_baseline": clean_baseline,
        "clean_accuracy_poisoned": clean_poisoned,
        "clean_accuracy_cost": clean_baseline - clean_poisoned,
        "n_poisoned": int(planted.sum()),
        "n_train": int(len(x_train)),
        "n_triggered_test": int(len(x_triggered)),
    }
    parameters = {
        **{k: params[k] for k in DEFAULTS},
        "trigger": trigger_record,
        "poisoning": "art.PoisoningAttackBackdoor, dirty-label, replaces non-target training samples",
        "training": "fine-tune a copy of the model"
        if model.framework == "torch"
        else "refit a clone of the estimator",
        "n_train": int(len(x_train)),
        "n_test": int(len(x_test)),
    }
    notes = []
    if metrics["trigger_rate_clean_copy"] > 0.5:
        notes.append(
            "The trigger already sends most inputs to the target class without poisoning; the success rate overstates the backdoor."
        )
    return CheckOutcome(metrics=metrics, parameters=parameters, queries=int(queries), notes=notes)
