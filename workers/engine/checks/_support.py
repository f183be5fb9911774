"""Helpers shared by the poisoning, extraction, inference, defence and detection checks."""

from __future__ import annotations

import random
from collections.abc import Iterable

import numpy as np

from workers.engine import art_compat  # noqa: F401  (ART's data path before ART is imported)
from workers.engine.types import CheckSkipped

# A hardening "pays off" when it buys robust accuracy without costing more clean accuracy than this.
MAX_CLEAN_COST = 0.05
# ... and when its gain is more than sampling noise on a few hundred evaluation samples.
MIN_ROBUST_GAIN = 0.02


def reseed(seed: int) -> None:
    """Seed every generator ART and torch draw from, so each step can be replayed with ART alone."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def accuracy(predicted_labels: np.ndarray, y: np.ndarray) -> float:
    if len(y) == 0:
        return 0.0
    return float(np.mean(np.asarray(predicted_labels) == np.asarray(y)))


def labels_of(classifier, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return np.argmax(classifier.predict(x.astype(np.float32), batch_size=batch_size), axis=1)


def value_range(model) -> tuple[float, float]:
    low, high = model.clip_values
    return float(low), float(high)


def default_eps(model, params: dict) -> float:
    """ε in the model's own value range: an explicit value, else a fraction of the range."""
    if params.get("eps") is not None:
        return float(params["eps"])
    low, high = value_range(model)
    return float(params.get("eps_fraction", 0.1)) * (high - low)


def require_torch(model, why: str) -> None:
    if model.framework != "torch":
        raise CheckSkipped(f"{why}: it needs a PyTorch (TorchScript) model, this one is {model.framework}.")


def require_image(model, why: str) -> None:
    if model.task != "image":
        raise CheckSkipped(f"{why} applies to image models only; this model takes {model.task} inputs.")


def require_training_data(data, why: str) -> None:
    if data.x_train is None or data.y_train is None or len(data.x_train) == 0:
        raise CheckSkipped(f"{why} needs the training dataset; none is registered for this run.")


def subsample(rng: np.random.Generator, n_total: int, n_wanted: int | None) -> np.ndarray:
    """Sorted random indices, so the chosen samples do not depend on the order of the data file."""
    if n_wanted is None or n_wanted >= n_total:
        return np.arange(n_total)
    return np.sort(rng.choice(n_total, size=int(n_wanted), replace=False))


def art_device_type(model) -> str:
    return "gpu" if str(model.device).startswith("cuda") else "cpu"


def pytorch_classifier(
    model,
    module,
    *,
    nb_classes: int | None = None,
    lr: float | None = None,
    loss=None,
    preprocessing_defences: list | None = None,
):
    """An ART PyTorchClassifier over `module` (a ModelHandle.torch_module(): normalisation already inside).

    `lr` adds an Adam optimizer so ART's trainers can fit the module.
    """
    import torch
    from art.estimators.classification import PyTorchClassifier

    optimizer = torch.optim.Adam(module.parameters(), lr=lr) if lr is not None else None
    return PyTorchClassifier(
        model=module,
        loss=loss if loss is not None else torch.nn.CrossEntropyLoss(),
        optimizer=optimizer,
        input_shape=tuple(model.input_shape),
        nb_classes=nb_classes if nb_classes is not None else model.nb_classes,
        clip_values=value_range(model),
        preprocessing_defences=preprocessing_defences,
        device_type=art_device_type(model),
    )


def attack_configs(params: dict, eps: float, nb_classes: int) -> dict:
    """The white-box threat model of the defence checks: L∞ PGD on cross-entropy, and APGD on the
    difference-of-logits ratio, which keeps working where saturated softmax hides the gradient
    (defensive distillation). Every hyper-parameter is spelled out for the record."""
    max_iter = int(params.get("pgd_iter", 20))
    configs = {
        "pgd": {
            "attack": "ProjectedGradientDescent",
            "norm": "inf",
            "eps": float(eps),
            "eps_step": float(params.get("eps_step_ratio", 0.25)) * float(eps),
            "max_iter": max_iter,
            "num_random_init": int(params.get("pgd_restarts", 0)),
            "batch_size": int(params.get("batch_size", 128)),
        }
    }
    if params.get("apgd_dlr", True) and nb_classes >= 3:
        configs["apgd_dlr"] = {
            "attack": "AutoProjectedGradientDescent",
            "loss_type": "difference_logits_ratio",
            "norm": "inf",
            "eps": float(eps),
            "eps_step": 2.0 * float(eps),
            "max_iter": max_iter,
            "nb_random_init": 1,
            "batch_size": int(params.get("batch_size", 128)),
        }
    return configs


