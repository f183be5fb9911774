"""Load and validate the control catalogs and the check-to-control mapping (YAML files, no Django)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EVIDENCE_LEVELS = ("yes", "partly", "no")
ASSESSMENT_KINDS = ("EVA", "POI", "EXT", "INF", "DEF", "MON")

HIGHER_IS_BETTER = "higher"
LOWER_IS_BETTER = "lower"
# Recorded with the evidence to explain it, but never a pass/fail criterion on its own.
CONTEXT_ONLY = "context"

# The contract with the engine: every check kind and the metrics its result carries, with the
# direction in which a metric improves. A rule may only bound a metric from the side that makes
# sense (a floor on what should be high, a ceiling on what should be low).
CHECK_METRICS: dict[str, dict[str, str]] = {
    # Names are the keys of the engine's CheckResult.metrics (workers/engine/checks/*.py); the engine is the
    # source of truth, and tests/compliance/test_engine_metric_contract.py reads the checks to keep it so.
    "evasion.whitebox": {
        "clean_accuracy": HIGHER_IS_BETTER,
        # At reference_epsilon (L∞), the profile's ε, worst case per example over the attacks.
        "robust_accuracy": HIGHER_IS_BETTER,
        # None: accuracy never halved within the ε grid, which passes a floor (see NONE_MEANS).
        "breaking_epsilon": HIGHER_IS_BETTER,
        "attack_success_rate": LOWER_IS_BETTER,
        "reference_epsilon": CONTEXT_ONLY,
        "mean_perturbation_norm": CONTEXT_ONLY,
    },
    "evasion.blackbox": {
        # None: no sample was attacked (none was classified correctly), so no verdict.
        "success_rate": LOWER_IS_BETTER,
        # None: no attack succeeded at any size, which passes a floor when samples were attacked.
        "median_perturbation": HIGHER_IS_BETTER,
        "robust_accuracy": HIGHER_IS_BETTER,
        "queries_used": CONTEXT_ONLY,
    },
    "evasion.sanity": {"all_passed": HIGHER_IS_BETTER},
    "poisoning.backdoor": {
        "attack_success_rate": LOWER_IS_BETTER,
        # A backdoor that costs little clean accuracy is stealthier, not safer: context, not a criterion.
        "clean_accuracy_cost": CONTEXT_ONLY,
    },
    "poisoning.data_scan": {
        "detector_recall": HIGHER_IS_BETTER,
        "suspected_fraction": LOWER_IS_BETTER,
        "suspected_excess": LOWER_IS_BETTER,
    },
    "integrity.data": {
        # 1 when the engine found nothing that makes the evaluation data untrustworthy.
        "integrity_passed": HIGHER_IS_BETTER,
        # None: no registered hash to compare with.
        "hash_matches": HIGHER_IS_BETTER,
        "nan_count": LOWER_IS_BETTER,
        "out_of_range_fraction": LOWER_IS_BETTER,
        "duplicate_fraction": LOWER_IS_BETTER,
    },
    # Best agreement of a stolen copy with the victim over the query budgets, on the headline output.
    "extraction": {"agreement": LOWER_IS_BETTER, "stolen_accuracy": CONTEXT_ONLY},
    "inference.membership": {
        "auc": LOWER_IS_BETTER,
        "tpr_at_1pct_fpr": LOWER_IS_BETTER,
        "advantage": LOWER_IS_BETTER,
    },
    "inference.attribute": {"advantage_over_baseline": LOWER_IS_BETTER},
    "defense.adversarial_training": {
        "robust_gain": HIGHER_IS_BETTER,
        "clean_cost": LOWER_IS_BETTER,
    },
    "defense.distillation": {
        "robust_gain": HIGHER_IS_BETTER,
        "clean_cost": LOWER_IS_BETTER,
    },
    "defense.preprocessing": {
        # Best gain over the preprocessors, measured with the adaptive (BPDA) attack.
        "best_robust_gain": HIGHER_IS_BETTER,
        "robust_accuracy_undefended": CONTEXT_ONLY,
    },
    "detection.train": {
        # None: the profile turned the adaptive attack off, so no verdict.
        "adaptive_detection_rate": HIGHER_IS_BETTER,
        "detection_rate": HIGHER_IS_BETTER,
        "false_positive_rate": LOWER_IS_BETTER,
    },
    # Not an engine check: the record that a scheduled re-assessment ran (or was missed).
    "monitoring.schedule": {},
}

# What a metric the engine reports as None (JSON null) means for a bounds rule. Unlisted: no verdict.
PASSES_WHEN_NONE = "pass"
NO_VERDICT_WHEN_NONE = "no_verdict"
NONE_MEANS: dict[tuple[str, str], str] = {
    # The worst-case attack never halved accuracy anywhere in the ε grid: the breaking point lies beyond it.
    ("evasion.whitebox", "breaking_epsilon"): PASSES_WHEN_NONE,
    # No attack found any adversarial input within the query budget (when samples were attacked at all).
    ("evasion.blackbox", "median_perturbation"): PASSES_WHEN_NONE,
}
# The metric that must be positive for a PASSES_WHEN_NONE reading to count: otherwise nothing was tried.
NONE_NEEDS_ATTEMPTS: dict[tuple[str, str], str] = {
    ("evasion.blackbox", "median_perturbation"): "attacked",
}
CHECK_KINDS = tuple(CHECK_METRICS)

# Which assessment-kind code of the catalogs each check kind belongs to.
CHECK_KIND_CODES: dict[str, str] = {
    "evasion.whitebox": "EVA",
    "evasion.blackbox": "EVA",
    "evasion.sanity": "EVA",
    "poisoning.backdoor": "POI",
    "poisoning.data_scan": "POI",
    "integrity.data": "POI",
    "extraction": "EXT",
    "inference.membership": "INF",
    "inference.attribute": "INF",
    "defense.adversarial_training": "DEF",
    "defense.distillation": "DEF",
    "defense.preprocessing": "DEF",
    "detection.train": "DEF",
    "monitoring.schedule": "MON",
}

THRESHOLD = "threshold"
BOUNDS = "bounds"
STATUS_ONLY = "status_only"
PERFORMED = "performed"
RULE_STYLES = (BOUNDS, STATUS_ONLY, PERFORMED)

MAPPING_FILENAME = "mapping.yaml"

_FRAMEWORK_KEYS = {"slug", "name", "version", "publisher", "url", "source_notes", "attributes"}
_FRAMEWORK_REQUIRED = ("slug", "name", "version", "publisher", "url", "source_notes")
_CONTROL_KEYS = {
    "ref_id", "title", "description", "parent", "automated_evidence", "kinds",
    "note", "aliases", "attributes", "assessable",
}
_CONTROL_REQUIRED = ("ref_id", "title", "description", "automated_evidence")
_RULE_KEYS = {"id", "kind", "metric", "rule", "controls", "rationale"}
_RULE_REQUIRED = ("id", "kind", "rule", "controls", "rationale")
_SLUG = re.compile(r"^[a-z0-9]+(?:[-.][a-z0-9]+)*$")


class CatalogError(ValueError):
    """A catalog or mapping file that cannot be trusted; says where."""

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        where = self.path or "<catalog>"
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Control:
    framework: str
    ref_id: str
    title: str
    description: str
    parent: str | None
    automated_evidence: str
    kinds: tuple[str, ...]
    note: str = ""
    aliases: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    # A grouping (an NIST function, an ISO group, an AI Act article) only structures its children.
    assessable: bool = True
    line: int | None = None

    @property
    def takes_automated_evidence(self) -> bool:
        return self.automated_evidence in ("yes", "partly")


@dataclass(frozen=True)
class Framework:
    slug: str
    name: str
    version: str
    publisher: str
    url: str
    source_notes: str
    controls: tuple[Control, ...]
    attributes: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None

    def control(self, ref_id: str) -> Control:
        for control in self.controls:
            if control.ref_id == ref_id:
                return control
        raise KeyError(f"{self.slug} has no control {ref_id!r}")

    def __contains__(self, ref_id: object) -> bool:
        return any(control.ref_id == ref_id for control in self.controls)

    @property
    def ref_ids(self) -> tuple[str, ...]:
        return tuple(control.ref_id for control in self.controls)

    def children(self, ref_id: str | None) -> tuple[Control, ...]:
        return tuple(control for control in self.controls if control.parent == ref_id)

    def depth(self, ref_id: str) -> int:
        """1 for a root, 2 for its children, and so on."""
        depth = 1
        control = self.control(ref_id)
        while control.parent is not None:
            control = self.control(control.parent)
            depth += 1
        return depth


@dataclass(frozen=True)
class MappingRule:
    id: str
    kinds: tuple[str, ...]
    metric: str | None
    style: str
    minimum: float | str | None
    maximum: float | str | None
    controls: Mapping[str, tuple[str, ...]]
    rationale: str
    line: int | None = None

    def passes(self, value: float, *, threshold: float | None = None) -> bool | None:
        """Whether a measured value meets a bounds rule; None when it needs a threshold nobody gave."""
        if self.style != BOUNDS:
            raise ValueError(f"rule {self.id} is {self.style}: the check's verdict decides, not a value")
        bounds = []
        for bound in (self.minimum, self.maximum):
            if bound == THRESHOLD:
                if threshold is None:
                    return None
                bound = threshold
            bounds.append(bound)
        low, high = bounds
        if low is not None and value < low:
            return False
        if high is not None and value > high:
            return False
        return True


@dataclass(frozen=True)
class CheckMapping:
    rules: tuple[MappingRule, ...]
    path: str | None = None

    def rules_for(self, kind: str) -> tuple[MappingRule, ...]:
        return tuple(rule for rule in self.rules if kind in rule.kinds)

    def mapped_controls(self) -> dict[str, set[str]]:
        mapped: dict[str, set[str]] = {}
        for rule in self.rules:
            for slug, ref_ids in rule.controls.items():
                mapped.setdefault(slug, set()).update(ref_ids)
        return mapped


@dataclass(frozen=True)
class Catalog:
    frameworks: Mapping[str, Framework]
    mapping: CheckMapping


class _LineDict(dict):
    line: int | None = None


class _LineLoader(yaml.SafeLoader):
    """A safe loader whose mappings remember their line and refuse duplicate keys."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    mapping = _LineDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise CatalogError(f"key {key!r} appears twice", path=node.start_mark.name,
                               line=key_node.start_mark.line + 1)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read as UTF-8 text: {exc}", path=path) from exc
    loader = _LineLoader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(f"not valid YAML: {problem}", path=path,
                           line=mark.line + 1 if mark else None) from exc
    finally:
        loader.dispose()


