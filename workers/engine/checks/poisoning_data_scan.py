"""Training-data poison scan: activation clustering and spectral signatures, calibrated on a planted backdoor."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from workers.engine.checks._support import reseed, require_torch, require_training_data, subsample
from workers.engine.checks.poisoning_backdoor import make_trigger, plant_backdoor, train_copy
from workers.engine.types import CheckOutcome

KIND = "poisoning.data_scan"
TITLE = "Training-data poison scan (activation clustering, spectral signatures)"
DESCRIPTION = (
    "Looks for poisoned samples in the registered training set by how the model's inner activations cluster. "
    "Because these detectors also flag clean data, each is first tried on a copy trained with a known planted "
    "poison, and its precision and recall there are reported next to what it flags in your data."
)
NEEDS = frozenset({"train", "trainable", "gradients"})
DEFAULTS = {
    "max_train": 2000,
    # Planted share of the whole set; all of it lands in the target class, so keep it small enough
    # that the poison stays a minority there, as the spectral-signature method assumes.
    "poison_fraction": 0.05,
    "spectral_expected_fraction": 0.15,
    "target_class": 0,
    "epochs": 5,
    "batch_size": 64,
    "lr": 1e-3,
    "trigger_distance": 2,
    "trigger_features": 3,
    "nb_dims": 10,
    "cluster_analysis": "smaller",
    "spectral_eps_multiplier": 1.5,
}
# "relative-size" crashes on numpy >= 2.2 and "silhouette-scores" is not calibrated here.
CLUSTER_ANALYSES = ("smaller", "distance")


def penultimate_classifier(model):
    """An ART classifier whose last layer is the model's penultimate layer.

    ART's ActivationDefence and SpectralSignatureDefense read the activations of the last
    layer ART can see, which for a wrapped torch model is the logits. Exposing the
    penultimate activations as that layer makes both detectors work where the backdoor
    signal lives, without changing their code.
    """
    import torch
    from art.estimators.classification import PyTorchClassifier

    class PenultimateActivations(torch.nn.Module):
        def __init__(self, handle):
            super().__init__()
            self.handle = handle

        def forward(self, x):
            features = self.handle.penultimate(x.detach().cpu().numpy())
            return torch.from_numpy(np.asarray(features, dtype=np.float32)).to(x.device)

    module = torch.nn.Sequential(OrderedDict(penultimate=PenultimateActivations(model)))
    return PyTorchClassifier(
        model=module,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=tuple(model.input_shape),
        nb_classes=model.nb_classes,
        clip_values=tuple(float(v) for v in model.clip_values),
        device_type="cpu",
    )


def activation_clustering(classifier, x, y, *, nb_dims: int, cluster_analysis: str, seed: int) -> np.ndarray:
    """Boolean mask of samples ART's ActivationDefence calls poisonous."""
    from art.defences.detector.poison import ActivationDefence

    reseed(seed)
    defence = ActivationDefence(classifier, x, y)
    _, is_clean = defence.detect_poison(
        nb_clusters=2, nb_dims=nb_dims, reduce="PCA", cluster_analysis=cluster_analysis
    )
    return np.asarray(is_clean) == 0


def spectral_signatures(
    classifier, x, y, *, expected_fraction: float, eps_multiplier: float, seed: int
) -> np.ndarray:
    """Boolean mask of samples ART's SpectralSignatureDefense (with centred scores) calls poisonous."""
    from workers.engine.art_compat import centered_spectral_signature_defense

    reseed(seed)
    defence = centered_spectral_signature_defense()(
        classifier, x, y, expected_pp_poison=expected_fraction, batch_size=128, eps_multiplier=eps_multiplier
    )
    _, is_clean = defence.detect_poison()
    return np.asarray(is_clean) == 0


def detector_scores(flagged: np.ndarray, planted: np.ndarray) -> dict:
    true_pos = int(np.sum(flagged & planted))
    flagged_n = int(flagged.sum())
    planted_n = int(planted.sum())
    clean_n = int((~planted).sum())
    precision = true_pos / flagged_n if flagged_n else 0.0
    recall = true_pos / planted_n if planted_n else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "false_positive_rate": float(np.sum(flagged & ~planted) / clean_n) if clean_n else 0.0,
        "flagged_fraction": float(flagged.mean()) if len(flagged) else 0.0,
    }


def summary(metrics: dict) -> str:
    calibration = metrics["calibration"]["activation_clustering"]
    return (
        f"Activation clustering flags {metrics['suspected_fraction']:.0%} of the training set; on a planted "
        f"poison it found {calibration['recall']:.0%} of the poison with {calibration['precision']:.0%} precision "
        f"and flagged {calibration['false_positive_rate']:.0%} of clean samples."
    )


