"""Hardening by PGD adversarial training: robust-accuracy gain and clean-accuracy cost of a retrained copy."""

from __future__ import annotations

import numpy as np

from workers.engine.checks._support import (
    accuracy,
    attack_configs,
    default_eps,
    hardening_metrics,
    labels_of,
    pytorch_classifier,
    require_torch,
    require_training_data,
    reseed,
    robustness,
    subsample,
)
from workers.engine.types import CheckOutcome

KIND = "defense.adversarial_training"
TITLE = "Hardening: PGD adversarial training"
DESCRIPTION = (
    "Retrains a copy of the model on attacked examples (Madry et al.) and measures, with the same white-box "
    "attacks, how much robustness that buys and how much ordinary accuracy it costs."
)
NEEDS = frozenset({"train", "trainable", "gradients"})
DEFAULTS = {
    "eps": None,
    "eps_fraction": 0.1,
    "eps_step_ratio": 0.25,
    "pgd_iter": 20,
    "pgd_restarts": 0,
    "apgd_dlr": True,
    "train_max_iter": 7,
    "train_eps_step_ratio": 0.25,
    "epochs": 10,
    "batch_size": 128,
    "lr": 1e-3,
    "max_train": 2000,
    "max_eval": 500,
}
DEFENCE_NAME = "pgd_adversarial_training"


def adversarially_trained_copy(model, x_train, y_train, *, eps: float, params: dict, seed: int, ctx=None):
    """A copy of the model trained with ART's AdversarialTrainerMadryPGD, epoch by epoch."""
    from art.defences.trainer import AdversarialTrainerMadryPGD

    copy = model.trainable_copy()
    reseed(seed)
    classifier = pytorch_classifier(model, copy.torch_module(), lr=float(params["lr"]))
    epochs = int(params["epochs"])
    trainer = AdversarialTrainerMadryPGD(
        classifier,
        nb_epochs=epochs,
        batch_size=int(params["batch_size"]),
        eps=eps,
        eps_step=float(params["train_eps_step_ratio"]) * eps,
        max_iter=int(params["train_max_iter"]),
        num_random_init=1,
    )
    for epoch in range(epochs):
        if ctx is not None:
            ctx.check_stop()
            ctx.progress(0.05 + 0.6 * epoch / epochs, f"adversarial training: epoch {epoch + 1}/{epochs}")
        trainer.fit(x_train, y_train, nb_epochs=1)
    return copy, trainer.get_classifier()


def summary(metrics: dict) -> str:
    return (
        f"PGD adversarial training moves robust accuracy at ε={metrics['eps']:g} from "
        f"{metrics['robust_accuracy_before']:.2f} to {metrics['robust_accuracy_after']:.2f} and clean accuracy from "
        f"{metrics['clean_accuracy_before']:.2f} to {metrics['clean_accuracy_after']:.2f}. Recommendation: {metrics['recommended_text']}."
    )


def run(ctx):
    model, data, params = ctx.model, ctx.data, ctx.params
    require_training_data(data, "Adversarial training")
    require_torch(model, "Adversarial training retrains a neural network")
    eps = default_eps(model, params)
    configs = attack_configs(params, eps, model.nb_classes)

    train_idx = subsample(ctx.rng, len(data.x_train), params["max_train"])
    x_train = data.x_train[train_idx].astype(np.float32)
    y_train = data.y_train[train_idx].astype(np.int64)
    eval_idx = subsample(ctx.rng, len(data.x_eval), params["max_eval"])
    x_eval = data.x_eval[eval_idx].astype(np.float32)
    y_eval = data.y_eval[eval_idx].astype(np.int64)

    queries_before = model.queries
    original = model.logits_classifier()
    ctx.progress(0.02, "attacking the original model")
    before = robustness(original, original, x_eval, y_eval, configs, ctx.seed, ctx)
    clean_before = accuracy(labels_of(original, x_eval), y_eval)

    _, hardened = adversarially_trained_copy(
        model, x_train, y_train, eps=eps, params=params, seed=ctx.seed, ctx=ctx
    )
    ctx.progress(0.7, "attacking the hardened copy")
    after = robustness(hardened, hardened, x_eval, y_eval, configs, ctx.seed, ctx)
    clean_after = accuracy(labels_of(hardened, x_eval), y_eval)

    metrics = hardening_metrics(defence=DEFENCE_NAME, before=before, after=after, clean_before=clean_before,
                                clean_after=clean_after, n_eval=int(len(x_eval)), eps=eps, prior=ctx.prior)
    parameters = {
        **{k: params[k] for k in DEFAULTS},
        "eps": eps,
        "trainer": {
            "class": "AdversarialTrainerMadryPGD",
            "eps": eps,
            "eps_step": float(params["train_eps_step_ratio"]) * eps,
            "max_iter": int(params["train_max_iter"]),
            "num_random_init": 1,
            "nb_epochs": int(params["epochs"]),
            "batch_size": int(params["batch_size"]),
            "optimizer": {"name": "Adam", "lr": float(params["lr"])},
        },
        "attacks": configs,
        "threat_model": "white-box, L∞, worst case per example over the attacks",
        "n_train": int(len(x_train)),
    }
    return CheckOutcome(metrics=metrics, parameters=parameters, queries=int(model.queries - queries_before))
