"""Hardening by defensive distillation, measured by attacking the student's logits so masked gradients do not count."""

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

KIND = "defense.distillation"
TITLE = "Hardening: defensive distillation"
DESCRIPTION = (
    "Trains a copy of the model on the softened answers of the original (defensive distillation) and attacks "
    "the copy directly on its raw scores. Distillation is known to fool naive attacks without adding real "
    "robustness; this check reports what survives an attack that is not fooled."
)
NEEDS = frozenset({"train", "trainable", "gradients"})
DEFAULTS = {
    "temperature": 20.0,
    "epochs": 20,
    "batch_size": 64,
    "lr": 3e-3,
    "eps": None,
    "eps_fraction": 0.1,
    "eps_step_ratio": 0.25,
    "pgd_iter": 20,
    "pgd_restarts": 0,
    "apgd_dlr": True,
    "max_train": 2000,
    "max_eval": 500,
}
DEFENCE_NAME = "defensive_distillation"


def temperature_softmax(module, temperature: float):
    """softmax(logits / T): the probability output ART's DefensiveDistillation insists on."""
    import torch

    class TemperatureSoftmax(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.logits = module

        def forward(self, x):
            return torch.softmax(self.logits(x) / temperature, dim=1)

    return TemperatureSoftmax()


def soft_label_loss():
    """Cross-entropy between the teacher's probabilities and the student's probabilities."""
    import torch

    class SoftLabelCrossEntropy(torch.nn.Module):
        def forward(self, probabilities, target):
            return -(target * torch.log(probabilities.clamp_min(1e-12))).sum(dim=1).mean()

    return SoftLabelCrossEntropy()


def reinitialize(module, seed: int) -> None:
    """Fresh weights for the student: distilling into an exact copy of the teacher changes nothing,
    since the copy already reproduces the teacher's softened outputs.

    TorchScript modules do not expose ``reset_parameters``, so PyTorch's default scheme
    (Kaiming-uniform weights, zero biases) is applied parameter by parameter.
    """
    import math

    import torch

    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.dim() >= 2:
                fan_in = parameter[0].numel()
                bound = math.sqrt(6.0 / ((1 + 5.0) * fan_in))  # kaiming_uniform_ with a = sqrt(5)
                fresh = torch.rand(parameter.shape, generator=generator) * 2 * bound - bound
                parameter.copy_(fresh.to(parameter.device, parameter.dtype))
            else:
                parameter.zero_()


def distilled_copy(model, x_train, *, temperature: float, params: dict, seed: int, ctx=None):
    """A student trained by ART's DefensiveDistillation on the model's softened outputs.

    The registered model is the teacher, softened at temperature T; the student (a copy of
    the same architecture) learns at T and is deployed at T = 1, i.e. as its raw logits.
    """
    from art.defences.transformer.evasion import DefensiveDistillation

    teacher = pytorch_classifier(model, temperature_softmax(model.torch_module(), temperature))
    student_copy = model.trainable_copy()
    student_logits = student_copy.torch_module()
    reinitialize(student_logits, seed)
    reseed(seed)
    student_at_t = pytorch_classifier(
        model,
        temperature_softmax(student_logits, temperature),
        lr=float(params["lr"]),
        loss=soft_label_loss(),
    )
    epochs = int(params["epochs"])
    for epoch in range(epochs):
        if ctx is not None:
            ctx.check_stop()
            ctx.progress(0.05 + 0.55 * epoch / epochs, f"distillation: epoch {epoch + 1}/{epochs}")
        DefensiveDistillation(teacher, batch_size=int(params["batch_size"]), nb_epochs=1)(
            x_train, student_at_t
        )
    return pytorch_classifier(model, student_logits)


def summary(metrics: dict) -> str:
    return (
        f"Defensive distillation (T={metrics['temperature']:g}) moves robust accuracy at ε={metrics['eps']:g} from "
        f"{metrics['robust_accuracy_before']:.2f} to {metrics['robust_accuracy_after']:.2f} against attacks on the "
        f"student's logits; clean accuracy {metrics['clean_accuracy_after']:.2f}. Recommendation: {metrics['recommended_text']}."
    )


def run(ctx):
    model, data, params = ctx.model, ctx.data, ctx.params
    require_training_data(data, "Defensive distillation")
    require_torch(model, "Defensive distillation retrains a neural network")
    eps = default_eps(model, params)
    temperature = float(params["temperature"])
    configs = attack_configs(params, eps, model.nb_classes)

    train_idx = subsample(ctx.rng, len(data.x_train), params["max_train"])
    x_train = data.x_train[train_idx].astype(np.float32)
    eval_idx = subsample(ctx.rng, len(data.x_eval), params["max_eval"])
    x_eval = data.x_eval[eval_idx].astype(np.float32)
    y_eval = data.y_eval[eval_idx].astype(np.int64)

    queries_before = model.queries
    original = model.logits_classifier()
    ctx.progress(0.02, "attacking the original model")
    before = robustness(original, original, x_eval, y_eval, configs, ctx.seed, ctx)
    clean_before = accuracy(labels_of(original, x_eval), y_eval)

    student = distilled_copy(model, x_train, temperature=temperature, params=params, seed=ctx.seed, ctx=ctx)
    ctx.progress(0.65, "attacking the student's logits")
    after = robustness(student, student, x_eval, y_eval, configs, ctx.seed, ctx)
    clean_after = accuracy(labels_of(student, x_eval), y_eval)

    metrics = hardening_metrics(defence=DEFENCE_NAME, before=before, after=after, clean_before=clean_before,
                                clean_after=clean_after, n_eval=int(len(x_eval)), eps=eps, temperature=temperature, prior=ctx.prior)
    notes = []
    per_after = after["per_attack"]
    if "apgd_dlr" in per_after and per_after["pgd"] - per_after["apgd_dlr"] > 0.1:
        notes.append(
            f"Cross-entropy PGD leaves the student {per_after['pgd']:.2f} accurate but the logit-margin attack "
            f"{per_after['apgd_dlr']:.2f}: distillation masks gradients; only the worst case is reported."
        )
    parameters = {
        **{k: params[k] for k in DEFAULTS},
        "eps": eps,
        "distillation": {
            "class": "DefensiveDistillation",
            "teacher": "the registered model, softmax(logits / T)",
            "student": "same architecture, re-initialised, trained on the teacher's probabilities at T, deployed at T = 1 (logits)",
            "temperature": temperature,
            "nb_epochs": int(params["epochs"]),
            "batch_size": int(params["batch_size"]),
            "optimizer": {"name": "Adam", "lr": float(params["lr"])},
        },
        "attacks": configs,
        "threat_model": "white-box on the student's logits, L∞, worst case per example over the attacks",
        "n_train": int(len(x_train)),
    }
    return CheckOutcome(
        metrics=metrics, parameters=parameters, queries=int(model.queries - queries_before), notes=notes
    )