def _line(node: Any) -> int | None:
    return getattr(node, "line", None)


def _text(node: Mapping, key: str, *, path: Path, required: bool = True) -> str:
    value = node.get(key)
    if value is None and not required:
        return ""
    # Numbers are accepted for version-like fields ("1.0" written unquoted).
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{key!r} must be a non-empty string", path=path, line=_line(node))
    if value != value.strip():
        raise CatalogError(f"{key!r} has leading or trailing spaces: {value!r}", path=path, line=_line(node))
    return value


def _string_list(node: Mapping, key: str, *, path: Path) -> tuple[str, ...]:
    value = node.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise CatalogError(f"{key!r} must be a list of strings", path=path, line=_line(node))
    if len(set(value)) != len(value):
        raise CatalogError(f"{key!r} lists an entry twice", path=path, line=_line(node))
    return tuple(value)


def _unknown_keys(node: Mapping, allowed: set[str], what: str, *, path: Path) -> None:
    unknown = sorted(str(key) for key in node if key not in allowed)
    if unknown:
        raise CatalogError(f"{what} has unknown keys {unknown}", path=path, line=_line(node))


def _evidence_level(node: Mapping, *, path: Path) -> str:
    value = node.get("automated_evidence")
    # YAML 1.1 reads a bare yes/no as a boolean; both spellings mean the same here.
    if value is True:
        value = "yes"
    elif value is False:
        value = "no"
    if value not in EVIDENCE_LEVELS:
        raise CatalogError(f"automated_evidence must be one of {list(EVIDENCE_LEVELS)}, not {value!r}",
                           path=path, line=_line(node))
    return value


