"""Model extraction: how closely a thief trained on the model's answers copies it, per query budget and output defence."""

from __future__ import annotations

import numpy as np

from workers.engine.checks._support import accuracy, per_budget, reseed, subsample, value_range
from workers.engine.types import CheckOutcome, QueryBudgetExceeded

KIND = "extraction"
TITLE = "Model extraction (Copycat, Knockoff Nets)"
DESCRIPTION = (
    "Plays a thief who sends the model a few hundred or thousand queries and trains a look-alike on its answers. "
    "Reports how accurate the stolen copy is and how often it agrees with your model, and how much returning "
    "only labels or rounded scores slows the theft down."
)
NEEDS = frozenset()
DEFAULTS = {
    "budgets": [250, 1000],
    "attacks": ["copycat", "knockoff"],
    "outputs": ["probabilities", "label_only", "rounded"],
    "rounding_decimals": 1,
    "thief_epochs": 20,
    "thief_batch_size": 32,
    # Knockoff with random sampling is Copycat on probabilities; adaptive sampling (a bandit over the
    # attacker's own labelled pool) is the variant that adds something.
    "knockoff_sampling": "adaptive",
    # Adaptive Knockoff fits the thief one query at a time (slow on CPU): run it on these outputs only.
    "knockoff_outputs": ["probabilities"],
    "thief_lr": 1e-3,
    "max_test": 1000,
}
ATTACKS = ("copycat", "knockoff")
OUTPUTS = ("probabilities", "label_only", "rounded")


