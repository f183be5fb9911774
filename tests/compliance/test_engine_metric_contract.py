"""The metric names the mapping may use are names the engine's checks really emit (read from their source)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from riskapp.compliance.catalog_schema import CATALOG_DIR, CHECK_METRICS, NONE_MEANS, NONE_NEEDS_ATTEMPTS, load_all

CHECKS_DIR = Path(__file__).resolve().parents[2] / "workers" / "engine" / "checks"


def _kind_modules() -> dict[str, Path]:
    modules = {}
    for path in CHECKS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "KIND" for t in node.targets)
                    and isinstance(node.value, ast.Constant)):
                modules[node.value.value] = path
    return modules


def _emitted_keys(path: Path) -> set[str]:
    """String keys of dict literals and subscript assignments; f-string keys count by their literal head."""
    keys = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def add(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            keys.add(node.value)
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            keys.add(node.values[0].value)

    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None:
                    add(key)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            add(node.slice)
    return keys


KIND_MODULES = _kind_modules()


def test_every_engine_check_kind_is_in_the_contract():
    assert KIND_MODULES, "no check modules found"
    assert set(KIND_MODULES) <= set(CHECK_METRICS)
    assert set(CHECK_METRICS) - set(KIND_MODULES) == {"monitoring.schedule"}


@pytest.mark.parametrize("kind", sorted(set(CHECK_METRICS) - {"monitoring.schedule"}))
def test_contract_metrics_are_emitted_by_the_engine(kind):
    emitted = _emitted_by(kind)
    missing = sorted(set(CHECK_METRICS[kind]) - emitted)
    assert not missing, f"{kind} no longer emits {missing}: rename them in catalog_schema.CHECK_METRICS and mapping.yaml"


def _emitted_by(kind: str) -> set[str]:
    # Checks build some metrics in the shared helper modules of their package (e.g. the defences' before/after block).
    emitted = _emitted_keys(KIND_MODULES[kind])
    for helper in sorted(CHECKS_DIR.glob("_*.py")):
        if helper.name != "__init__.py" and helper.stem.lstrip("_") and helper.stem[1:] in KIND_MODULES[kind].read_text():
            emitted |= _emitted_keys(helper)
    return emitted


def test_every_bounds_rule_names_an_emitted_metric():
    catalog = load_all(CATALOG_DIR)
    for rule in catalog.mapping.rules:
        if rule.metric is None:
            continue
        for kind in rule.kinds:
            assert rule.metric in _emitted_by(kind), (rule.id, kind, rule.metric)


def test_null_meanings_name_contract_metrics():
    for kind, metric in list(NONE_MEANS) + list(NONE_NEEDS_ATTEMPTS):
        assert metric in CHECK_METRICS[kind]
    for (kind, _metric), attempts in NONE_NEEDS_ATTEMPTS.items():
        assert attempts in _emitted_keys(KIND_MODULES[kind])

