"""Hardening by input preprocessing (JPEG, feature squeezing, spatial smoothing), attacked through the defence with BPDA."""

from __future__ import annotations

import numpy as np

from workers.engine.checks._support import (
    accuracy,
    attack_configs,
    default_eps,
    labels_of,
    pytorch_classifier,
    recommendation_metrics,
    require_image,
    require_torch,
    robustness,
    subsample,
    value_range,
)
from workers.engine.types import CheckOutcome

KIND = "defense.preprocessing"
TITLE = "Hardening: input preprocessing (JPEG, feature squeezing, spatial smoothing)"
DESCRIPTION = (
    "Puts an input filter in front of the model and attacks the filtered model with an attacker who knows the "
    "filter is there (BPDA). Filters often look strong against attacks that ignore them and collapse against "
    "one that does not; both figures are shown, and only the second counts."
)
NEEDS = frozenset({"gradients", "image"})
DEFAULTS = {
    "defences": ["jpeg", "feature_squeezing", "spatial_smoothing"],
    "jpeg_quality": 50,
    "squeeze_bit_depth": 3,
    "smoothing_window": 2,
    "eps": None,
    "eps_fraction": 0.1,
    "eps_step_ratio": 0.25,
    "pgd_iter": 20,
    "pgd_restarts": 0,
    "apgd_dlr": True,
    "batch_size": 128,
    # JPEG runs per image in PIL inside every attack step: fewer samples than the other defence checks.
    "max_eval": 300,
}
DEFENCES = ("jpeg", "feature_squeezing", "spatial_smoothing")


def make_preprocessor(name: str, model, params: dict):
    """ART's numpy preprocessor; its gradient estimate is the identity, which is exactly BPDA."""
    from art.defences.preprocessor import FeatureSqueezing, JpegCompression, SpatialSmoothing

    clip = value_range(model)
    if name == "jpeg":
        return JpegCompression(
            clip_values=clip,
            quality=int(params["jpeg_quality"]),
            channels_first=True,
            apply_fit=False,
            apply_predict=True,
        ), {"class": "JpegCompression", "quality": int(params["jpeg_quality"])}
    if name == "feature_squeezing":
        return FeatureSqueezing(
            clip_values=clip, bit_depth=int(params["squeeze_bit_depth"]), apply_fit=False, apply_predict=True
        ), {"class": "FeatureSqueezing", "bit_depth": int(params["squeeze_bit_depth"])}
    return SpatialSmoothing(
        window_size=int(params["smoothing_window"]),
        channels_first=True,
        clip_values=clip,
        apply_fit=False,
        apply_predict=True,
    ), {"class": "SpatialSmoothing", "window_size": int(params["smoothing_window"])}


def defended_classifier(model, name: str, params: dict):
    preprocessor, record = make_preprocessor(name, model, params)
    return pytorch_classifier(model, model.torch_module(), preprocessing_defences=[preprocessor]), record


def summary(metrics: dict) -> str:
    parts = [
        f"{name} {figures['robust_accuracy_adaptive']:.2f}"
        for name, figures in metrics["per_defence"].items()
    ]
    return (
        f"Robust accuracy at ε={metrics['eps']:g} against an attacker who sees the filter: undefended "
        f"{metrics['robust_accuracy_undefended']:.2f}, "
        + ", ".join(parts)
        + f". Recommendation: {metrics['recommended_text']}."
    )


def run(ctx):
    model, data, params = ctx.model, ctx.data, ctx.params
    require_image(model, "Input preprocessing defences")
    require_torch(model, "Attacking through a preprocessing defence (BPDA) differentiates the model")
    defences = [d for d in params["defences"] if d in DEFENCES]
    if not defences:
        raise ValueError(f"defences must come from {DEFENCES}")
    eps = default_eps(model, params)
    configs = attack_configs(params, eps, model.nb_classes)

    eval_idx = subsample(ctx.rng, len(data.x_eval), params["max_eval"])
    x_eval = data.x_eval[eval_idx].astype(np.float32)
    y_eval = data.y_eval[eval_idx].astype(np.int64)

    queries_before = model.queries
    # The registered model's own ART view: its predictions and gradients count as queries.
    undefended = model.logits_classifier()
    ctx.progress(0.02, "attacking the undefended model")
    baseline = robustness(undefended, undefended, x_eval, y_eval, configs, ctx.seed, ctx)
    clean_undefended = accuracy(labels_of(undefended, x_eval), y_eval)

    per_defence, candidates, records = {}, [], {}
    for index, name in enumerate(defences):
        ctx.check_stop()
        ctx.progress(0.1 + 0.85 * index / len(defences), f"attacking through {name} (BPDA)")
        defended, records[name] = defended_classifier(model, name, params)
        clean = accuracy(labels_of(defended, x_eval), y_eval)
        # Naive: examples crafted on the undefended model, then filtered. Adaptive: the attacker
        # differentiates through the filter by treating it as the identity (BPDA).
        naive = robustness(undefended, defended, x_eval, y_eval, configs, ctx.seed, ctx)
        adaptive = robustness(defended, defended, x_eval, y_eval, configs, ctx.seed, ctx)
        per_defence[name] = {
            "clean_accuracy": clean,
            "clean_cost": clean_undefended - clean,
            "robust_accuracy_naive": naive["robust_accuracy"],
            "robust_accuracy_adaptive": adaptive["robust_accuracy"],
            "robust_gain": adaptive["robust_accuracy"] - baseline["robust_accuracy"],
            "apparent_gain_naive": naive["robust_accuracy"] - baseline["robust_accuracy"],
            "per_attack_naive": naive["per_attack"],
            "per_attack_adaptive": adaptive["per_attack"],
        }
        candidates.append(
            {
                "defence": name,
                "robust_gain": per_defence[name]["robust_gain"],
                "clean_cost": per_defence[name]["clean_cost"],
                "robust_accuracy": adaptive["robust_accuracy"],
                "clean_accuracy": clean,
            }
        )

    best_adaptive = max(v["robust_accuracy_adaptive"] for v in per_defence.values())
    metrics = {
        "clean_accuracy_undefended": clean_undefended,
        "robust_accuracy_undefended": baseline["robust_accuracy"],
        "per_attack_undefended": baseline["per_attack"],
        "best_robust_accuracy_adaptive": best_adaptive,
        "best_robust_gain": best_adaptive - baseline["robust_accuracy"],
        "per_defence": per_defence,
        "eps": eps,
        "n_eval": int(len(x_eval)),
        **recommendation_metrics(candidates, ctx.prior),
    }
    notes = [
        f"{name}: looked like {v['robust_accuracy_naive']:.2f} against attacks that ignore it, "
        f"{v['robust_accuracy_adaptive']:.2f} against BPDA."
        for name, v in per_defence.items()
        if v["robust_accuracy_naive"] - v["robust_accuracy_adaptive"] > 0.1
    ]
    parameters = {
        **{k: params[k] for k in DEFAULTS},
        "defences": defences,
        "preprocessors": records,
        "eps": eps,
        "attacks": configs,
        "adaptive_attack": "BPDA: ART numpy preprocessors with identity gradient (estimate_gradient)",
        "threat_model": "white-box, L∞, worst case per example over the attacks",
    }
    return CheckOutcome(
        metrics=metrics, parameters=parameters, queries=int(model.queries - queries_before), notes=notes
    )
