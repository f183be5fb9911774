"""Control status per asset is derived from evidence: compliant, non-compliant, partial, not assessed, stale,
needs manual evidence; null metrics are judged as the catalog README says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from riskapp.compliance.models import Framework, ManualEvidence
from riskapp.compliance.rules import FAIL, NO_VERDICT, PASS, RECORDED, judge
from riskapp.compliance.selectors import control_statuses_for_asset, posture_by_framework, status_matrix
from riskapp.compliance.services import evidence_record_for_run
from tests.compliance.factories import WHITEBOX_METRICS, WHITEBOX_THRESHOLDS, control, make_asset, make_run

pytestmark = pytest.mark.django_db


def _status(asset, slug, ref_id, now=None):
    framework = Framework.objects.get(slug=slug)
    cells = control_statuses_for_asset(asset=asset, framework=framework, now=now)
    return next(cell for cell in cells if cell.control.ref_id == ref_id)


def _whitebox(**changes):
    return [("evasion.whitebox", changes.pop("status", "passed"), {**WHITEBOX_METRICS, **changes}, WHITEBOX_THRESHOLDS)]


def test_unassessed_asset_is_not_assessed_and_manual_controls_ask_for_evidence(organization):
    asset = make_asset(organization)
    assert _status(asset, "iso-42001", "A.6.2.4").status == "not_assessed"
    assert _status(asset, "iso-42001", "A.2.2").status == "manual"


def test_passing_run_makes_the_mapped_control_compliant(organization):
    asset = make_asset(organization)
    evidence_record_for_run(run=make_run(asset))
    cell = _status(asset, "iso-42001", "A.6.2.4")
    assert cell.status == "compliant"
    assert cell.evidence["verdict"] == "compliant"


def test_failing_run_after_a_passing_one_turns_the_control_non_compliant(organization):
    asset = make_asset(organization)
    earlier = timezone.now() - timedelta(days=2)
    evidence_record_for_run(run=make_run(asset, finished_at=earlier))
    evidence_record_for_run(run=make_run(asset, checks=_whitebox(robust_accuracy=0.12, status="failed")))
    assert _status(asset, "iso-42001", "A.6.2.4").status == "non_compliant"
    assert _status(asset, "owasp-ml-top10", "ML01").status == "non_compliant"
    assert _status(asset, "nist-ai-rmf", "MEASURE 2.7").status == "non_compliant"


def test_evidence_older_than_the_freshness_window_is_stale(organization):
    organization.freshness_days = 30
    organization.save()
    asset = make_asset(organization)
    measured = timezone.now()
    evidence_record_for_run(run=make_run(asset, finished_at=measured))
    assert _status(asset, "iso-42001", "A.6.2.4", now=measured + timedelta(days=29)).status == "compliant"
    stale = _status(asset, "iso-42001", "A.6.2.4", now=measured + timedelta(days=31))
    assert stale.status == "stale" and "older than 30 days" in stale.reason


def test_stale_follows_the_frozen_clock_too(organization, monkeypatch):
    asset = make_asset(organization)
    measured = timezone.now()
    evidence_record_for_run(run=make_run(asset, finished_at=measured))
    frozen = measured + timedelta(days=45)
    monkeypatch.setattr(timezone, "now", lambda: frozen)
    assert _status(asset, "iso-42001", "A.6.2.4").status == "stale"


def test_partly_automated_control_stays_partial_until_manual_evidence_is_attached(organization, owner):
    asset = make_asset(organization)
    evidence_record_for_run(run=make_run(asset))
    measure_26 = control("nist-ai-rmf", "MEASURE 2.6")
    assert measure_26.automated_evidence == "partly"
    assert _status(asset, "nist-ai-rmf", "MEASURE 2.6").status == "partial"
    ManualEvidence.objects.create(organization=organization, asset=asset, control=measure_26, title="Review",
                                  link="https://example.test/review", owner=owner,
                                  expires_on=timezone.now().date() + timedelta(days=90))
    assert _status(asset, "nist-ai-rmf", "MEASURE 2.6").status == "compliant"


def test_manual_only_control_is_compliant_with_valid_and_stale_with_expired_evidence(organization, owner):
    asset = make_asset(organization)
    policy = control("iso-42001", "A.2.2")
    evidence = ManualEvidence.objects.create(organization=organization, asset=asset, control=policy,
                                             title="AI policy", link="https://example.test/policy", owner=owner,
                                             expires_on=timezone.now().date() + timedelta(days=10))
    assert _status(asset, "iso-42001", "A.2.2").status == "compliant"
    later = timezone.now() + timedelta(days=11)
    assert _status(asset, "iso-42001", "A.2.2", now=later).status == "stale"
    assert evidence.pk


def test_metric_without_a_profile_threshold_is_recorded_not_judged(organization):
    asset = make_asset(organization)
    records = evidence_record_for_run(run=make_run(asset))
    ml01 = next(r for r in records if r.control.ref_id == "ML01")
    outcomes = {rule["rule"]: rule["outcome"] for rule in ml01.data["rules"]}
    assert outcomes["evasion-whitebox-attack-success"] == RECORDED
    assert outcomes["evasion-whitebox-robust-accuracy"] == PASS
    assert ml01.verdict == "compliant"


def test_unreliable_run_never_makes_a_control_compliant(organization):
    asset = make_asset(organization)
    evidence_record_for_run(run=make_run(asset, unreliable=True))
    assert _status(asset, "iso-42001", "A.6.2.4").status == "partial"


# ---------------------------------------------------------------- null metrics, judged explicitly


def _judge(kind, metric, metrics, rule=("min", "threshold"), thresholds=None):
    key, bound = rule
    return judge(rule_id="r", style="bounds", metric=metric, minimum=bound if key == "min" else None,
                 maximum=bound if key == "max" else None, kind=kind, status="passed", metrics=metrics,
                 thresholds=thresholds if thresholds is not None else {metric: {key: 0.05}})


def test_breaking_epsilon_null_means_never_broke_within_the_grid_and_passes_a_floor():
    outcome = _judge("evasion.whitebox", "breaking_epsilon", {"breaking_epsilon": None})
    assert outcome.outcome == PASS and "never reached" in outcome.reason
    assert _judge("evasion.whitebox", "breaking_epsilon", {"breaking_epsilon": 0.02}).outcome == FAIL
    assert _judge("evasion.whitebox", "breaking_epsilon", {"breaking_epsilon": 0.2}).outcome == PASS


def test_blackbox_success_rate_null_means_not_attacked_and_gives_no_verdict():
    outcome = _judge("evasion.blackbox", "success_rate", {"success_rate": None, "attacked": 0}, rule=("max", "threshold"))
    assert outcome.outcome == NO_VERDICT


def test_blackbox_median_perturbation_null_passes_only_when_samples_were_attacked():
    attacked = {"median_perturbation": None, "attacked": 12}
    assert _judge("evasion.blackbox", "median_perturbation", attacked).outcome == PASS
    nothing = {"median_perturbation": None, "attacked": 0}
    assert _judge("evasion.blackbox", "median_perturbation", nothing).outcome == NO_VERDICT


def test_other_nulls_and_missing_metrics_give_no_verdict():
    adaptive_off = {"adaptive_detection_rate": None}
    assert _judge("detection.train", "adaptive_detection_rate", adaptive_off).outcome == NO_VERDICT
    assert _judge("extraction", "agreement", {}, rule=("max", "threshold")).outcome == NO_VERDICT


def test_sanity_all_passed_boolean_is_read_as_one_or_zero():
    ok = judge(rule_id="r", style="bounds", metric="all_passed", minimum=1.0, maximum=None, kind="evasion.sanity",
               status="passed", metrics={"all_passed": True}, thresholds={})
    bad = judge(rule_id="r", style="bounds", metric="all_passed", minimum=1.0, maximum=None, kind="evasion.sanity",
                status="failed", metrics={"all_passed": False}, thresholds={})
    assert ok.outcome == PASS and bad.outcome == FAIL


def test_blackbox_run_not_attacked_leaves_its_controls_partial(organization):
    asset = make_asset(organization)
    checks = [("evasion.blackbox", "passed", {"success_rate": None, "attacked": 0, "median_perturbation": None},
               {"success_rate": {"max": 0.5}})]
    records = evidence_record_for_run(run=make_run(asset, checks=checks))
    t0043_001 = next(r for r in records if r.control.ref_id == "AML.T0043.001")
    assert t0043_001.verdict == "partial"


# ---------------------------------------------------------------- matrix and posture


def test_matrix_query_count_does_not_grow_with_assets(organization, django_assert_max_num_queries):
    framework = Framework.objects.get(slug="iso-42001")
    first = make_asset(organization)
    evidence_record_for_run(run=make_run(first))
    with django_assert_max_num_queries(5) as one_asset:
        status_matrix(organization=organization, framework=framework)
    for _ in range(6):
        evidence_record_for_run(run=make_run(make_asset(organization)))
    with django_assert_max_num_queries(len(one_asset.captured_queries)):
        matrix = status_matrix(organization=organization, framework=framework)
    assert len(matrix.assets) == 7
    assert all(cell.status == "compliant" for asset, cells in matrix.rows() for cell in cells
               if cell.control.ref_id == "A.6.2.4")


def test_matrix_filters_by_status_and_text(organization):
    framework = Framework.objects.get(slug="iso-42001")
    asset = make_asset(organization)
    evidence_record_for_run(run=make_run(asset))
    compliant = status_matrix(organization=organization, framework=framework, statuses=["compliant"])
    assert "A.6.2.4" in [c.ref_id for c in compliant.controls]
    assert "A.2.2" not in [c.ref_id for c in compliant.controls]
    searched = status_matrix(organization=organization, framework=framework, search="A.6.2")
    assert all(c.ref_id.startswith("A.6.2") for c in searched.controls)


def test_posture_counts_every_assessable_control_of_each_framework(organization):
    asset = make_asset(organization)
    evidence_record_for_run(run=make_run(asset))
    posture = {p.framework.slug: p for p in posture_by_framework(organization=organization)}
    assert posture["iso-42001"].total == 38
    assert posture["nist-ai-rmf"].total == 72
    assert posture["iso-42001"].counts["compliant"] >= 1
