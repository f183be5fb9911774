"""Runtime input detectors: an adversarial-input detector and a Mahalanobis anomaly detector, calibrated to a target false-positive rate."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workers.engine.checks._support import default_eps, reseed, require_torch, subsample, value_range
from workers.engine.types import CheckOutcome, CheckSkipped

KIND = "detection.train"
TITLE = "Runtime screening detectors (adversarial inputs, anomalies)"
DESCRIPTION = (
    "Trains two screens to put in front of the model in production: one that recognises attacked inputs and "
    "one that recognises inputs unlike anything the model was built for. Each is tuned to a target false-alarm "
    "rate on clean data, and its catch rate is measured, including against an attacker who knows the screen."
)
NEEDS = frozenset({"gradients"})
DEFAULTS = {
    "target_fpr": 0.01,
    "eps": None,
    "eps_fraction": 0.1,
    "eps_step_ratio": 0.25,
    "pgd_iter": 10,
    "attacks": ["fgsm", "pgd"],
    "detector_epochs": 20,
    "detector_lr": 1e-3,
    "detector_batch_size": 64,
    "max_fit": 1000,
    "adaptive": True,
    "adaptive_iter": 20,
    "adaptive_weight": 0.3,
    "mahalanobis_ridge": 1e-3,
    "artifact_dir": None,
}
ATTACKS = ("fgsm", "pgd")
DETECTOR_ARCHITECTURE = "riskapp-detector-v1"
WEIGHTS_FILE = "adversarial_detector.safetensors"
MAHALANOBIS_FILE = "mahalanobis.npz"
MANIFEST_FILE = "detector.json"


def detector_network(input_shape: tuple):
    """The adversarial-input detector: a small CNN for images, an MLP for flat inputs; two logits (clean, adversarial)."""
    from torch import nn

    if len(input_shape) == 3:
        return nn.Sequential(
            nn.Conv2d(int(input_shape[0]), 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(32 * 16, 64),
            nn.ReLU(),
            nn.Linear(64, 2),
        )
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), 64), nn.ReLU(), nn.Linear(64, 2))


def detector_classifier(model, network, *, lr: float | None):
    import torch
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(
        model=network,
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.Adam(network.parameters(), lr=lr) if lr is not None else None,
        input_shape=tuple(model.input_shape),
        nb_classes=2,
        clip_values=value_range(model),
        device_type="cpu",
    )


def adversarial_score(network, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Detector logit margin (adversarial − clean): monotone in its probability, without saturation ties."""
    import torch

    network.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = network(
                torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32))
            )
            scores.append((logits[:, 1] - logits[:, 0]).numpy())
    return np.concatenate(scores).astype(np.float64) if scores else np.zeros(0)


@dataclass
class MahalanobisModel:
    """Class means and one shared precision matrix of penultimate activations (Lee et al. 2018)."""

    means: np.ndarray  # (nb_classes, d)
    precision: np.ndarray  # (d, d)

    @classmethod
    def fit(
        cls, features: np.ndarray, labels: np.ndarray, nb_classes: int, ridge: float
    ) -> "MahalanobisModel":
        features = features.astype(np.float64)
        means = np.zeros((nb_classes, features.shape[1]))
        centred = []
        for label in range(nb_classes):
            members = features[labels == label]
            if len(members):
                means[label] = members.mean(axis=0)
                centred.append(members - means[label])
        stacked = np.concatenate(centred)
        covariance = stacked.T @ stacked / max(len(stacked), 1)
        covariance += ridge * np.trace(covariance) / covariance.shape[0] * np.eye(covariance.shape[0])
        return cls(means=means, precision=np.linalg.pinv(covariance, hermitian=True))

    def score(self, features: np.ndarray) -> np.ndarray:
        """Distance to the closest class mean; large means unlike the evaluation data.

        (x−μ)ᵀP(x−μ) = ‖Wᵀx − Wᵀμ‖² with P = WWᵀ: one matrix product per batch instead of a quadratic
        form per class, which made the anomaly score the slowest part of screening a batch.
        """
        whitening = self._whitening()
        projected = features.astype(np.float64) @ whitening
        centres = self.means @ whitening
        distances = ((projected**2).sum(axis=1)[:, None] - 2.0 * projected @ centres.T
                     + (centres**2).sum(axis=1)[None, :])
        return np.maximum(np.min(distances, axis=1), 0.0)

    def _whitening(self) -> np.ndarray:
        cached = getattr(self, "_whitening_matrix", None)
        if cached is None:
            eigenvalues, eigenvectors = np.linalg.eigh((self.precision + self.precision.T) / 2.0)
            cached = eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
            self._whitening_matrix = cached
        return cached


