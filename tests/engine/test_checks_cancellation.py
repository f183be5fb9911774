"""Every poisoning, extraction, inference, defence and detection check stops when the caller asks it to."""

from __future__ import annotations

import importlib

import pytest

from tests.engine.check_helpers import check_context, suite_data
from workers.engine.types import Cancelled

TINY = {
    "poisoning_backdoor": dict(max_train=100, epochs=1),
    "poisoning_data_scan": dict(max_train=200, epochs=1),
    "extraction": dict(budgets=[50], thief_epochs=1),
    "inference_membership": dict(max_per_side=60, attack_models=["rf"]),
    "defense_adversarial_training": dict(max_train=100, max_eval=30, epochs=1, pgd_iter=2),
    "defense_distillation": dict(max_train=100, max_eval=30, epochs=1, pgd_iter=2),
    "defense_preprocessing": dict(max_eval=20, pgd_iter=2),
    "detection_train": dict(max_fit=100, detector_epochs=1, pgd_iter=2),
}


@pytest.mark.parametrize("module_name", sorted(TINY))
def test_check_raises_cancelled_when_asked_to_stop(module_name, digits_cnn, digits_data):
    module = importlib.import_module(f"workers.engine.checks.{module_name}")
    _, model = digits_cnn
    ctx = check_context(module, model, suite_data(digits_data), should_stop=lambda: True, **TINY[module_name])
    with pytest.raises(Cancelled):
        module.run(ctx)


def test_attribute_inference_raises_cancelled_when_asked_to_stop(cancer_logreg, cancer_data):
    from workers.engine.checks import inference_attribute

    _, model = cancer_logreg
    ctx = check_context(inference_attribute, model, suite_data(cancer_data), should_stop=lambda: True)
    with pytest.raises(Cancelled):
        inference_attribute.run(ctx)
