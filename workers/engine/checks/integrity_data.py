"""Dataset integrity: hash against the registered one, label balance, out-of-range values, duplicates, NaN."""

from __future__ import annotations

import hashlib

import numpy as np

from workers.engine.data import array_sha256
from workers.engine.types import CheckContext, CheckOutcome

KIND = "integrity.data"
TITLE = "Dataset integrity"
DESCRIPTION = (
    "Confirms the evaluation data is the data that was registered (same fingerprint), and looks for "
    "problems that make results misleading: missing values, values outside the model's range, duplicates, "
    "unbalanced labels, and evaluation samples that also appear in the training data."
)
NEEDS = frozenset()
DEFAULTS = {"max_samples_hashed": None}


def summary(metrics: dict) -> str:
    parts = []
    if metrics.get("hash_matches") is not None:
        parts.append(
            "fingerprint matches the registered one"
            if metrics["hash_matches"]
            else "fingerprint DIFFERS from the registered one"
        )
    parts.append(f"{metrics['duplicate_fraction']:.1%} duplicates")
    parts.append(f"{metrics['out_of_range_fraction']:.1%} samples out of range")
    parts.append(f"largest class {metrics['majority_class_fraction']:.0%}")
    return "Evaluation data: " + ", ".join(parts) + "."


def _row_digests(x: np.ndarray) -> list[bytes]:
    flat = np.ascontiguousarray(x).reshape(len(x), -1)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


def _profile(x: np.ndarray, y: np.ndarray, clip_values: tuple[float, float], nb_classes: int) -> dict:
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    non_finite = ~np.isfinite(flat)
    low, high = clip_values
    finite = np.where(non_finite, low, flat)
    out_of_range = ((finite < low - 1e-6) | (finite > high + 1e-6)).any(axis=1)
    digests = _row_digests(np.asarray(x, dtype=np.float32))
    first_label: dict[bytes, int] = {}
    duplicates = conflicting = 0
    conflicted: set[bytes] = set()
    for digest, label in zip(digests, y.tolist()):
        if digest in first_label:
            duplicates += 1
            if first_label[digest] != label and digest not in conflicted:
                conflicting += 1
                conflicted.add(digest)
        else:
            first_label[digest] = label
    counts = np.bincount(np.clip(y, 0, None), minlength=nb_classes)
    present = counts[counts > 0]
    return {
        "n_samples": len(x),
        "nan_count": int(np.isnan(flat).sum()),
        "inf_count": int(np.isinf(flat).sum()),
        "out_of_range_fraction": float(out_of_range.mean()),
        "value_min": float(finite.min()) if finite.size else None,
        "value_max": float(finite.max()) if finite.size else None,
        "duplicate_fraction": duplicates / len(x),
        "conflicting_duplicates": conflicting,
        "class_counts": counts.tolist(),
        "labels_outside_model": int(np.count_nonzero((y < 0) | (y >= nb_classes))),
        "majority_class_fraction": float(counts.max() / len(y)) if len(y) else 0.0,
        "imbalance_ratio": float(present.max() / present.min()) if len(present) else None,
        "missing_classes": [int(c) for c in np.flatnonzero(counts[:nb_classes] == 0)],
        "_digests": set(digests),
    }


def integrity_problems(metrics: dict) -> list[str]:
    """What makes the evaluation data untrustworthy (integrity_passed is 1 when this is empty).

    Duplicates and imbalance are reported as figures for thresholds, not as problems: some
    datasets legitimately contain them.
    """
    problems = []
    if metrics["hash_matches"] == 0:
        problems.append("the evaluation data differs from the registered data")
    if metrics["nan_count"] or metrics["inf_count"]:
        problems.append("the evaluation data contains NaN or infinite values")
    if metrics["out_of_range_fraction"] > 0:
        problems.append("some evaluation values lie outside the model's value range")
    if metrics["labels_outside_model"]:
        problems.append("some labels are not classes of the model")
    if metrics["conflicting_duplicates"]:
        problems.append("identical inputs carry different labels")
    return problems


def run(ctx: CheckContext) -> CheckOutcome:
    data, model = ctx.data, ctx.model
    ctx.progress(0.0, "fingerprint and profile the evaluation data")
    eval_hash = data.eval_sha256 or array_sha256(data.x_eval, data.y_eval)
    evaluation = _profile(data.x_eval, data.y_eval, model.clip_values, model.nb_classes)
    eval_digests = evaluation.pop("_digests")
    metrics: dict = {
        "evaluation_sha256": eval_hash,
        "registered_sha256": data.registered_eval_sha256,
        # None = nothing was registered to compare with (not a failure, not a pass).
        "hash_matches": None
        if not data.registered_eval_sha256
        else int(eval_hash == data.registered_eval_sha256),
        **evaluation,
    }
    datasets = {}
    for name, x, y in (("train", data.x_train, data.y_train), ("holdout", data.x_holdout, data.y_holdout)):
        ctx.check_stop()
        if x is None or y is None:
            continue
        ctx.progress(0.5, f"profile the {name} data")
        profile = _profile(x, np.asarray(y, dtype=np.int64), model.clip_values, model.nb_classes)
        digests = profile.pop("_digests")
        # Evaluation samples also present in this set inflate accuracy and hide memorisation.
        profile["overlap_with_evaluation"] = (
            float(np.mean([d in digests for d in eval_digests])) if eval_digests else 0.0
        )
        datasets[name] = profile
    if "train" in datasets:
        metrics["train_evaluation_overlap"] = datasets["train"]["overlap_with_evaluation"]
    metrics["datasets"] = datasets
    problems = integrity_problems(metrics)
    metrics["problems"] = problems
    metrics["integrity_passed"] = int(not problems)
    ctx.progress(1.0, "integrity checked")
    return CheckOutcome(metrics=metrics, parameters={**ctx.params, "clip_values": list(model.clip_values)})
