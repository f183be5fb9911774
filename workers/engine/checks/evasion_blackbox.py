"""Black-box evasion: HopSkipJump on labels and Square on scores (ART), under a query budget."""

from __future__ import annotations

import numpy as np

from workers.engine.checks._evasion import perturbation_norms, reseed, select_indices, value_span
from workers.engine.types import CheckContext, CheckOutcome, QueryBudgetExceeded

KIND = "evasion.blackbox"
TITLE = "Black-box evasion (HopSkipJump, Square)"
DESCRIPTION = (
    "An attacker who can only send inputs and read the answers searches for small changes that flip the "
    "prediction, within a limited number of queries. Works on every model, remote endpoints included."
)
NEEDS = frozenset()
DEFAULTS = {
    "attacks": ["hopskipjump", "square"],
    # ε as a fraction of the value range; the same reference as the white-box check, so the two compare.
    "epsilon": 0.1,
    "norm": "inf",
    "max_samples": 20,
    "chunk_size": 5,
    "query_budget": 20000,
    "hsj_max_iter": 10,
    "hsj_max_eval": 100,
    "hsj_init_eval": 10,
    "hsj_init_size": 50,
    "square_max_iter": 200,
    "square_p_init": 0.8,
}


def summary(metrics: dict) -> str:
    rate = metrics.get("success_rate")
    if rate is None:
        return ""
    return (
        f"Black-box attacks fooled {rate:.0%} of correctly classified samples "
        f"within ε={metrics['epsilon']:g}, "
        f"using {metrics['queries_used']} queries."
    )


def _hopskipjump(classifier, params: dict, norm):
    from workers.engine.art_compat import reproducible_hopskipjump

    return reproducible_hopskipjump(
        classifier,
        targeted=False,
        norm=norm,
        max_iter=int(params["hsj_max_iter"]),
        max_eval=int(params["hsj_max_eval"]),
        init_eval=int(params["hsj_init_eval"]),
        init_size=int(params["hsj_init_size"]),
        batch_size=64,
        verbose=False,
    )


def _square(classifier, params: dict, norm, eps: float):
    from art.attacks.evasion import SquareAttack

    return SquareAttack(
        classifier,
        norm=norm,
        eps=eps,
        max_iter=int(params["square_max_iter"]),
        p_init=float(params["square_p_init"]),
        nb_restarts=1,
        batch_size=64,
        verbose=False,
    )


