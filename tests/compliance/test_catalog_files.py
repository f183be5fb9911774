"""The shipped control catalogs and mapping are complete and consistent, and broken files are refused."""

from __future__ import annotations

import os
import re
from difflib import SequenceMatcher
from pathlib import Path

import pytest
import yaml

from riskapp.compliance.catalog_schema import (
    CATALOG_DIR,
    CHECK_KIND_CODES,
    CHECK_KINDS,
    CHECK_METRICS,
    CONTEXT_ONLY,
    BOUNDS,
    CatalogError,
    load_all,
    load_catalog,
    load_mapping,
)

FRAMEWORK_SLUGS = {"nist-ai-rmf", "iso-42001", "eu-ai-act", "mitre-atlas", "owasp-ml-top10"}

# Rated "partly" in the reference, but only when the asset is a supplier's model or the report goes to an
# outside party; no check result tells riskapp that, so these stay with manual evidence.
PARTLY_WITHOUT_AUTOMATED_RULE = {
    ("nist-ai-rmf", "MANAGE 3.1"),
    ("iso-42001", "A.8.3"),
    ("iso-42001", "A.10.3"),
    ("iso-42001", "A.10.4"),
}

ATTACK_KINDS = (
    "evasion.whitebox", "evasion.blackbox", "poisoning.backdoor", "poisoning.data_scan",
    "extraction", "inference.membership", "inference.attribute",
)


@pytest.fixture(scope="module")
def catalog():
    return load_all(CATALOG_DIR)


# ---------------------------------------------------------------- the shipped files


def test_all_five_frameworks_load_with_the_mapping(catalog):
    assert set(catalog.frameworks) == FRAMEWORK_SLUGS
    assert len(catalog.mapping.rules) >= len(CHECK_KINDS)
    for framework in catalog.frameworks.values():
        assert framework.version and framework.url.startswith("https://")


def test_nist_ai_rmf_has_72_subcategories_under_19_categories_and_4_functions(catalog):
    nist = catalog.frameworks["nist-ai-rmf"]
    by_depth: dict[int, list[str]] = {}
    for control in nist.controls:
        by_depth.setdefault(nist.depth(control.ref_id), []).append(control.ref_id)
    assert sorted(by_depth[1]) == ["GOVERN", "MANAGE", "MAP", "MEASURE"]
    assert len(by_depth[2]) == 19
    assert len(by_depth[3]) == 72
    per_function = {name: sum(ref.split(" ")[0] == name for ref in by_depth[3]) for name in by_depth[1]}
    assert per_function == {"GOVERN": 19, "MAP": 18, "MEASURE": 22, "MANAGE": 13}


def test_nist_ids_follow_the_framework_numbering(catalog):
    nist = catalog.frameworks["nist-ai-rmf"]
    for control in nist.controls:
        depth = nist.depth(control.ref_id)
        if depth == 3:
            assert re.fullmatch(r"(GOVERN|MAP|MEASURE|MANAGE) \d+\.\d+", control.ref_id)
            assert control.parent == control.ref_id.split(".")[0]
            assert control.assessable
        else:
            assert re.fullmatch(r"(GOVERN|MAP|MEASURE|MANAGE)( \d+)?", control.ref_id)
            assert not control.assessable
    assert nist.control("MEASURE 2.7").automated_evidence == "yes"
    assert "MS-2.7" in nist.control("MEASURE 2.7").aliases


def test_iso_42001_has_38_annex_a_controls_in_9_groups(catalog):
    iso = catalog.frameworks["iso-42001"]
    groups = [control.ref_id for control in iso.controls if control.parent is None]
    assert groups == [f"A.{number}" for number in range(2, 11)]
    controls = [control for control in iso.controls if control.parent is not None]
    assert len(controls) == 38
    for control in controls:
        assert control.assessable
        assert re.fullmatch(r"A\.\d+(\.\d+){1,2}", control.ref_id)
        group = ".".join(control.ref_id.split(".")[:2])
        assert control.parent == group
        # The A.x.1 entries are objectives, not controls.
        assert not re.fullmatch(r"A\.\d+\.1", control.ref_id)


def test_owasp_ml_top10_keeps_short_and_full_ids(catalog):
    owasp = catalog.frameworks["owasp-ml-top10"]
    assert owasp.ref_ids == tuple(f"ML{number:02d}" for number in range(1, 11))
    for control in owasp.controls:
        assert control.aliases == (f"{control.ref_id}:2023",)


