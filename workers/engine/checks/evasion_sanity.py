"""Sanity checks that catch a dishonest evasion evaluation (Carlini et al. 2019); failure = run unreliable."""

from __future__ import annotations

import numpy as np

from workers.engine.checks._evasion import (
    fgsm_config,
    pgd_config,
    predicted_labels,
    run_attack,
    select_indices,
    value_span,
)
from workers.engine.types import CheckContext, CheckOutcome, CheckSkipped

KIND = "evasion.sanity"
TITLE = "Evaluation sanity checks"
DESCRIPTION = (
    "Checks that the attacks above really worked: an unlimited attacker must reach chance-level accuracy, "
    "the stronger attack must beat the weaker one, and a black-box attacker must not beat the white-box one. "
    "If any fails, the model may be hiding its gradients and the robustness numbers cannot be trusted."
)
NEEDS = frozenset({"gradients"})
DEFAULTS = {
    # "Very large ε": the whole value range, i.e. the attacker may draw any input.
    "huge_epsilon": 1.0,
    "huge_pgd_max_iter": 50,
    "huge_max_samples": 100,
    "chance_margin": 0.1,
    "tolerance": 0.02,
    "blackbox_margin": 0.1,
}


def summary(metrics: dict) -> str:
    tests = metrics.get("tests", {})
    passed = sum(1 for t in tests.values() if t.get("passed"))
    return f"{passed} of {len(tests)} sanity checks passed."


def _tolerance(params: dict, n: int) -> float:
    # One sample of a small selection must not trip a check on its own.
    return max(float(params["tolerance"]), 1.0 / max(n, 1))


def _huge_epsilon(ctx: CheckContext, classifier, batch_size_cap: int = 1024) -> dict:
    params, model = ctx.params, ctx.model
    indices = select_indices(len(ctx.data.x_eval), int(params["huge_max_samples"]), ctx.seed)
    x = np.ascontiguousarray(ctx.data.x_eval[indices], dtype=np.float32)
    y = np.asarray(ctx.data.y_eval[indices], dtype=np.int64)
    batch_size = min(len(x), batch_size_cap)
    eps = float(params["huge_epsilon"]) * value_span(model)
    config = pgd_config(
        eps, "inf", batch_size, max_iter=int(params["huge_pgd_max_iter"]), step_factor=2.5, random_init=0
    )
    with model.inference_only():
        x_adv = run_attack(config, classifier, x, y, ctx.seed)
    accuracy = float(np.mean(predicted_labels(classifier, x_adv, batch_size) == y))
    counts = np.bincount(y, minlength=model.nb_classes)
    chance = float(max(counts.max() / len(y), 1.0 / model.nb_classes))
    passed = accuracy <= chance + float(params["chance_margin"])
    return {
        "passed": passed,
        "accuracy": accuracy,
        "chance_level": chance,
        "epsilon": eps,
        "n_samples": len(x),
        "parameters": config,
        "reason": ""
        if passed
        else (
            f"at ε={eps:g} (the whole value range) PGD leaves accuracy at {accuracy:.2f}, far above chance "
            f"({chance:.2f}): the gradients do not lead the attack (gradient masking suspected)"
        ),
    }


def _pgd_vs_fgsm(whitebox_metrics: dict, tolerance: float) -> dict:
    curves = whitebox_metrics.get("curves", {})
    violations = []
    for suffix in ("", "_l2"):
        fgsm, pgd = curves.get("fgsm" + suffix), curves.get("pgd" + suffix)
        if not fgsm or not pgd:
            continue
        fgsm_at = {eps: acc for eps, acc in fgsm}
        for eps, acc in pgd:
            if eps in fgsm_at and acc > fgsm_at[eps] + tolerance:
                violations.append({"epsilon": eps, "pgd": acc, "fgsm": fgsm_at[eps]})
    passed = not violations
    reason = ""
    if violations:
        worst = violations[0]
        reason = (
            f"PGD is weaker than single-step FGSM at ε={worst['epsilon']:g} "
            f"(accuracy {worst['pgd']:.2f} vs {worst['fgsm']:.2f}): the iterative attack is not working"
        )
    return {
        "passed": passed,
        "violations": violations,
        "reason": reason,
        "applicable": bool(curves.get("pgd") and curves.get("fgsm")),
    }


def _monotonic(whitebox_metrics: dict, tolerance: float) -> dict:
    curves = whitebox_metrics.get("curves", {})
    violations = []
    for name in ("pgd", "worst_case", "pgd_l2", "worst_case_l2"):
        points = sorted(curves.get(name) or [])
        for (eps_low, acc_low), (eps_high, acc_high) in zip(points, points[1:]):
            if acc_high > acc_low + tolerance:
                violations.append(
                    {
                        "curve": name,
                        "from": eps_low,
                        "to": eps_high,
                        "accuracy_from": acc_low,
                        "accuracy_to": acc_high,
                    }
                )
    reason = ""
    if violations:
        v = violations[0]
        reason = (
            f"{v['curve']} accuracy rises from {v['accuracy_from']:.2f} to {v['accuracy_to']:.2f} as ε grows "
            f"from {v['from']:g} to {v['to']:g}: attack success must rise with ε"
        )
    return {"passed": not violations, "violations": violations, "reason": reason}