def _parse_control(node: Any, *, framework: str, path: Path) -> Control:
    if not isinstance(node, Mapping):
        raise CatalogError("each control must be a mapping", path=path)
    _unknown_keys(node, _CONTROL_KEYS, "control", path=path)
    for key in _CONTROL_REQUIRED:
        if key not in node:
            raise CatalogError(f"control lacks {key!r}", path=path, line=_line(node))
    ref_id = _text(node, "ref_id", path=path)
    parent = node.get("parent")
    if parent is not None and (not isinstance(parent, str) or not parent.strip()):
        raise CatalogError(f"{ref_id}: parent must be a ref_id or null", path=path, line=_line(node))
    level = _evidence_level(node, path=path)
    kinds = _string_list(node, "kinds", path=path)
    unknown_kinds = [kind for kind in kinds if kind not in ASSESSMENT_KINDS]
    if unknown_kinds:
        raise CatalogError(f"{ref_id}: unknown assessment kinds {unknown_kinds}", path=path, line=_line(node))
    if level == "no" and kinds:
        raise CatalogError(f"{ref_id}: a control without automated evidence cannot list assessment kinds",
                           path=path, line=_line(node))
    if level != "no" and not kinds:
        raise CatalogError(f"{ref_id}: automated evidence {level!r} needs the assessment kinds that give it",
                           path=path, line=_line(node))
    assessable = node.get("assessable", True)
    if not isinstance(assessable, bool):
        raise CatalogError(f"{ref_id}: assessable must be true or false", path=path, line=_line(node))
    if not assessable and level != "no":
        raise CatalogError(f"{ref_id}: a grouping cannot take automated evidence",
                           path=path, line=_line(node))
    attributes = node.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise CatalogError(f"{ref_id}: attributes must be a mapping", path=path, line=_line(node))
    return Control(
        framework=framework,
        ref_id=ref_id,
        title=_text(node, "title", path=path),
        description=_text(node, "description", path=path),
        parent=parent,
        automated_evidence=level,
        kinds=kinds,
        note=_text(node, "note", path=path, required=False),
        aliases=_string_list(node, "aliases", path=path),
        attributes=dict(attributes),
        assessable=assessable,
        line=_line(node),
    )


