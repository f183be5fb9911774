"""A control that flips from compliant to non-compliant opens its own alert; regressions name their controls."""

from __future__ import annotations

import pytest

from riskapp.compliance.services import evidence_record_for_run
from riskapp.monitoring.models import AlertKind, AlertStatus, Severity
from riskapp.monitoring.services import regression_check
from tests.monitoring.factories import make_asset, make_profile, make_run, whitebox_metrics

THRESHOLDS = {"evasion.whitebox": {"robust_accuracy": {"min": 0.5}}}
GOOD = {"evasion.whitebox": whitebox_metrics(clean=0.95, robust={0.05: 0.85, 0.1: 0.60, 0.2: 0.30})}
WEAK = {"evasion.whitebox": whitebox_metrics(clean=0.90, robust={0.05: 0.70, 0.1: 0.40, 0.2: 0.10})}


def _finished(asset, profile, checks, minutes_ago=0.0):
    # What run_execute does after storing results: evidence first, then the regression check.
    run = make_run(asset, profile, checks=checks, thresholds=THRESHOLDS, minutes_ago=minutes_ago)
    evidence_record_for_run(run=run)
    return run, regression_check(run=run)


@pytest.fixture
def asset(organization):
    return make_asset(organization)


@pytest.fixture
def profile(organization):
    return make_profile(organization)


def test_a_control_flipping_to_non_compliant_opens_a_control_alert(asset, profile):
    baseline, alerts = _finished(asset, profile, GOOD, minutes_ago=30)
    assert alerts == []
    current, alerts = _finished(asset, profile, WEAK)
    by_kind = {alert.kind: alert for alert in alerts}
    assert set(by_kind) == {AlertKind.REGRESSION, AlertKind.CONTROL}

    control_alert = by_kind[AlertKind.CONTROL]
    assert control_alert.severity == Severity.CRITICAL
    flipped = {(c["framework_slug"], c["control_id"]): c for c in control_alert.controls}
    measure = flipped[("nist-ai-rmf", "MEASURE 2.5")]
    assert (measure["before"], measure["after"]) == ("compliant", "non_compliant")
    assert measure["url"].startswith("/compliance/frameworks/nist-ai-rmf/controls/")
    assert ("iso-42001", "A.6.2.4") in flipped and ("eu-ai-act", "Art. 15(5)") in flipped

    # The metric alert names the controls its regressed metrics are evidence for, with their status now.
    regression_controls = {(c["framework_slug"], c["control_id"]): c for c in by_kind[AlertKind.REGRESSION].controls}
    assert regression_controls[("nist-ai-rmf", "MEASURE 2.5")]["status"] == "non_compliant"
    assert regression_controls[("iso-42001", "A.6.2.4")]["url"]


def test_the_control_alert_resolves_when_the_controls_are_compliant_again(asset, profile):
    _finished(asset, profile, GOOD, minutes_ago=30)
    _, alerts = _finished(asset, profile, WEAK, minutes_ago=20)
    control_alert = next(a for a in alerts if a.kind == AlertKind.CONTROL)
    _finished(asset, profile, GOOD, minutes_ago=10)
    control_alert.refresh_from_db()
    assert control_alert.status == AlertStatus.RESOLVED and control_alert.auto_resolved


def test_a_compliance_failure_still_raises_the_metric_alert(asset, profile, monkeypatch):
    from riskapp.monitoring import selectors

    def broken(**kwargs):
        raise RuntimeError("catalog not loaded")

    monkeypatch.setattr(selectors, "control_statuses_after", broken)
    make_run(asset, profile, checks=GOOD, minutes_ago=30)
    [alert] = regression_check(run=make_run(asset, profile, checks=WEAK))
    assert alert.kind == AlertKind.REGRESSION and alert.controls == []
