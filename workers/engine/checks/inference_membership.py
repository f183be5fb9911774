"""Membership inference: can an attacker tell whether a record was in the training set from the model's answers?"""

from __future__ import annotations

import numpy as np

from workers.engine import art_compat
from workers.engine.checks._support import reseed, subsample
from workers.engine.types import CheckOutcome, CheckSkipped

KIND = "inference.membership"
TITLE = "Membership inference (black-box, rule-based, label-only)"
DESCRIPTION = (
    "Asks whether an attacker who sees the model's answers can tell which records were used to train it — a "
    "privacy leak for personal data. Uses equal numbers of training records and never-seen records, so a "
    "score of 0.5 AUC means the attacker learns nothing."
)
NEEDS = frozenset({"train", "holdout"})
DEFAULTS = {
    "max_per_side": 500,
    "attack_models": ["rf", "nn"],
    "nn_epochs": 100,
    "label_only": False,
}
ATTACK_MODELS = ("nn", "rf", "gb", "lr", "dt", "knn", "svm")


def membership_scores(labels: np.ndarray, scores: np.ndarray) -> dict:
    """AUC, membership advantage (max TPR − FPR) and TPR at 1% FPR of one attack on a balanced test set."""
    from sklearn.metrics import roc_auc_score, roc_curve

    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    fpr, tpr, _ = roc_curve(labels, scores)
    at_low_fpr = tpr[fpr <= 0.01]
    return {
        "auc": float(roc_auc_score(labels, scores)),
        "advantage": float(np.max(tpr - fpr)),
        "tpr_at_1pct_fpr": float(at_low_fpr.max()) if len(at_low_fpr) else 0.0,
        "accuracy": float(np.mean((scores >= 0.5) == (labels == 1))),
    }


def balanced_split(data, rng, max_per_side: int):
    """Equal numbers of members and non-members, each split in halves to fit and to test the attack."""
    n = min(len(data.x_train), len(data.x_holdout), int(max_per_side))
    if n < 20:
        raise CheckSkipped(f"membership inference needs at least 20 training and 20 holdout records; has {n}")
    members = subsample(rng, len(data.x_train), n)
    non_members = subsample(rng, len(data.x_holdout), n)
    m_order, n_order = rng.permutation(n), rng.permutation(n)
    half = n // 2
    return {
        "fit_members": (data.x_train[members[m_order[:half]]], data.y_train[members[m_order[:half]]]),
        "fit_non_members": (
            data.x_holdout[non_members[n_order[:half]]],
            data.y_holdout[non_members[n_order[:half]]],
        ),
        "test_members": (data.x_train[members[m_order[half:]]], data.y_train[members[m_order[half:]]]),
        "test_non_members": (
            data.x_holdout[non_members[n_order[half:]]],
            data.y_holdout[non_members[n_order[half:]]],
        ),
    }


def black_box_attack(view, split: dict, predictions: dict, *, attack_model: str, nn_epochs: int, seed: int):
    """ART's MembershipInferenceBlackBox fitted on half the records; membership probabilities for the rest."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox

    reseed(seed)
    attack = MembershipInferenceBlackBox(
        view, input_type="prediction", attack_model_type=attack_model, nn_model_epochs=nn_epochs
    )
    (xm, ym), (xn, yn) = split["fit_members"], split["fit_non_members"]
    attack.fit(
        x=xm,
        y=ym,
        test_x=xn,
        test_y=yn,
        pred=predictions["fit_members"],
        test_pred=predictions["fit_non_members"],
    )
    x_test, y_test, pred_test = _test_set(split, predictions)
    return attack.infer(x_test, y_test, pred=pred_test, probabilities=True).reshape(-1)


def _test_set(split: dict, predictions: dict | None = None):
    (xm, ym), (xn, yn) = split["test_members"], split["test_non_members"]
    x_test = np.concatenate([xm, xn]).astype(np.float32)
    y_test = np.concatenate([ym, yn]).astype(np.int64)
    if predictions is None:
        return x_test, y_test
    return x_test, y_test, np.concatenate([predictions["test_members"], predictions["test_non_members"]])


def summary(metrics: dict) -> str:
    return (
        f"The strongest membership attack ({metrics['strongest_attack']}) reaches AUC {metrics['auc']:.2f} "
        f"(0.5 = guessing), advantage {metrics['advantage']:.2f}, and identifies "
        f"{metrics['tpr_at_1pct_fpr']:.0%} of members at a 1% false-positive rate."
    )


def run(ctx):
    model, data, params = ctx.model, ctx.data, ctx.params
    if data.x_train is None or data.x_holdout is None:
        raise CheckSkipped("membership inference needs both training data and holdout (non-member) data")
    attack_models = [m for m in params["attack_models"] if m in ATTACK_MODELS]
    if not attack_models:
        raise ValueError(f"attack_models must come from {ATTACK_MODELS}")

    split = balanced_split(data, ctx.rng, params["max_per_side"])
    queries_before = model.queries
    view = model.proba_classifier(label_only=model.label_only)
    ctx.progress(0.05, "querying the model on members and non-members")
    predictions = {name: view.predict(x.astype(np.float32)) for name, (x, _) in split.items()}
    x_test, y_test = _test_set(split)
    truth = np.concatenate(
        [np.ones(len(split["test_members"][0])), np.zeros(len(split["test_non_members"][0]))]
    )

    per_attack = {}
    for index, attack_model in enumerate(attack_models):
        ctx.check_stop()
        ctx.progress(0.1 + 0.7 * index / len(attack_models), f"black-box attack ({attack_model})")
        scores = black_box_attack(
            view,
            split,
            predictions,
            attack_model=attack_model,
            nn_epochs=int(params["nn_epochs"]),
            seed=ctx.seed,
        )
        per_attack[f"black_box_{attack_model}"] = membership_scores(truth, scores)

    # ART's rule-based attack (alias LabelOnlyGapAttack), with its label encoding fixed in art_compat.
    rule_based_attack = art_compat.rule_based_membership_class()
    ctx.check_stop()
    ctx.progress(0.85, "rule-based attack")
    per_attack["rule_based"] = membership_scores(truth, rule_based_attack(view).infer(x_test, y_test))
    if params["label_only"]:
        ctx.progress(0.92, "label-only gap attack")
        label_view = model.proba_classifier(label_only=True)
        per_attack["label_only_gap"] = membership_scores(
            truth, rule_based_attack(label_view).infer(x_test, y_test)
        )

    strongest = max(per_attack, key=lambda name: per_attack[name]["advantage"])
    metrics = {
        "auc": max(a["auc"] for a in per_attack.values()),
        "advantage": max(a["advantage"] for a in per_attack.values()),
        "tpr_at_1pct_fpr": max(a["tpr_at_1pct_fpr"] for a in per_attack.values()),
        "strongest_attack": strongest,
        "per_attack": per_attack,
        "n_members_test": int(truth.sum()),
        "n_non_members_test": int(len(truth) - truth.sum()),
        "n_members_fit": int(len(split["fit_members"][0])),
    }
    parameters = {
        **{k: params[k] for k in DEFAULTS},
        "attack_models": attack_models,
        "input_type": "prediction",
        "view": "labels" if model.label_only else "probabilities",
        "balanced": True,
    }
    notes = []
    if model.label_only:
        notes.append("The model answers with labels only; the black-box attacks saw one-hot outputs.")
    return CheckOutcome(
        metrics=metrics, parameters=parameters, queries=int(model.queries - queries_before), notes=notes
    )