def _check_tree(controls: list[Control], *, path: Path) -> None:
    by_id: dict[str, Control] = {}
    names: dict[str, str] = {}
    for control in controls:
        if control.ref_id in by_id:
            first = by_id[control.ref_id].line
            raise CatalogError(f"duplicate ref_id {control.ref_id!r} (first at line {first})",
                               path=path, line=control.line)
        by_id[control.ref_id] = control
    for control in controls:
        for name in (control.ref_id, *control.aliases):
            owner = names.get(name)
            if owner is not None and owner != control.ref_id:
                raise CatalogError(f"{name!r} names both {owner} and {control.ref_id}",
                                   path=path, line=control.line)
            names[name] = control.ref_id
    for control in controls:
        if control.parent is not None and control.parent not in by_id:
            raise CatalogError(f"{control.ref_id}: unknown parent {control.parent!r}",
                               path=path, line=control.line)
    for control in controls:
        seen = {control.ref_id}
        current = control
        while current.parent is not None:
            current = by_id[current.parent]
            if current.ref_id in seen:
                raise CatalogError(f"{control.ref_id}: parent chain loops through {current.ref_id}",
                                   path=path, line=control.line)
            seen.add(current.ref_id)


def _check_tactics(framework_attributes: Mapping, controls: list[Control], *, path: Path) -> None:
    tactics = framework_attributes.get("tactics")
    if tactics is None:
        return
    if not isinstance(tactics, Mapping):
        raise CatalogError("framework attribute 'tactics' must map tactic ids to names", path=path)
    for control in controls:
        for tactic in control.attributes.get("tactics", ()):
            if tactic not in tactics:
                raise CatalogError(f"{control.ref_id}: unknown tactic {tactic!r}",
                                   path=path, line=control.line)


