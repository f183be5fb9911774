"""Shared pieces of the evasion checks: sample selection, attack configurations and perturbation norms.

An attack configuration is a plain dict naming the ART class and every argument it is
constructed with; it is recorded in the result so the same numbers can be recomputed by
calling ART directly.
"""

from __future__ import annotations

import random

import numpy as np

from workers.engine import art_compat  # noqa: F401  (ART's data path before ART is imported)

NORMS = {"inf": np.inf, "2": 2}


def select_indices(n_total: int, max_samples: int | None, seed: int) -> np.ndarray:
    """Sorted evaluation indices: the first max_samples of one seeded permutation.

    Every check draws from the same permutation, so a smaller selection is a subset of a larger one.
    """
    if max_samples is None or max_samples <= 0 or max_samples >= n_total:
        return np.arange(n_total)
    order = np.random.default_rng(seed).permutation(n_total)
    return np.sort(order[: int(max_samples)])


def reseed(seed: int) -> None:
    """Seed the generators ART draws from (numpy's global state, python, torch) before one attack."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


def one_hot(y: np.ndarray, nb_classes: int) -> np.ndarray:
    encoded = np.zeros((len(y), nb_classes), dtype=np.float32)
    encoded[np.arange(len(y)), y] = 1.0
    return encoded


def value_span(model) -> float:
    low, high = model.clip_values
    return float(high) - float(low)


def fgsm_config(eps: float, norm: str, batch_size: int) -> dict:
    return {
        "attack": "FastGradientMethod",
        "norm": norm,
        "eps": float(eps),
        "eps_step": float(eps),
        "targeted": False,
        "num_random_init": 0,
        "minimal": False,
        "batch_size": int(batch_size),
    }


def pgd_config(
    eps: float, norm: str, batch_size: int, *, max_iter: int, step_factor: float, random_init: int
) -> dict:
    return {
        "attack": "ProjectedGradientDescent",
        "norm": norm,
        "eps": float(eps),
        # Madry et al.'s step: enough to cross the ε-ball 2.5 times over the iterations.
        "eps_step": float(step_factor) * float(eps) / int(max_iter),
        "max_iter": int(max_iter),
        "targeted": False,
        "num_random_init": int(random_init),
        "random_eps": False,
        "batch_size": int(batch_size),
    }


def build_attack(config: dict, classifier):
    """The ART attack object for a configuration dict (see fgsm_config / pgd_config)."""
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent

    norm = NORMS[str(config["norm"])]
    if config["attack"] == "FastGradientMethod":
        return FastGradientMethod(
            classifier,
            norm=norm,
            eps=config["eps"],
            eps_step=config["eps_step"],
            targeted=config["targeted"],
            num_random_init=config["num_random_init"],
            minimal=config["minimal"],
            batch_size=config["batch_size"],
        )
    if config["attack"] == "ProjectedGradientDescent":
        return ProjectedGradientDescent(
            classifier,
            norm=norm,
            eps=config["eps"],
            eps_step=config["eps_step"],
            max_iter=config["max_iter"],
            targeted=config["targeted"],
            num_random_init=config["num_random_init"],
            random_eps=config["random_eps"],
            batch_size=config["batch_size"],
            verbose=False,
        )
    raise ValueError(f"unknown attack {config['attack']!r}")


def run_attack(config: dict, classifier, x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Adversarial examples for one configuration, seeded so the call can be replayed alone."""
    reseed(seed)
    attack = build_attack(config, classifier)
    return attack.generate(x, y=one_hot(y, classifier.nb_classes)).astype(np.float32)


def predicted_labels(classifier, x: np.ndarray, batch_size: int) -> np.ndarray:
    return np.argmax(classifier.predict(x, batch_size=batch_size), axis=1).astype(np.int64)


def perturbation_norms(x_adv: np.ndarray, x: np.ndarray, norm: str) -> np.ndarray:
    delta = (x_adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
    if str(norm) == "inf":
        return np.abs(delta).max(axis=1) if delta.size else np.zeros(len(x))
    return np.linalg.norm(delta, axis=1)


def summary_stats(values: np.ndarray) -> tuple[float | None, float | None]:
    if len(values) == 0:
        return None, None
    return float(np.mean(values)), float(np.median(values))