def _blackbox_vs_whitebox(
    ctx: CheckContext, classifier, blackbox_metrics: dict, whitebox_params: dict
) -> dict:
    params, model = ctx.params, ctx.model
    indices = np.asarray(blackbox_metrics.get("sample_indices", []), dtype=np.int64)
    fooled_bb = np.asarray(blackbox_metrics.get("fooled_within_epsilon", []), dtype=bool)
    attacked = np.asarray(blackbox_metrics.get("attacked_mask", []), dtype=bool)
    if not len(indices) or not attacked.any():
        return {"passed": True, "applicable": False, "reason": ""}
    indices, fooled_bb = indices[attacked], fooled_bb[attacked]
    x = np.ascontiguousarray(ctx.data.x_eval[indices], dtype=np.float32)
    y = np.asarray(ctx.data.y_eval[indices], dtype=np.int64)
    eps, norm = float(blackbox_metrics["epsilon"]), str(blackbox_metrics.get("norm", "inf"))
    batch_size = min(len(x), 1024)
    configs = [
        fgsm_config(eps, norm, batch_size),
        pgd_config(
            eps,
            norm,
            batch_size,
            max_iter=int(whitebox_params.get("pgd_max_iter", 20)),
            step_factor=float(whitebox_params.get("pgd_step_factor", 2.5)),
            random_init=int(whitebox_params.get("pgd_random_init", 0)),
        ),
    ]
    fooled_wb = ~(predicted_labels(classifier, x, batch_size) == y)
    with model.inference_only():
        for config in configs:
            x_adv = run_attack(config, classifier, x, y, ctx.seed)
            fooled_wb |= predicted_labels(classifier, x_adv, batch_size) != y
    only_blackbox = fooled_bb & ~fooled_wb
    fraction = float(only_blackbox.mean())
    passed = fraction <= float(params["blackbox_margin"])
    return {
        "passed": passed,
        "applicable": True,
        "epsilon": eps,
        "n_samples": len(x),
        "blackbox_success_rate": float(fooled_bb.mean()),
        "whitebox_success_rate": float(fooled_wb.mean()),
        "fooled_only_by_blackbox": fraction,
        "reason": ""
        if passed
        else (
            f"the black-box attacks fooled {fraction:.0%} of samples at ε={eps:g} that the white-box attacks "
            "could not: gradients are misleading the white-box attacks (gradient masking suspected)"
        ),
    }


def run(ctx: CheckContext) -> CheckOutcome:
    whitebox = ctx.prior.get("evasion.whitebox")
    if whitebox is None or whitebox.status not in ("passed", "failed"):
        raise CheckSkipped("the sanity checks read the white-box evasion results; run evasion.whitebox first")
    model = ctx.model
    classifier = model.logits_classifier()
    queries_before = model.queries
    n = int(whitebox.metrics.get("n_samples", 0))
    tolerance = _tolerance(ctx.params, n)

    ctx.progress(0.0, "attack at a very large ε")
    tests = {"huge_epsilon": _huge_epsilon(ctx, classifier)}
    ctx.check_stop()
    ctx.progress(0.6, "compare attack strengths")
    pgd_fgsm = _pgd_vs_fgsm(whitebox.metrics, tolerance)
    if pgd_fgsm.pop("applicable"):
        tests["pgd_at_least_fgsm"] = pgd_fgsm
    tests["success_rises_with_epsilon"] = _monotonic(whitebox.metrics, tolerance)
    blackbox = ctx.prior.get("evasion.blackbox")
    if blackbox is not None and blackbox.status in ("passed", "failed"):
        ctx.progress(0.7, "white-box attacks on the black-box samples")
        comparison = _blackbox_vs_whitebox(ctx, classifier, blackbox.metrics, whitebox.parameters)
        if comparison.pop("applicable"):
            tests["blackbox_not_stronger"] = comparison
    ctx.progress(1.0, "sanity checks done")

    failures = [t["reason"] for t in tests.values() if not t["passed"]]
    metrics = {
        "sanity_failures": failures,
        "all_passed": not failures,
        "sanity_passed": int(not failures),
        "huge_epsilon_accuracy": tests["huge_epsilon"]["accuracy"],
        "chance_level": tests["huge_epsilon"]["chance_level"],
        "tolerance": tolerance,
        "tests": tests,
    }
    return CheckOutcome(
        metrics=metrics,
        parameters={**ctx.params, "tolerance_used": tolerance},
        queries=model.queries - queries_before,
    )