def make_thief(input_shape: tuple, nb_classes: int):
    """The thief's architecture: a small CNN for images, an MLP for tabular data.

    The thief does not know the victim's architecture, so the same generic network is used
    whatever the victim is (including black-box endpoints and ONNX files).
    """
    import torch
    from torch import nn

    if len(input_shape) == 3:
        channels = int(input_shape[0])
        return nn.Sequential(
            nn.Conv2d(channels, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(32 * 16, 64),
            nn.ReLU(),
            nn.Linear(64, nb_classes),
        )
    n_features = int(np.prod(input_shape))
    return nn.Sequential(nn.Flatten(), nn.Linear(n_features, 64), nn.ReLU(), nn.Linear(64, nb_classes)).to(
        torch.float32
    )


def thief_classifier(model, *, lr: float):
    import torch
    from art.estimators.classification import PyTorchClassifier

    thief = make_thief(tuple(model.input_shape), model.nb_classes)
    return PyTorchClassifier(
        model=thief,
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.Adam(thief.parameters(), lr=lr),
        input_shape=tuple(model.input_shape),
        nb_classes=model.nb_classes,
        clip_values=value_range(model),
        device_type="cpu",
    )


def extraction_attack(
    name: str,
    victim_view,
    *,
    budget: int,
    epochs: int,
    batch_size: int,
    use_probability: bool,
    sampling: str = "random",
):
    from art.attacks.extraction import CopycatCNN

    from workers.engine.art_compat import knockoff_nets_class

    if name == "copycat":
        return CopycatCNN(
            victim_view,
            batch_size_fit=batch_size,
            batch_size_query=batch_size,
            nb_epochs=epochs,
            nb_stolen=budget,
            use_probability=use_probability,
        )
    return knockoff_nets_class()(
        victim_view,
        batch_size_fit=batch_size,
        batch_size_query=batch_size,
        nb_epochs=epochs,
        nb_stolen=budget,
        sampling_strategy=sampling,
        verbose=False,
        use_probability=use_probability,
    )


def victim_view(model, output: str, decimals: int):
    if output == "label_only":
        return model.proba_classifier(label_only=True)
    if output == "rounded":
        return model.proba_classifier(rounding=decimals)
    return model.proba_classifier()


def attacker_pool_and_test(data, rng, max_test: int):
    """The thief's query pool with its own labels (data it could plausibly hold) and the test set.

    Training and holdout data serve as the pool; without them the evaluation set is split in half.
    """
    pools = [
        (x, y)
        for x, y in ((data.x_train, data.y_train), (data.x_holdout, data.y_holdout))
        if x is not None and len(x)
    ]
    if pools:
        pool = np.concatenate([x for x, _ in pools]).astype(np.float32)
        pool_labels = np.concatenate([y for _, y in pools]).astype(np.int64)
        test_idx = subsample(rng, len(data.x_eval), max_test)
        return (
            pool,
            pool_labels,
            data.x_eval[test_idx].astype(np.float32),
            data.y_eval[test_idx].astype(np.int64),
        )
    order = rng.permutation(len(data.x_eval))
    half = len(order) // 2
    pool_idx, test_idx = np.sort(order[:half]), np.sort(order[half:])[: int(max_test)]
    return (
        data.x_eval[pool_idx].astype(np.float32),
        data.y_eval[pool_idx].astype(np.int64),
        data.x_eval[test_idx].astype(np.float32),
        data.y_eval[test_idx].astype(np.int64),
    )


def steal(
    model,
    view,
    pool,
    pool_labels,
    *,
    attack: str,
    budget: int,
    params: dict,
    seed: int,
    use_probability: bool,
):
    """One extraction, seeded so ART called directly with the same arguments gives the same thief."""
    reseed(seed)
    thief = thief_classifier(model, lr=float(params["thief_lr"]))
    sampling = params["knockoff_sampling"]
    extractor = extraction_attack(
        attack,
        view,
        budget=budget,
        epochs=int(params["thief_epochs"]),
        batch_size=int(params["thief_batch_size"]),
        use_probability=use_probability,
        sampling=sampling,
    )
    if attack == "knockoff" and sampling == "adaptive":
        return extractor.extract(pool, y=pool_labels, thieved_classifier=thief)
    return extractor.extract(pool, thieved_classifier=thief)


def summary(metrics: dict) -> str:
    if metrics.get("agreement") is None:
        return "No extraction completed within the model's query budget."
    largest = max(metrics["budgets"]) if metrics["budgets"] else 0
    text = (
        f"A thief with up to {largest} queries built a copy that agrees with the model on "
        f"{metrics['agreement']:.0%} of test inputs (stolen accuracy {metrics['stolen_accuracy']:.2f})."
    )
    label_only = metrics["per_output"].get("label_only")
    if label_only and "agreement_drop_label_only" in metrics:
        text += f" Returning labels only: {label_only['agreement']:.0%}."
    return text


def run(ctx):
    model, data, params = ctx.model, ctx.data, ctx.params
    attacks = [a for a in params["attacks"] if a in ATTACKS]
    outputs = [o for o in params["outputs"] if o in OUTPUTS]
    if model.label_only:
        # The model already answers with labels only; the other outputs do not exist for the thief.
        outputs = ["label_only"]
    if not attacks or not outputs:
        raise ValueError(f"attacks must come from {ATTACKS} and outputs from {OUTPUTS}")
    decimals = int(params["rounding_decimals"])

    if params["knockoff_sampling"] not in ("random", "adaptive"):
        raise ValueError("knockoff_sampling must be 'random' or 'adaptive'")
    pool, pool_labels, x_test, y_test = attacker_pool_and_test(data, ctx.rng, int(params["max_test"]))
    budgets = per_budget(params["budgets"], len(pool))
    queries_before = model.queries
    victim_labels = model.predict_labels(x_test)
    victim_accuracy = accuracy(victim_labels, y_test)

    rows, notes = [], []
    plan = [
        (output, attack)
        for output in outputs
        for attack in attacks
        if attack != "knockoff" or output in params["knockoff_outputs"] or len(outputs) == 1
    ]
    total = len(plan) * len(budgets)
    done = 0
    exhausted = False
    for output in outputs:
        view = victim_view(model, output, decimals)
        for attack in [a for o, a in plan if o == output]:
            for budget in budgets:
                ctx.check_stop()
                ctx.progress(done / total, f"{attack} on {output} output, {budget} queries")
                try:
                    stolen = steal(
                        model,
                        view,
                        pool,
                        pool_labels,
                        attack=attack,
                        budget=budget,
                        params=params,
                        seed=ctx.seed,
                        use_probability=output != "label_only",
                    )
                except QueryBudgetExceeded as exc:
                    notes.append(
                        f"Stopped at {attack}/{output}/{budget}: the model's query budget ran out ({exc})."
                    )
                    exhausted = True
                    break
                stolen_labels = np.argmax(stolen.predict(x_test), axis=1)
                rows.append(
                    {
                        "output": output,
                        "attack": attack,
                        "budget": int(budget),
                        "stolen_accuracy": accuracy(stolen_labels, y_test),
                        "agreement": accuracy(stolen_labels, victim_labels),
                    }
                )
                done += 1
            if exhausted:
                break
        if exhausted:
            break

    def best(output: str, field: str) -> float | None:
        values = [r[field] for r in rows if r["output"] == output]
        return max(values) if values else None

    headline_output = outputs[0]
    metrics = {
        "victim_accuracy": victim_accuracy,
        "stolen_accuracy": best(headline_output, "stolen_accuracy"),
        "agreement": best(headline_output, "agreement"),
        "stolen_accuracy_ratio": (best(headline_output, "stolen_accuracy") or 0.0) / victim_accuracy
        if victim_accuracy
        else 0.0,
        "per_output": {
            o: {"stolen_accuracy": best(o, "stolen_accuracy"), "agreement": best(o, "agreement")}
            for o in outputs
            if best(o, "agreement") is not None
        },
        "results": rows,
        "budgets": budgets,
        "pool_size": int(len(pool)),
        "n_test": int(len(x_test)),
    }
    for output in outputs[1:]:
        if best(output, "agreement") is not None and metrics["agreement"] is not None:
            metrics[f"agreement_drop_{output}"] = metrics["agreement"] - best(output, "agreement")
    parameters = {
        **{k: params[k] for k in DEFAULTS},
        "attacks": attacks,
        "outputs": outputs,
        "budgets": budgets,
        "thief": "small CNN" if model.task == "image" else "MLP (64 hidden units)",
        "victim_view": "probabilities (softmax), never logits",
    }
    return CheckOutcome(
        metrics=metrics, parameters=parameters, queries=int(model.queries - queries_before), notes=notes
    )
