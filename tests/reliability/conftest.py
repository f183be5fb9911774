"""Fixtures for the fault tests: the digits CNN asset of the assessment tests and a suite that is quick yet
leaves evidence (integrity and a small white-box check both map to controls)."""

from __future__ import annotations

import pytest

from tests.assessments.conftest import asset, digits_cnn_bytes  # noqa: F401  (shared fixtures)
from tests.assessments.factories import custom_profile

# Small enough that twenty runs finish in seconds on one core, large enough to record evidence.
FAULT_SUITE = {
    "name": "fault",
    "checks": [
        {"kind": "integrity.data", "params": {}, "thresholds": {"nan_count": {"max": 0}}},
        {"kind": "evasion.whitebox",
         "params": {"attacks": ["fgsm"], "epsilons": [0.1], "reference_epsilon": 0.1, "max_samples": 20},
         "thresholds": {"clean_accuracy": {"min": 0.5}}},
    ],
}


@pytest.fixture
def fault_profile(organization):
    return custom_profile(organization, spec=FAULT_SUITE, slug="fault")


from tests.assessments.conftest import published  # noqa: E402,F401