def run(ctx: CheckContext) -> CheckOutcome:
    model, params = ctx.model, ctx.params
    queries_before = model.queries
    norm_name = str(params["norm"])
    norm = np.inf if norm_name == "inf" else 2
    eps = float(params["epsilon"]) * value_span(model)
    budget = int(params["query_budget"])

    indices = select_indices(len(ctx.data.x_eval), params.get("max_samples"), ctx.seed)
    x = np.ascontiguousarray(ctx.data.x_eval[indices], dtype=np.float32)
    y = np.asarray(ctx.data.y_eval[indices], dtype=np.int64)
    if budget < len(x):
        raise ValueError(f"the query budget ({budget}) is smaller than the {len(x)} samples to classify")
    clean_correct = model.predict_labels(x) == y
    targets = np.flatnonzero(clean_correct)

    plan, notes = [], []
    for name in params["attacks"]:
        if name == "square":
            if model.label_only:
                notes.append("Square skipped: the model returns labels only, Square needs scores.")
                continue
            if model.task != "image":
                notes.append("Square skipped: it perturbs image squares; this model takes tabular inputs.")
                continue
        elif name != "hopskipjump":
            raise ValueError(f"unknown black-box attack {name!r}; use hopskipjump and/or square")
        plan.append(name)

    chunk = max(1, int(params["chunk_size"]))
    fooled_within = np.zeros(len(x), dtype=bool)
    attacked_mask = np.zeros(len(x), dtype=bool)
    best_distance = np.full(len(x), np.inf)
    per_attack = {}
    steps_total = max(1, len(plan) * int(np.ceil(len(targets) / chunk)))
    step = 0
    for position, name in enumerate(plan):
        spent_before = model.queries
        # Each attack gets an equal share of what is left, so the first one cannot starve the next.
        share = (budget - (model.queries - queries_before)) // (len(plan) - position)
        reseed(ctx.seed)
        attacked, fooled, distances, exhausted = [], [], [], False
        for start in range(0, len(targets), chunk):
            ctx.check_stop()
            ctx.progress(
                step / steps_total, f"{name} on samples {start + 1}–{min(start + chunk, len(targets))}"
            )
            step += 1
            batch = targets[start : start + chunk]
            # The share covers every prediction of the attack, including the final label check of the chunk.
            attack_allowance = share - (model.queries - spent_before) - len(batch)
            if attack_allowance <= 0:
                exhausted = True
                break
            if name == "hopskipjump":
                attack = _hopskipjump(
                    model.proba_classifier(label_only=True, query_limit=attack_allowance), params, norm
                )
            else:
                attack = _square(model.proba_classifier(query_limit=attack_allowance), params, norm, eps)
            one_hot = np.eye(model.nb_classes, dtype=np.float32)[y[batch]]
            try:
                x_adv = attack.generate(x[batch], y=one_hot).astype(np.float32)
                adversarial_labels = model.predict_labels(x_adv)
            except QueryBudgetExceeded:
                exhausted = True
                break
            distance = perturbation_norms(x_adv, x[batch], norm_name)
            success = adversarial_labels != y[batch]
            attacked.extend(batch.tolist())
            attacked_mask[batch] = True
            fooled.extend(success.tolist())
            distances.extend(np.where(success, distance, np.inf).tolist())
            within = success & (distance <= eps * (1 + 1e-6))
            fooled_within[batch] |= within
            best_distance[batch] = np.minimum(best_distance[batch], np.where(success, distance, np.inf))
        fooled_arr = np.asarray(fooled, dtype=bool)
        distance_arr = np.asarray(distances, dtype=float)
        within_arr = fooled_arr & (distance_arr <= eps * (1 + 1e-6))
        per_attack[name] = {
            "attacked": len(attacked),
            "success_rate": float(fooled_arr.mean()) if len(fooled_arr) else None,
            "success_rate_within_epsilon": float(within_arr.mean()) if len(within_arr) else None,
            "median_perturbation": float(np.median(distance_arr[fooled_arr])) if fooled_arr.any() else None,
            "queries": int(model.queries - spent_before),
            "budget_exhausted": exhausted,
        }
        if exhausted:
            notes.append(
                f"{name} stopped after {len(attacked)} samples: the query budget of {budget} was spent."
            )
    ctx.progress(1.0, "black-box attacks done")

    # Samples the attacks finished on, plus those the model already gets wrong (not robust either way).
    evaluated = attacked_mask | ~clean_correct
    fooled_any = np.isfinite(best_distance)
    metrics = {
        "epsilon": eps,
        "norm": norm_name,
        "n_samples": len(x),
        "clean_accuracy": float(clean_correct.mean()),
        "attacked": int(attacked_mask.sum()),
        "success_rate": float(fooled_within[attacked_mask].mean()) if attacked_mask.any() else None,
        "robust_accuracy": float((clean_correct & ~fooled_within)[evaluated].mean())
        if evaluated.any()
        else None,
        "median_perturbation": float(np.median(best_distance[fooled_any])) if fooled_any.any() else None,
        "queries_used": int(model.queries - queries_before),
        "query_budget": budget,
        "attacks": per_attack,
        # Which samples were fooled within ε; evasion.sanity compares them with the white-box attacks.
        "sample_indices": indices.tolist(),
        "fooled_within_epsilon": fooled_within.tolist(),
        "attacked_mask": attacked_mask.tolist(),
    }
    parameters = {**params, "epsilon_absolute": eps, "sample_indices_seed": ctx.seed, "attacks_run": plan}
    return CheckOutcome(
        metrics=metrics, parameters=parameters, queries=model.queries - queries_before, notes=notes
    )