def test_atlas_ids_are_well_formed_and_sub_techniques_hang_under_their_technique(catalog):
    atlas = catalog.frameworks["mitre-atlas"]
    tactics = atlas.attributes["tactics"]
    pinned = set(atlas.attributes["pinned_versions"])
    assert atlas.version in pinned
    for control in atlas.controls:
        assert re.fullmatch(r"AML\.(T\d{4}(\.\d{3})?|M\d{4})", control.ref_id), control.ref_id
        names = control.attributes["names"]
        assert names and set(names) <= pinned
        if control.ref_id.startswith("AML.T"):
            assert control.attributes["type"] == "technique"
            assert control.attributes["tactics"] and set(control.attributes["tactics"]) <= set(tactics)
            base, _, sub = control.ref_id.partition(".")[2].partition(".")
            assert control.parent == (f"AML.{base}" if sub else None)
        else:
            assert control.attributes["type"] == "mitigation"
            assert control.parent is None
    # Names moved between releases; the catalog keeps both.
    assert atlas.control("AML.T0020").attributes["names"] == {
        "v5.6.1": "Poison Training Data", "v2026.07": "Training Data Poisoning"}
    assert atlas.control("AML.M0003").attributes["names"]["v2026.07"] == "Predictive AI Model Hardening"


def test_eu_ai_act_attack_list_is_in_article_15_5_not_15_4(catalog):
    act = catalog.frameworks["eu-ai-act"]
    third = act.control("Art. 15(5)(3)")
    assert third.parent == "Art. 15(5)"
    assert "Art. 15(5) third subparagraph" in third.aliases
    for attack in ("data poisoning", "model poisoning", "adversarial examples", "confidentiality attacks",
                   "model flaws"):
        assert attack in third.description
    paragraph_4 = [control for control in act.controls
                   if control.ref_id == "Art. 15(4)" or control.parent == "Art. 15(4)"]
    assert len(paragraph_4) == 4
    for control in paragraph_4:
        text = f"{control.title} {control.description}".lower()
        assert not any(word in text for word in ("poison", "adversarial", "confidentiality", "evasion"))
    for kind in ATTACK_KINDS:
        mapped = set()
        for rule in catalog.mapping.rules_for(kind):
            mapped.update(rule.controls.get("eu-ai-act", ()))
        assert "Art. 15(5)(3)" in mapped, kind


def test_eu_ai_act_covers_the_required_articles_and_hooks(catalog):
    act = catalog.frameworks["eu-ai-act"]
    for ref_id in ("Art. 9(6)", "Art. 9(8)", "Art. 10(2)(c)", "Art. 12(2)(a)", "Art. 15(1)", "Art. 15(5)",
                   "Art. 72(2)", "Annex IV 2(g)", "Annex IV 2(h)", "Art. 13(3)(b)(ii)", "Art. 17(1)(d)"):
        assert ref_id in act
    for article in ("Art. 9", "Art. 10", "Art. 12", "Art. 15", "Art. 72"):
        assert act.children(article), article


def test_every_mapped_control_exists_and_takes_automated_evidence(catalog):
    for rule in catalog.mapping.rules:
        assert set(rule.controls) <= FRAMEWORK_SLUGS
        for slug, ref_ids in rule.controls.items():
            for ref_id in ref_ids:
                control = catalog.frameworks[slug].control(ref_id)
                assert control.automated_evidence in ("yes", "partly"), (rule.id, slug, ref_id)
                assert control.assessable


def test_every_control_rated_for_automated_evidence_has_a_rule(catalog):
    mapped = catalog.mapping.mapped_controls()
    unmapped = {
        (slug, control.ref_id)
        for slug, framework in catalog.frameworks.items()
        for control in framework.controls
        if control.takes_automated_evidence and control.ref_id not in mapped.get(slug, set())
    }
    assert unmapped == PARTLY_WITHOUT_AUTOMATED_RULE
    for slug, ref_id in unmapped:
        assert catalog.frameworks[slug].control(ref_id).automated_evidence == "partly"


def test_mapped_controls_list_the_assessment_kind_of_the_check(catalog):
    for rule in catalog.mapping.rules:
        for kind in rule.kinds:
            code = CHECK_KIND_CODES[kind]
            for slug, ref_ids in rule.controls.items():
                for ref_id in ref_ids:
                    control = catalog.frameworks[slug].control(ref_id)
                    assert code in control.kinds, (rule.id, kind, slug, ref_id)