def load_catalog(path: Path | str) -> Framework:
    """Read one framework file and return it validated."""
    path = Path(path)
    document = _read_yaml(path)
    if not isinstance(document, Mapping) or set(document) != {"framework", "controls"}:
        raise CatalogError("a catalog file holds exactly two keys: 'framework' and 'controls'", path=path)
    header = document["framework"]
    if not isinstance(header, Mapping):
        raise CatalogError("'framework' must be a mapping", path=path)
    _unknown_keys(header, _FRAMEWORK_KEYS, "framework header", path=path)
    values = {key: _text(header, key, path=path) for key in _FRAMEWORK_REQUIRED}
    if not _SLUG.match(values["slug"]):
        raise CatalogError(f"slug {values['slug']!r} must be lower-case words joined by '-'",
                           path=path, line=_line(header))
    attributes = header.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise CatalogError("framework attributes must be a mapping", path=path, line=_line(header))
    nodes = document["controls"]
    if not isinstance(nodes, list) or not nodes:
        raise CatalogError("'controls' must be a non-empty list", path=path)
    controls = [_parse_control(node, framework=values["slug"], path=path) for node in nodes]
    _check_tree(controls, path=path)
    _check_tactics(attributes, controls, path=path)
    return Framework(controls=tuple(controls), attributes=dict(attributes), path=str(path), **values)


def _bound(value: Any, name: str, *, rule_id: str, path: Path, line: int | None) -> float | str | None:
    if value is None or value == THRESHOLD:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CatalogError(f"rule {rule_id}: {name} must be a number or {THRESHOLD!r}, not {value!r}",
                           path=path, line=line)
    return float(value)


def _parse_rule(node: Any, *, path: Path, frameworks: Mapping[str, Framework] | None) -> MappingRule:
    if not isinstance(node, Mapping):
        raise CatalogError("each mapping rule must be a mapping", path=path)
    line = _line(node)
    _unknown_keys(node, _RULE_KEYS, "mapping rule", path=path)
    for key in _RULE_REQUIRED:
        if key not in node:
            raise CatalogError(f"mapping rule lacks {key!r}", path=path, line=line)
    rule_id = _text(node, "id", path=path)
    if not _SLUG.match(rule_id):
        raise CatalogError(f"rule id {rule_id!r} must be lower-case words joined by '-' or '.'",
                           path=path, line=line)

    raw_kinds = node["kind"]
    kinds = (raw_kinds,) if isinstance(raw_kinds, str) else raw_kinds
    if not isinstance(kinds, (list, tuple)) or not kinds or not all(isinstance(kind, str) for kind in kinds):
        raise CatalogError(f"rule {rule_id}: kind must be a check kind or a list of them",
                           path=path, line=line)
    kinds = tuple(kinds)
    if len(set(kinds)) != len(kinds):
        raise CatalogError(f"rule {rule_id}: a check kind is listed twice", path=path, line=line)
    for kind in kinds:
        if kind not in CHECK_METRICS:
            raise CatalogError(f"rule {rule_id}: unknown check kind {kind!r}", path=path, line=line)

    metric = node.get("metric")
    spec = node["rule"]
    minimum = maximum = None
    if spec in (STATUS_ONLY, PERFORMED):
        style = spec
        if metric is not None:
            raise CatalogError(f"rule {rule_id}: a {style} rule takes no metric", path=path, line=line)
    elif isinstance(spec, Mapping):
        style = BOUNDS
        if not spec or set(spec) - {"min", "max"}:
            raise CatalogError(f"rule {rule_id}: a bounds rule is {{min: ...}} and/or {{max: ...}}, "
                               f"not {dict(spec)}",
                               path=path, line=line)
        if not isinstance(metric, str):
            raise CatalogError(f"rule {rule_id}: a bounds rule needs a metric", path=path, line=line)
        minimum = _bound(spec.get("min"), "min", rule_id=rule_id, path=path, line=line)
        maximum = _bound(spec.get("max"), "max", rule_id=rule_id, path=path, line=line)
        if minimum == THRESHOLD and maximum == THRESHOLD:
            raise CatalogError(f"rule {rule_id}: one profile threshold cannot be both floor and ceiling",
                               path=path, line=line)
        if isinstance(minimum, float) and isinstance(maximum, float) and minimum > maximum:
            raise CatalogError(f"rule {rule_id}: min {minimum} exceeds max {maximum}", path=path, line=line)
        for kind in kinds:
            direction = CHECK_METRICS[kind].get(metric)
            if direction is None:
                raise CatalogError(f"rule {rule_id}: {kind} produces no metric {metric!r}",
                                   path=path, line=line)
            if direction == CONTEXT_ONLY:
                raise CatalogError(f"rule {rule_id}: {kind} {metric} is context for the evidence, "
                                   "not a criterion",
                                   path=path, line=line)
            # A single-sided bound on the wrong side would call the weaker model compliant.
            if maximum is None and direction == LOWER_IS_BETTER:
                raise CatalogError(f"rule {rule_id}: {metric} is better when lower; bound it with max",
                                   path=path, line=line)
            if minimum is None and direction == HIGHER_IS_BETTER:
                raise CatalogError(f"rule {rule_id}: {metric} is better when higher; bound it with min",
                                   path=path, line=line)
    else:
        raise CatalogError(
            f"rule {rule_id}: rule must be {STATUS_ONLY!r}, {PERFORMED!r} or a mapping with min/max, "
            f"not {spec!r}",
            path=path, line=line)

    targets = node["controls"]
    if not isinstance(targets, Mapping) or not targets:
        raise CatalogError(f"rule {rule_id}: controls must map framework slugs to ref_id lists",
                           path=path, line=line)
    controls: dict[str, tuple[str, ...]] = {}
    for slug, ref_ids in targets.items():
        if not isinstance(ref_ids, list) or not ref_ids or not all(isinstance(ref, str) for ref in ref_ids):
            raise CatalogError(f"rule {rule_id}: controls of {slug!r} must be a non-empty list of ref_ids",
                               path=path, line=line)
        if len(set(ref_ids)) != len(ref_ids):
            raise CatalogError(f"rule {rule_id}: a control of {slug!r} is listed twice", path=path, line=line)
        if frameworks is not None:
            framework = frameworks.get(slug)
            if framework is None:
                raise CatalogError(f"rule {rule_id}: unknown framework {slug!r}", path=path, line=line)
            for ref_id in ref_ids:
                if ref_id not in framework:
                    raise CatalogError(f"rule {rule_id}: {slug} has no control {ref_id!r}",
                                       path=path, line=line)
                control = framework.control(ref_id)
                if not control.takes_automated_evidence:
                    raise CatalogError(
                        f"rule {rule_id}: {slug} {ref_id} is rated automated_evidence 'no' "
                        "and needs manual evidence",
                        path=path, line=line)
        controls[slug] = tuple(ref_ids)

    return MappingRule(
        id=rule_id,
        kinds=kinds,
        metric=metric,
        style=style,
        minimum=minimum,
        maximum=maximum,
        controls=controls,
        rationale=_text(node, "rationale", path=path),
        line=line,
    )