def make_attack(classifier, config: dict):
    from art.attacks.evasion import AutoProjectedGradientDescent, ProjectedGradientDescent

    if config["attack"] == "ProjectedGradientDescent":
        return ProjectedGradientDescent(
            classifier,
            norm=np.inf,
            eps=config["eps"],
            eps_step=config["eps_step"],
            max_iter=config["max_iter"],
            num_random_init=config["num_random_init"],
            batch_size=config["batch_size"],
            targeted=False,
            verbose=False,
        )
    return AutoProjectedGradientDescent(
        classifier,
        norm=np.inf,
        eps=config["eps"],
        eps_step=config["eps_step"],
        max_iter=config["max_iter"],
        targeted=False,
        nb_random_init=config["nb_random_init"],
        batch_size=config["batch_size"],
        loss_type=config["loss_type"],
        verbose=False,
    )


def adversarial_examples(classifier, x: np.ndarray, y: np.ndarray, config: dict, seed: int) -> np.ndarray:
    """One attack, seeded so ART called directly with the same config and seed gives the same examples."""
    reseed(seed)
    return make_attack(classifier, config).generate(x.astype(np.float32), y=y).astype(np.float32)


def robustness(attacked, evaluated, x: np.ndarray, y: np.ndarray, configs: dict, seed: int, ctx=None) -> dict:
    """Robust accuracy of `evaluated` against attacks computed on `attacked` (the same model, or a
    surrogate for transfer), worst case per example over the clean input and every attack."""
    still_correct = labels_of(evaluated, x) == y
    per_attack = {}
    for name, config in configs.items():
        if ctx is not None:
            ctx.check_stop()
        x_adv = adversarial_examples(attacked, x, y, config, seed)
        correct = labels_of(evaluated, x_adv) == y
        per_attack[name] = float(correct.mean()) if len(y) else 0.0
        still_correct &= correct
    return {"robust_accuracy": float(still_correct.mean()) if len(y) else 0.0, "per_attack": per_attack}


def recommend(
    candidates: Iterable[dict], *, max_clean_cost: float = MAX_CLEAN_COST, min_gain: float = MIN_ROBUST_GAIN
) -> dict:
    """The hardening with the largest robust-accuracy gain whose clean-accuracy cost is acceptable.

    Each candidate is {"defence", "robust_gain", "clean_cost"}.
    """
    paying = [c for c in candidates if c["robust_gain"] >= min_gain and c["clean_cost"] <= max_clean_cost]
    if not paying:
        return {
            "defence": None,
            "text": (
                f"none pays off: no hardening raised robust accuracy by at least {min_gain:.2f} "
                f"at a clean-accuracy cost of at most {max_clean_cost:.2f}"
            ),
            "max_clean_cost": max_clean_cost,
            "min_gain": min_gain,
        }
    best = max(paying, key=lambda c: (c["robust_gain"], -c["clean_cost"]))
    return {
        "defence": best["defence"],
        "robust_gain": best["robust_gain"],
        "clean_cost": best["clean_cost"],
        "text": (
            f"{best['defence']} pays off: robust accuracy +{best['robust_gain']:.3f} "
            f"for a clean-accuracy cost of {best['clean_cost']:.3f}"
        ),
        "max_clean_cost": max_clean_cost,
        "min_gain": min_gain,
    }


def hardening_metrics(*, defence: str, before: dict, after: dict, clean_before: float, clean_after: float,
                      n_eval: int, eps: float, prior: dict, **extra) -> dict:
    """Metrics of a hardened copy against the original, both attacked the same way (the training defences)."""
    candidate = {
        "defence": defence,
        "robust_gain": after["robust_accuracy"] - before["robust_accuracy"],
        "clean_cost": clean_before - clean_after,
        "robust_accuracy": after["robust_accuracy"],
        "clean_accuracy": clean_after,
    }
    return {
        "clean_accuracy_before": clean_before,
        "clean_accuracy_after": clean_after,
        "robust_accuracy_before": before["robust_accuracy"],
        "robust_accuracy_after": after["robust_accuracy"],
        "robust_gain": candidate["robust_gain"],
        "clean_cost": candidate["clean_cost"],
        "per_attack_before": before["per_attack"],
        "per_attack_after": after["per_attack"],
        "eps": eps,
        **extra,
        "n_eval": n_eval,
        **recommendation_metrics([candidate], prior),
    }


def recommendation_metrics(own_candidates: list[dict], prior: dict) -> dict:
    """Own recommendation plus the combined one over every defence check already run in this suite."""
    combined = list(own_candidates)
    for kind, result in (prior or {}).items():
        if not kind.startswith("defense.") or result.status in ("error", "skipped"):
            continue
        combined.extend(result.metrics.get("candidates", []))
    own = recommend(own_candidates)
    overall = recommend(combined)
    return {
        "candidates": own_candidates,
        "recommendation": own,
        "recommended": overall["defence"] if overall["defence"] else "none pays off",
        "recommended_text": overall["text"],
    }


def per_budget(budgets: Iterable[int], available: int) -> list[int]:
    """Query budgets the data can actually serve, without duplicates, in ascending order."""
    capped = sorted({min(int(b), int(available)) for b in budgets if int(b) > 0})
    return [b for b in capped if b > 0]