def test_every_check_kind_has_rules_and_bounds_use_the_engine_metrics(catalog):
    assert set(CHECK_KIND_CODES) == set(CHECK_KINDS)
    for kind in CHECK_KINDS:
        assert catalog.mapping.rules_for(kind), kind
    for rule in catalog.mapping.rules:
        if rule.style == BOUNDS:
            for kind in rule.kinds:
                assert CHECK_METRICS[kind][rule.metric] != CONTEXT_ONLY
    integrity = [rule for rule in catalog.mapping.rules_for("integrity.data") if rule.id == "integrity-data"]
    assert integrity[0].style == "status_only" and integrity[0].metric is None


def test_the_example_rule_from_the_brief_is_present(catalog):
    rule = next(rule for rule in catalog.mapping.rules if rule.id == "evasion-whitebox-robust-accuracy")
    assert rule.kinds == ("evasion.whitebox",) and rule.minimum == "threshold" and rule.maximum is None
    assert {"MEASURE 2.7", "MEASURE 2.5"} <= set(rule.controls["nist-ai-rmf"])
    assert "A.6.2.4" in rule.controls["iso-42001"]
    assert "Art. 15(5)" in rule.controls["eu-ai-act"]
    assert {"AML.T0043", "AML.M0003"} <= set(rule.controls["mitre-atlas"])
    assert rule.controls["owasp-ml-top10"] == ("ML01",)


# ---------------------------------------------------------------- titles are our own words

REFERENCE = Path(os.environ.get("RISKAPP_FRAMEWORKS_REFERENCE", "/work/shared/reference/frameworks.md"))