def load_mapping(path: Path | str, frameworks: Mapping[str, Framework] | None = None) -> CheckMapping:
    """Read the mapping file; with frameworks given, every target control must exist and take evidence."""
    path = Path(path)
    document = _read_yaml(path)
    if not isinstance(document, Mapping) or set(document) != {"rules"}:
        raise CatalogError("the mapping file holds exactly one key: 'rules'", path=path)
    nodes = document["rules"]
    if not isinstance(nodes, list) or not nodes:
        raise CatalogError("'rules' must be a non-empty list", path=path)
    rules = [_parse_rule(node, path=path, frameworks=frameworks) for node in nodes]
    seen: dict[str, int | None] = {}
    for rule in rules:
        if rule.id in seen:
            raise CatalogError(f"duplicate rule id {rule.id!r} (first at line {seen[rule.id]})",
                               path=path, line=rule.line)
        seen[rule.id] = rule.line
    return CheckMapping(rules=tuple(rules), path=str(path))


def load_all(directory: Path | str) -> Catalog:
    """Every framework file in the directory plus its mapping.yaml, validated against each other."""
    directory = Path(directory)
    frameworks: dict[str, Framework] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == MAPPING_FILENAME:
            continue
        framework = load_catalog(path)
        if framework.slug in frameworks:
            other = frameworks[framework.slug].path
            raise CatalogError(f"framework slug {framework.slug!r} also used by {other}",
                               path=path)
        frameworks[framework.slug] = framework
    if not frameworks:
        raise CatalogError("no catalog files found", path=directory)
    mapping_path = directory / MAPPING_FILENAME
    if not mapping_path.exists():
        raise CatalogError(f"{MAPPING_FILENAME} is missing", path=directory)
    return Catalog(frameworks=frameworks, mapping=load_mapping(mapping_path, frameworks))


CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