def calibrate_threshold(clean_scores: np.ndarray, target_fpr: float) -> float:
    """Flag scores strictly above this value: the empirical (1 − α) quantile of clean calibration
    scores (the next order statistic up), so about α of clean inputs are flagged."""
    return float(np.quantile(np.asarray(clean_scores, dtype=np.float64), 1.0 - target_fpr, method="higher"))


def adaptive_attack(
    model, network, x: np.ndarray, y: np.ndarray, *, eps: float, eps_step: float, max_iter: int, weight: float
):
    """L∞ PGD that knows the detector: ascend the classifier's cross-entropy while descending the
    detector's adversarial logit margin, so the examples both fool the model and look clean."""
    import torch

    low, high = value_range(model)
    module = model.torch_module()
    network.eval()
    x0 = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    target = torch.from_numpy(np.asarray(y, dtype=np.int64))
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    x_adv = x0.clone()
    for _ in range(max_iter):
        x_adv.requires_grad_(True)
        classifier_loss = torch.nn.functional.cross_entropy(
            module(x_adv.to(device)).cpu(), target, reduction="sum"
        )
        detector_logits = network(x_adv)
        detector_margin = (detector_logits[:, 1] - detector_logits[:, 0]).sum()
        objective = classifier_loss - weight * detector_margin
        (gradient,) = torch.autograd.grad(objective, x_adv)
        with torch.no_grad():
            x_adv = x_adv + eps_step * gradient.sign()
            x_adv = torch.max(torch.min(x_adv, x0 + eps), x0 - eps).clamp(low, high)
    return x_adv.detach().numpy().astype(np.float32)


def generate(
    model, kind: str, x: np.ndarray, y: np.ndarray, *, eps: float, params: dict, seed: int
) -> np.ndarray:
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent

    classifier = model.logits_classifier()
    reseed(seed)
    if kind == "fgsm":
        attack = FastGradientMethod(classifier, norm=np.inf, eps=eps, targeted=False, batch_size=128)
    else:
        attack = ProjectedGradientDescent(
            classifier,
            norm=np.inf,
            eps=eps,
            eps_step=float(params["eps_step_ratio"]) * eps,
            max_iter=int(params["pgd_iter"]),
            num_random_init=0,
            batch_size=128,
            verbose=False,
        )
    return attack.generate(x.astype(np.float32), y=y).astype(np.float32)