def _normalized(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def _reference_titles() -> dict[str, str]:
    titles = {}
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and line.startswith("|") and not set(cells[0]) <= set("-: "):
            titles[cells[0]] = cells[1]
    return titles


@pytest.mark.skipif(not REFERENCE.exists(), reason=f"framework reference not present at {REFERENCE}")
def test_titles_are_paraphrases_not_copies_of_the_reference_tables(catalog):
    reference = _reference_titles()
    assert len(reference) > 150  # the parser really read the tables
    reference_texts = {_normalized(title) for title in reference.values()}
    for framework in catalog.frameworks.values():
        for control in framework.controls:
            for text in (control.title, control.description):
                ours = _normalized(text)
                assert ours not in reference_texts, (framework.slug, control.ref_id, text)
                # Not a light edit either: a reworded copy would still be somebody else's wording.
                matcher = SequenceMatcher(None, b=ours)
                for theirs in reference_texts:
                    matcher.set_seq1(theirs)
                    # quick_ratio is an upper bound of ratio and far cheaper.
                    if matcher.quick_ratio() >= 0.8:
                        assert matcher.ratio() < 0.8, (framework.slug, control.ref_id, text, theirs)


def test_titles_are_unique_within_each_framework(catalog):
    for framework in catalog.frameworks.values():
        titles = [_normalized(control.title) for control in framework.controls]
        assert len(titles) == len(set(titles)), framework.slug


# ---------------------------------------------------------------- rule evaluation


def test_bounds_rules_judge_values_against_the_profile_threshold(catalog):
    robust = next(rule for rule in catalog.mapping.rules if rule.id == "evasion-whitebox-robust-accuracy")
    assert robust.passes(0.62, threshold=0.6) is True
    assert robust.passes(0.6, threshold=0.6) is True
    assert robust.passes(0.41, threshold=0.6) is False
    assert robust.passes(0.9) is None  # no threshold in the profile: recorded, no verdict
    sanity = next(rule for rule in catalog.mapping.rules if rule.id == "evasion-sanity")
    assert sanity.passes(1.0) is True and sanity.passes(0.0) is False
    membership = next(rule for rule in catalog.mapping.rules if rule.id == "inference-membership-auc")
    assert membership.passes(0.52, threshold=0.6) is True and membership.passes(0.71, threshold=0.6) is False
    with pytest.raises(ValueError):
        next(rule for rule in catalog.mapping.rules if rule.id == "integrity-data").passes(1.0)


# ---------------------------------------------------------------- broken input is refused


def _framework(**changes) -> dict:
    document = {
        "framework": {"slug": "demo", "name": "Demo", "version": "1", "publisher": "Us",
                      "url": "https://example.org/", "source_notes": "test data"},
        "controls": [
            {"ref_id": "G", "title": "Group", "description": "A grouping.", "parent": None,
             "automated_evidence": "no", "assessable": False},
            {"ref_id": "G.1", "title": "Tested", "description": "Evidenced by tests.", "parent": "G",
             "automated_evidence": "yes", "kinds": ["EVA"]},
            {"ref_id": "G.2", "title": "Manual", "description": "Needs a person.", "parent": "G",
             "automated_evidence": "no"},
        ],
    }
    document.update(changes)
    return document


def _rule(**changes) -> dict:
    rule = {"id": "r1", "kind": "evasion.whitebox", "metric": "robust_accuracy",
            "rule": {"min": "threshold"}, "controls": {"demo": ["G.1"]}, "rationale": "Because."}
    rule.update(changes)
    return rule


def _write(directory: Path, framework: dict, rules: list[dict]) -> Path:
    (directory / "demo.yaml").write_text(yaml.safe_dump(framework, sort_keys=False), encoding="utf-8")
    mapping = yaml.safe_dump({"rules": rules}, sort_keys=False)
    (directory / "mapping.yaml").write_text(mapping, encoding="utf-8")
    return directory


def test_minimal_valid_files_load(tmp_path):
    catalog = load_all(_write(tmp_path, _framework(), [_rule()]))
    assert catalog.frameworks["demo"].depth("G.1") == 2
    assert catalog.mapping.rules[0].controls == {"demo": ("G.1",)}


def test_duplicate_ref_id_is_refused_with_its_line(tmp_path):
    framework = _framework()
    framework["controls"].append(dict(framework["controls"][1], title="Again"))
    _write(tmp_path, framework, [_rule()])
    with pytest.raises(CatalogError, match="duplicate ref_id 'G.1'") as caught:
        load_catalog(tmp_path / "demo.yaml")
    lines = (tmp_path / "demo.yaml").read_text().splitlines()
    second = [number for number, line in enumerate(lines, 1) if line.strip() == "- ref_id: G.1"][1]
    assert caught.value.line == second
    assert "demo.yaml, line" in str(caught.value)


@pytest.mark.parametrize(
    ("control_change", "message"),
    [
        ({"parent": "H"}, "unknown parent 'H'"),
        ({"automated_evidence": "maybe"}, "automated_evidence must be one of"),
        ({"kinds": ["EVA", "XSS"]}, "unknown assessment kinds"),
        ({"kinds": []}, "needs the assessment kinds"),
        ({"paernt": "G"}, "unknown keys"),
        ({"title": ""}, "'title' must be a non-empty string"),
        ({"assessable": False}, "a grouping cannot take automated evidence"),
    ],
)
def test_broken_control_is_refused(tmp_path, control_change, message):
    framework = _framework()
    framework["controls"][1].update(control_change)
    _write(tmp_path, framework, [_rule()])
    with pytest.raises(CatalogError, match=re.escape(message)):
        load_catalog(tmp_path / "demo.yaml")


def test_manual_control_listing_assessment_kinds_is_refused(tmp_path):
    framework = _framework()
    framework["controls"][2]["kinds"] = ["EVA"]
    _write(tmp_path, framework, [_rule()])
    with pytest.raises(CatalogError, match="without automated evidence cannot list"):
        load_catalog(tmp_path / "demo.yaml")


def test_parent_loop_is_refused(tmp_path):
    framework = _framework()
    framework["controls"][0]["parent"] = "G.1"
    _write(tmp_path, framework, [_rule()])
    with pytest.raises(CatalogError, match="parent chain loops"):
        load_catalog(tmp_path / "demo.yaml")


def test_repeated_yaml_key_is_refused_not_silently_overwritten(tmp_path):
    path = tmp_path / "demo.yaml"
    text = yaml.safe_dump(_framework(), sort_keys=False)
    repeated = text.replace("  title: Tested\n", "  title: Tested\n  title: Overwritten\n")
    path.write_text(repeated, encoding="utf-8")
    with pytest.raises(CatalogError, match="key 'title' appears twice") as caught:
        load_catalog(path)
    assert path.read_text().splitlines()[caught.value.line - 1].strip() == "title: Overwritten"


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text("framework:\n  slug: demo\ncontrols: [\n  - oops: : :\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid YAML") as caught:
        load_catalog(path)
    assert caught.value.line is not None


@pytest.mark.parametrize(
    ("rule_change", "message"),
    [
        ({"controls": {"nist": ["G.1"]}}, "unknown framework 'nist'"),
        ({"controls": {"demo": ["G.9"]}}, "demo has no control 'G.9'"),
        ({"controls": {"demo": ["G.2"]}}, "needs manual evidence"),
        ({"controls": {"demo": ["G"]}}, "needs manual evidence"),
        ({"controls": {"demo": ["G.1", "G.1"]}}, "listed twice"),
        ({"kind": "evasion.greybox"}, "unknown check kind 'evasion.greybox'"),
        ({"metric": "robust_accuracy_at_profile_eps"}, "evasion.whitebox produces no metric 'robust_accuracy_at_profile_eps'"),
        ({"rule": {"above": 0.5}}, "a bounds rule is"),
        ({"rule": {}}, "a bounds rule is"),
        ({"rule": "sometimes"}, "rule must be 'status_only', 'performed' or a mapping"),
        ({"rule": {"min": "high"}}, "min must be a number or 'threshold'"),
        ({"rule": {"min": True}}, "min must be a number or 'threshold'"),
        ({"rule": {"min": 0.9, "max": 0.1}}, "min 0.9 exceeds max 0.1"),
        ({"rule": {"max": "threshold"}}, "better when higher; bound it with min"),
        ({"metric": "attack_success_rate"}, "better when lower; bound it with max"),
        ({"rule": "status_only"}, "a status_only rule takes no metric"),
        ({"metric": None}, "a bounds rule needs a metric"),
        ({"rationale": " "}, "'rationale' must be a non-empty string"),
        ({"id": "Rule One"}, "rule id 'Rule One'"),
        ({"kind": "poisoning.backdoor", "metric": "clean_accuracy_cost", "rule": {"max": 0.1}},
         "context for the evidence, not a criterion"),
        ({"kind": ["evasion.whitebox", "extraction"]}, "extraction produces no metric"),
    ],
)
def test_broken_mapping_rule_is_refused(tmp_path, rule_change, message):
    _write(tmp_path, _framework(), [_rule(**rule_change)])
    with pytest.raises(CatalogError, match=re.escape(message)) as caught:
        load_all(tmp_path)
    assert "mapping.yaml, line 2" in str(caught.value)


def test_duplicate_rule_id_is_refused(tmp_path):
    _write(tmp_path, _framework(), [_rule(), _rule()])
    with pytest.raises(CatalogError, match="duplicate rule id 'r1'"):
        load_all(tmp_path)


def test_mapping_without_frameworks_checks_only_its_own_shape(tmp_path):
    _write(tmp_path, _framework(), [_rule(controls={"elsewhere": ["X"]})])
    assert load_mapping(tmp_path / "mapping.yaml").rules[0].controls == {"elsewhere": ("X",)}
    with pytest.raises(CatalogError, match="unknown framework 'elsewhere'"):
        load_all(tmp_path)


def test_two_files_with_one_slug_are_refused(tmp_path):
    _write(tmp_path, _framework(), [_rule()])
    (tmp_path / "demo-copy.yaml").write_text((tmp_path / "demo.yaml").read_text(), encoding="utf-8")
    with pytest.raises(CatalogError, match="framework slug 'demo' also used by"):
        load_all(tmp_path)


def test_directory_without_mapping_is_refused(tmp_path):
    _write(tmp_path, _framework(), [_rule()])
    (tmp_path / "mapping.yaml").unlink()
    with pytest.raises(CatalogError, match="mapping.yaml is missing"):
        load_all(tmp_path)


def test_alias_that_names_another_control_is_refused(tmp_path):
    framework = _framework()
    framework["controls"][2]["aliases"] = ["G.1"]
    _write(tmp_path, framework, [_rule()])
    with pytest.raises(CatalogError, match="'G.1' names both G.1 and G.2"):
        load_catalog(tmp_path / "demo.yaml")


def test_unknown_tactic_is_refused(tmp_path):
    framework = _framework()
    framework["framework"]["attributes"] = {"tactics": {"AML.TA0001": "Staging"}}
    framework["controls"][1]["attributes"] = {"tactics": ["AML.TA0099"]}
    _write(tmp_path, framework, [_rule()])
    with pytest.raises(CatalogError, match="unknown tactic 'AML.TA0099'"):
        load_catalog(tmp_path / "demo.yaml")


def test_file_that_is_not_utf8_text_is_refused(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_bytes(b"framework:\n  name: \xff\xfe\n")
    with pytest.raises(CatalogError, match="cannot read as UTF-8 text"):
        load_catalog(path)


def test_catalog_schema_imports_no_django():
    import ast

    import riskapp.compliance.catalog_schema as catalog_schema

    tree = ast.parse(Path(catalog_schema.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not any(name.split(".")[0] in ("django", "riskapp") for name in imported)
    assert "yaml" in imported
