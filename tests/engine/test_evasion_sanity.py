"""Sanity checks: quiet on an honest evaluation, firing (run unreliable) on gradient masking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workers.engine import SuiteData, demo, load_model, run_suite

SUITE = {
    "name": "sanity",
    "checks": [
        {
            "kind": "evasion.whitebox",
            "params": {"epsilons": [0.05, 0.1, 0.2], "pgd_max_iter": 10, "max_samples": 100},
        },
        {
            "kind": "evasion.blackbox",
            "params": {"max_samples": 10, "hsj_max_iter": 3, "hsj_max_eval": 30, "square_max_iter": 100},
        },
        {"kind": "evasion.sanity", "params": {"huge_max_samples": 60, "huge_pgd_max_iter": 30}},
    ],
}


class RoundedInput(torch.nn.Module):
    """Quantises the input before the CNN: torch.round has zero gradient, so gradient attacks go nowhere."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 4.0) / 4.0)


@pytest.fixture
def masked_cnn(digits_cnn_path, digits_data, tmp_path):
    path = demo.save_torchscript(RoundedInput(torch.jit.load(str(digits_cnn_path))), tmp_path / "masked.pt")
    return load_model(path, "torchscript", sample=digits_data[4], clip_values=(0.0, 1.0))


def _data(digits_data):
    return SuiteData(x_eval=digits_data[4], y_eval=digits_data[5])


def test_sanity_passes_on_the_honest_cnn(digits_cnn, digits_data):
    _, handle = digits_cnn
    result = run_suite(handle, _data(digits_data), SUITE, seed=0)
    sanity = result.check("evasion.sanity")
    assert sanity.status == "passed", sanity.verdict
    assert not result.unreliable and result.unreliable_reasons == []
    tests = sanity.metrics["tests"]
    assert {
        "huge_epsilon",
        "pgd_at_least_fgsm",
        "success_rises_with_epsilon",
        "blackbox_not_stronger",
    } <= set(tests)
    assert sanity.metrics["huge_epsilon_accuracy"] <= sanity.metrics["chance_level"] + 0.1


def test_sanity_fires_on_a_gradient_masking_model(masked_cnn, digits_data):
    result = run_suite(masked_cnn, _data(digits_data), SUITE, seed=0)
    whitebox = result.check("evasion.whitebox")
    # The masked model looks robust to the gradient attacks...
    assert whitebox.metrics["robust_accuracy"] > 0.9
    sanity = result.check("evasion.sanity")
    # ...and the sanity checks say why that number cannot be trusted.
    assert sanity.status == "failed"
    assert not sanity.metrics["tests"]["huge_epsilon"]["passed"]
    assert result.unreliable
    assert any("gradient masking" in reason for reason in result.unreliable_reasons)
    assert sanity.verdict.startswith("Evaluation unreliable")
    assert not result.passed


def test_sanity_is_skipped_without_the_whitebox_results(digits_cnn, digits_data):
    _, handle = digits_cnn
    result = run_suite(
        handle, _data(digits_data), {"name": "s", "checks": [{"kind": "evasion.sanity"}]}, seed=0
    )
    assert result.checks[0].status == "skipped"
    assert "evasion.whitebox" in result.checks[0].reason


def test_pgd_weaker_than_fgsm_is_reported():
    from workers.engine.checks.evasion_sanity import _monotonic, _pgd_vs_fgsm

    curves = {
        "fgsm": [[0.1, 0.4], [0.2, 0.2]],
        "pgd": [[0.1, 0.6], [0.2, 0.1]],
        "worst_case": [[0.1, 0.4], [0.2, 0.5]],
    }
    comparison = _pgd_vs_fgsm({"curves": curves}, tolerance=0.02)
    assert not comparison["passed"] and "PGD is weaker" in comparison["reason"]
    rising = _monotonic({"curves": curves}, tolerance=0.02)
    assert not rising["passed"] and "worst_case" in rising["reason"]
    assert np.isclose(rising["violations"][0]["accuracy_to"], 0.5)