def run(ctx):
    model, data, params = ctx.model, ctx.data, ctx.params
    require_training_data(data, "The poison scan")
    require_torch(model, "The poison scan reads penultimate-layer activations")
    if params["cluster_analysis"] not in CLUSTER_ANALYSES:
        raise ValueError(f"cluster_analysis must be one of {', '.join(CLUSTER_ANALYSES)}")
    fraction = float(params["poison_fraction"])
    nb_dims = int(params["nb_dims"])
    eps_multiplier = float(params["spectral_eps_multiplier"])
    expected = float(params["spectral_expected_fraction"])

    idx = subsample(ctx.rng, len(data.x_train), params["max_train"])
    x_train = data.x_train[idx].astype(np.float32)
    y_train = data.y_train[idx].astype(np.int64)

    ctx.progress(0.02, "scanning the registered training set")
    registered_view = penultimate_classifier(model)
    queries_before = model.queries
    ac_registered = activation_clustering(
        registered_view,
        x_train,
        y_train,
        nb_dims=nb_dims,
        cluster_analysis=params["cluster_analysis"],
        seed=ctx.seed,
    )
    ss_registered = spectral_signatures(
        registered_view,
        x_train,
        y_train,
        expected_fraction=expected,
        eps_multiplier=eps_multiplier,
        seed=ctx.seed,
    )
    ctx.check_stop()

    ctx.progress(0.1, "planting a known backdoor")
    trigger, trigger_record = make_trigger(model, x_train, params)
    x_poisoned, y_poisoned, planted = plant_backdoor(
        x_train, y_train, trigger, fraction=fraction, target_class=int(params["target_class"]), rng=ctx.rng
    )
    poisoned_copy = train_copy(
        model,
        x_poisoned,
        y_poisoned,
        epochs=int(params["epochs"]),
        batch_size=int(params["batch_size"]),
        lr=float(params["lr"]),
        seed=ctx.seed,
        ctx=ctx,
        step="training a copy on the planted poison",
        span=(0.1, 0.8),
    )
    ctx.progress(0.85, "running the detectors on the planted poison")
    planted_view = penultimate_classifier(poisoned_copy)
    ac_planted = activation_clustering(
        planted_view,
        x_poisoned,
        y_poisoned,
        nb_dims=nb_dims,
        cluster_analysis=params["cluster_analysis"],
        seed=ctx.seed,
    )
    ss_planted = spectral_signatures(
        planted_view,
        x_poisoned,
        y_poisoned,
        expected_fraction=expected,
        eps_multiplier=eps_multiplier,
        seed=ctx.seed,
    )
    target = int(params["target_class"])
    x_eval_other = data.x_eval[data.y_eval != target].astype(np.float32)
    planted_success = (
        float(np.mean(poisoned_copy.predict_labels(trigger(x_eval_other)) == target))
        if len(x_eval_other)
        else 0.0
    )

    calibration = {
        "activation_clustering": detector_scores(ac_planted, planted),
        "spectral_signatures": detector_scores(ss_planted, planted),
    }
    by_class = []
    for label in range(model.nb_classes):
        members = y_train == label
        by_class.append(float(ac_registered[members].mean()) if members.any() else 0.0)
    metrics = {
        "suspected_fraction": float(ac_registered.mean()),
        "suspected_fraction_spectral": float(ss_registered.mean()),
        "suspected_fraction_by_class": by_class,
        # Share flagged beyond what the detector flags in clean data when calibrated: near 0 means nothing stands out.
        "suspected_excess": float(
            ac_registered.mean() - calibration["activation_clustering"]["false_positive_rate"]
        ),
        "detector_precision": calibration["activation_clustering"]["precision"],
        "detector_recall": calibration["activation_clustering"]["recall"],
        "calibration": calibration,
        "planted_fraction": float(planted.mean()),
        "planted_backdoor_success_rate": planted_success,
        "n_scanned": int(len(x_train)),
    }
    parameters = {
        **{k: params[k] for k in DEFAULTS},
        "layer": "penultimate",
        "activation_clustering": {
            "nb_clusters": 2,
            "reduce": "PCA",
            "nb_dims": nb_dims,
            "cluster_analysis": params["cluster_analysis"],
        },
        "spectral_signatures": {
            "expected_pp_poison": expected,
            "eps_multiplier": eps_multiplier,
            "scores": "centred rows (art_compat fix of ART 1.20.1's uncentred projection)",
        },
        "trigger": trigger_record,
    }
    notes = [
        "Spectral signatures flag a fixed share of every class (eps_multiplier × expected poison fraction); "
        "its suspected fraction is a quota, not evidence."
    ]
    if planted_success < 0.5:
        notes.append(
            f"The planted backdoor only reached {planted_success:.2f} success, so the calibration is weak."
        )
    queries = (model.queries - queries_before) + poisoned_copy.queries
    return CheckOutcome(metrics=metrics, parameters=parameters, queries=int(queries), notes=notes)
