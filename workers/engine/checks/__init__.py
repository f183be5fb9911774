"""Registry of the engine's checks: kind -> module, imported by name on first use."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from types import ModuleType

# Every kind riskapp knows, in the order a suite runs them (sanity reads the evasion results).
KIND_MODULES: dict[str, str] = {
    "integrity.data": "workers.engine.checks.integrity_data",
    "evasion.whitebox": "workers.engine.checks.evasion_whitebox",
    "evasion.blackbox": "workers.engine.checks.evasion_blackbox",
    "evasion.sanity": "workers.engine.checks.evasion_sanity",
    "poisoning.backdoor": "workers.engine.checks.poisoning_backdoor",
    "poisoning.data_scan": "workers.engine.checks.poisoning_data_scan",
    "extraction": "workers.engine.checks.extraction",
    "inference.membership": "workers.engine.checks.inference_membership",
    "inference.attribute": "workers.engine.checks.inference_attribute",
    "defense.adversarial_training": "workers.engine.checks.defense_adversarial_training",
    "defense.distillation": "workers.engine.checks.defense_distillation",
    "defense.preprocessing": "workers.engine.checks.defense_preprocessing",
    "detection.train": "workers.engine.checks.detection_train",
}

NEEDS_VOCABULARY = frozenset({"gradients", "train", "holdout", "trainable", "image", "tabular"})


class CheckUnavailable(KeyError):
    """A known check kind whose module is not installed in this build."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "check unavailable"


def module_present(kind: str) -> bool:
    name = KIND_MODULES.get(kind)
    return name is not None and importlib.util.find_spec(name) is not None


class _CheckRegistry(Mapping):
    """Mapping kind -> check module; iterates only over kinds whose module exists."""

    def __getitem__(self, kind: str) -> ModuleType:
        if kind not in KIND_MODULES:
            raise KeyError(f"unknown check kind {kind!r}")
        if not module_present(kind):
            raise CheckUnavailable(
                f"check {kind!r} is not available in this build (module {KIND_MODULES[kind]} missing)"
            )
        module = importlib.import_module(KIND_MODULES[kind])
        if getattr(module, "KIND", None) != kind:
            raise CheckUnavailable(f"module {KIND_MODULES[kind]} does not declare KIND = {kind!r}")
        return module

    def __iter__(self) -> Iterator[str]:
        return (kind for kind in KIND_MODULES if module_present(kind))

    def __len__(self) -> int:
        return sum(1 for _ in self)


CHECKS: Mapping[str, ModuleType] = _CheckRegistry()

__all__ = ["CHECKS", "KIND_MODULES", "NEEDS_VOCABULARY", "CheckUnavailable", "module_present"]