def split_sets(data, rng, max_fit: int):
    """Detector fitting data, and two disjoint halves of the clean data the model never trained on
    (evaluation plus holdout) for calibration and testing.

    The training split fits the detectors when it is registered; otherwise a third of the
    evaluation data does.
    """
    clean_x, clean_y = [data.x_eval], [data.y_eval]
    if data.x_holdout is not None and len(data.x_holdout):
        clean_x.append(data.x_holdout)
        clean_y.append(data.y_holdout)
    pool_x, pool_y = np.concatenate(clean_x), np.concatenate(clean_y)
    order = rng.permutation(len(pool_x))
    if data.x_train is not None and len(data.x_train):
        fit_idx = subsample(rng, len(data.x_train), max_fit)
        fit = (data.x_train[fit_idx], data.y_train[fit_idx])
        rest = order
    else:
        third = len(order) // 3
        fit = (pool_x[np.sort(order[:third])], pool_y[np.sort(order[:third])])
        rest = order[third:]
    half = len(rest) // 2
    calibration, test = np.sort(rest[:half]), np.sort(rest[half:])
    as_float = lambda pair: (pair[0].astype(np.float32), pair[1].astype(np.int64))  # noqa: E731
    return (
        as_float(fit),
        as_float((pool_x[calibration], pool_y[calibration])),
        as_float((pool_x[test], pool_y[test])),
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_artifacts(directory, *, network, mahalanobis: MahalanobisModel, manifest: dict) -> dict:
    """Weights as safetensors, Mahalanobis statistics as a pickle-free .npz, thresholds as JSON; returns sha256 per file."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()},
        str(directory / WEIGHTS_FILE),
    )
    np.savez(directory / MAHALANOBIS_FILE, means=mahalanobis.means, precision=mahalanobis.precision)
    hashes = {
        WEIGHTS_FILE: _sha256(directory / WEIGHTS_FILE),
        MAHALANOBIS_FILE: _sha256(directory / MAHALANOBIS_FILE),
    }
    (directory / MANIFEST_FILE).write_text(
        json.dumps({**manifest, "files": hashes}, indent=2, sort_keys=True)
    )
    hashes[MANIFEST_FILE] = _sha256(directory / MANIFEST_FILE)
    return hashes


class Detector:
    """A fitted screening detector loaded from safe artifacts, applied next to its model."""

    def __init__(self, *, network, mahalanobis: MahalanobisModel, manifest: dict, model):
        self.network = network
        self.mahalanobis = mahalanobis
        self.manifest = manifest
        self.model = model
        self.adversarial_threshold = float(manifest["thresholds"]["adversarial"])
        self.anomaly_threshold = float(manifest["thresholds"]["anomaly"])
        self._feature_fn = None

    def features(self, x: np.ndarray) -> np.ndarray:
        """The model's penultimate activations, as ModelHandle.penultimate computes them, with the feature
        extractor built once: building it freezes the TorchScript graph, which costs ~20× the forward pass
        and would dominate the latency of screening one input."""
        model = self.model
        if not hasattr(model, "_feature_function"):
            return model.penultimate(x)
        import torch

        if self._feature_fn is None:
            self._feature_fn = model._feature_function()
        x = model._normalize(model._check_batch(x))
        model._count(len(x))
        chunks = []
        with torch.no_grad():
            for start in range(0, len(x), 512):
                batch = torch.from_numpy(x[start : start + 512]).to(model._torch_device)
                chunks.append(self._feature_fn(batch).float().reshape(len(batch), -1).cpu().numpy())
        return np.concatenate(chunks) if chunks else model.penultimate(x)

    def score(self, x: np.ndarray):
        """(adversarial score, anomaly score, flags) per input; flags = {"adversarial", "anomalous"} boolean arrays."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        adversarial = adversarial_score(self.network, x)
        anomaly = self.mahalanobis.score(self.features(x))
        flags = {
            "adversarial": adversarial > self.adversarial_threshold,
            "anomalous": anomaly > self.anomaly_threshold,
        }
        return adversarial, anomaly, flags


def load_detector(artifact_dir, model) -> Detector:
    """Rebuild a Detector from the files save_artifacts wrote, verifying their hashes; nothing is unpickled.

    `model` is the ModelHandle the detector was trained for: the anomaly score reads its
    penultimate activations.
    """
    from safetensors.torch import load_file

    directory = Path(artifact_dir)
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    if manifest.get("architecture") != DETECTOR_ARCHITECTURE:
        raise ValueError(f"unknown detector architecture {manifest.get('architecture')!r}")
    if set(manifest.get("files", {})) != {WEIGHTS_FILE, MAHALANOBIS_FILE}:
        raise ValueError(f"the detector manifest must list exactly {WEIGHTS_FILE} and {MAHALANOBIS_FILE}")
    for name, expected in manifest["files"].items():
        if _sha256(directory / name) != expected:
            raise ValueError(f"{name} does not match the hash recorded when the detector was trained")
    if tuple(manifest["input_shape"]) != tuple(model.input_shape):
        raise ValueError(
            f"detector expects inputs of shape {manifest['input_shape']}, the model {list(model.input_shape)}"
        )
    network = detector_network(tuple(manifest["input_shape"]))
    network.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
    network.eval()
    with np.load(directory / MAHALANOBIS_FILE, allow_pickle=False) as stats:
        mahalanobis = MahalanobisModel(means=stats["means"], precision=stats["precision"])
    return Detector(network=network, mahalanobis=mahalanobis, manifest=manifest, model=model)


def summary(metrics: dict) -> str:
    text = (
        f"At a measured {metrics['false_positive_rate']:.1%} false-positive rate (target "
        f"{metrics['target_fpr']:.0%}) the detector catches {metrics['detection_rate']:.0%} of adversarial inputs"
    )
    if metrics.get("adaptive_detection_rate") is not None:
        text += f", and {metrics['adaptive_detection_rate']:.0%} from an attacker who knows it"
    return text + "."


def run(ctx):
    import torch

    model, data, params = ctx.model, ctx.data, ctx.params
    require_torch(model, "The screening detectors read penultimate activations")
    attacks = [a for a in params["attacks"] if a in ATTACKS]
    if not attacks:
        raise ValueError(f"attacks must come from {ATTACKS}")
    target_fpr = float(params["target_fpr"])
    if not 0.0 < target_fpr < 0.5:
        raise ValueError("target_fpr must lie between 0 and 0.5")
    eps = default_eps(model, params)

    (x_fit, y_fit), (x_cal, y_cal), (x_test, y_test) = split_sets(data, ctx.rng, int(params["max_fit"]))
    if len(x_cal) < 20 or len(x_test) < 20:
        raise CheckSkipped(
            "too little clean data to calibrate and test a detector (needs 40+ evaluation/holdout samples)"
        )
    queries_before = model.queries

    ctx.progress(0.02, "crafting adversarial examples to learn from")
    adversarial_fit, adversarial_test = {}, {}
    for index, kind in enumerate(attacks):
        ctx.check_stop()
        adversarial_fit[kind] = generate(model, kind, x_fit, y_fit, eps=eps, params=params, seed=ctx.seed)
        adversarial_test[kind] = generate(
            model, kind, x_test, y_test, eps=eps, params=params, seed=ctx.seed + 1
        )

    ctx.progress(0.25, "training the adversarial-input detector")
    from art.defences.detector.evasion import BinaryInputDetector

    reseed(ctx.seed)
    network = detector_network(tuple(model.input_shape))
    detector = BinaryInputDetector(detector_classifier(model, network, lr=float(params["detector_lr"])))
    x_detector = np.concatenate([x_fit, *adversarial_fit.values()])
    y_detector = np.concatenate(
        [np.zeros(len(x_fit), dtype=np.int64)] + [np.ones(len(x_fit), dtype=np.int64)] * len(attacks)
    )
    epochs = int(params["detector_epochs"])
    for epoch in range(epochs):
        ctx.check_stop()
        detector.fit(
            x_detector,
            np.eye(2, dtype=np.float32)[y_detector],
            batch_size=int(params["detector_batch_size"]),
            nb_epochs=1,
        )
        ctx.progress(0.25 + 0.35 * (epoch + 1) / epochs, f"detector epoch {epoch + 1}/{epochs}")

    ctx.progress(0.62, "fitting the anomaly detector")
    mahalanobis = MahalanobisModel.fit(
        model.penultimate(x_fit), y_fit, model.nb_classes, float(params["mahalanobis_ridge"])
    )

    ctx.progress(0.7, "calibrating to the target false-positive rate")
    adversarial_threshold = calibrate_threshold(adversarial_score(network, x_cal), target_fpr)
    anomaly_threshold = calibrate_threshold(mahalanobis.score(model.penultimate(x_cal)), target_fpr)

    def flags(x):
        adv = adversarial_score(network, x) > adversarial_threshold
        anomalous = mahalanobis.score(model.penultimate(x)) > anomaly_threshold
        return adv, anomalous

    clean_adv, clean_anomalous = flags(x_test)
    per_attack = {}
    for kind in attacks:
        adv, anomalous = flags(adversarial_test[kind])
        fooled = model.predict_labels(adversarial_test[kind]) != y_test
        per_attack[kind] = {
            "detection_rate": float(adv.mean()),
            "anomaly_detection_rate": float(anomalous.mean()),
            "either_detection_rate": float((adv | anomalous).mean()),
            "attack_success_rate": float(fooled.mean()),
            "detection_rate_on_successful": float(adv[fooled].mean()) if fooled.any() else None,
        }

    notes = []
    adaptive = None
    if params["adaptive"]:
        ctx.check_stop()
        ctx.progress(0.8, "adaptive attack that knows the detector")
        reseed(ctx.seed)
        x_adaptive = adaptive_attack(
            model,
            network,
            x_test,
            y_test,
            eps=eps,
            eps_step=float(params["eps_step_ratio"]) * eps,
            max_iter=int(params["adaptive_iter"]),
            weight=float(params["adaptive_weight"]),
        )
        adv, anomalous = flags(x_adaptive)
        fooled = model.predict_labels(x_adaptive) != y_test
        adaptive = {
            "detection_rate": float(adv.mean()),
            "anomaly_detection_rate": float(anomalous.mean()),
            "either_detection_rate": float((adv | anomalous).mean()),
            "attack_success_rate": float(fooled.mean()),
            # What the defender actually fears: the model is fooled and nothing is flagged.
            "undetected_success_rate": float((fooled & ~adv & ~anomalous).mean()),
        }
        strongest = max(attacks, key=lambda k: per_attack[k]["detection_rate"])
        if adaptive["detection_rate"] >= per_attack[strongest]["detection_rate"]:
            notes.append(
                f"The adaptive attack was detected as often as {strongest} ({adaptive['detection_rate']:.2f}): "
                f"with weight {params['adaptive_weight']} and {params['adaptive_iter']} steps it did not find inputs "
                "that fool the model and look clean to the detector; a stronger adaptive attack may still exist."
            )

    metrics = {
        "target_fpr": target_fpr,
        "false_positive_rate": float(clean_adv.mean()),
        "anomaly_false_positive_rate": float(clean_anomalous.mean()),
        "either_false_positive_rate": float((clean_adv | clean_anomalous).mean()),
        "detection_rate": min(per_attack[k]["detection_rate"] for k in attacks),
        "per_attack": per_attack,
        "adaptive": adaptive,
        "adaptive_detection_rate": adaptive["detection_rate"] if adaptive else None,
        "thresholds": {"adversarial": adversarial_threshold, "anomaly": anomaly_threshold},
        "eps": eps,
        "n_fit": int(len(x_fit)),
        "n_calibration": int(len(x_cal)),
        "n_test": int(len(x_test)),
    }
    parameters = {
        **{k: params[k] for k in DEFAULTS},
        "attacks": attacks,
        "eps": eps,
        "adversarial_detector": {
            "class": "BinaryInputDetector",
            "architecture": DETECTOR_ARCHITECTURE,
            "score": "detector logit margin (adversarial - clean)",
            "optimizer": {"name": "Adam", "lr": float(params["detector_lr"])},
        },
        "anomaly_detector": {
            "method": "Mahalanobis distance on penultimate activations, shared covariance",
            "fit_on": "clean detector fitting set (training split when registered, else a third of the evaluation data)",
        },
        "calibration": "empirical (1 - target_fpr) quantile of clean calibration scores (half of evaluation + holdout)",
        "adaptive_attack": {
            "method": "L∞ PGD on cross-entropy minus weight × detector logit margin (torch)",
            "max_iter": int(params["adaptive_iter"]),
            "eps_step": float(params["eps_step_ratio"]) * eps,
            "weight": float(params["adaptive_weight"]),
        },
    }
    if params.get("artifact_dir"):
        ctx.progress(0.95, "saving the detector")
        manifest = {
            "architecture": DETECTOR_ARCHITECTURE,
            "input_shape": list(model.input_shape),
            "nb_classes": model.nb_classes,
            "model_sha256": model.sha256,
            "thresholds": {"adversarial": adversarial_threshold, "anomaly": anomaly_threshold},
            "target_fpr": target_fpr,
            "measured_false_positive_rate": metrics["false_positive_rate"],
            "measured_anomaly_false_positive_rate": metrics["anomaly_false_positive_rate"],
            "torch": torch.__version__,
        }
        metrics["artifacts"] = save_artifacts(
            params["artifact_dir"], network=network, mahalanobis=mahalanobis, manifest=manifest
        )
    return CheckOutcome(
        metrics=metrics, parameters=parameters, queries=int(model.queries - queries_before), notes=notes
    )
