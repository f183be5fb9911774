"""regression_check after a finished run: alerts open once, update instead of duplicating, and resolve on recovery."""

from __future__ import annotations

import pytest

from riskapp.assessments.models import RunStatus
from riskapp.audit.models import AuditEvent
from riskapp.monitoring.models import Alert, AlertKind, AlertStatus, RunComparison, Severity
from riskapp.monitoring.selectors import baseline_for, open_alert_count
from riskapp.monitoring.services import baseline_pin, regression_check
from tests.monitoring.factories import make_asset, make_profile, make_run, whitebox_metrics

GOOD = {"evasion.whitebox": whitebox_metrics(clean=0.95, robust={0.05: 0.85, 0.1: 0.60, 0.2: 0.30}, breaking=0.2)}
SLIGHTLY_WORSE = {"evasion.whitebox": whitebox_metrics(clean=0.95, robust={0.05: 0.83, 0.1: 0.57, 0.2: 0.28},
                                                       breaking=0.2)}
WEAK = {"evasion.whitebox": whitebox_metrics(clean=0.90, robust={0.05: 0.70, 0.1: 0.40, 0.2: 0.10}, breaking=0.1)}
WEAKER_STILL = {"evasion.whitebox": whitebox_metrics(clean=0.88, robust={0.05: 0.60, 0.1: 0.30, 0.2: 0.05},
                                                     breaking=0.05)}


@pytest.fixture
def asset(organization):
    return make_asset(organization)


@pytest.fixture
def profile(organization):
    return make_profile(organization)


def test_no_alert_when_nothing_regressed(asset, profile):
    make_run(asset, profile, checks=GOOD, minutes_ago=30)
    run = make_run(asset, profile, checks=SLIGHTLY_WORSE)
    assert regression_check(run=run) == []
    assert not Alert.objects.exists()
    comparison = RunComparison.objects.get(run=run)
    assert comparison.regressed is False and comparison.rows  # compared, all within tolerance


def test_first_run_has_no_baseline_and_raises_nothing(asset, profile):
    run = make_run(asset, profile, checks=WEAK)
    assert regression_check(run=run) == []
    assert RunComparison.objects.get(run=run).baseline_run is None


def test_regression_opens_one_alert_with_the_diff(asset, profile, organization):
    baseline = make_run(asset, profile, checks=GOOD, minutes_ago=30)
    run = make_run(asset, profile, checks=WEAK)
    [alert] = regression_check(run=run)
    assert alert.kind == AlertKind.REGRESSION and alert.status == AlertStatus.OPEN
    assert alert.baseline_run == baseline and alert.current_run == run
    rows = {row["key"]: row for row in alert.diff}
    worst_at_01 = rows["evasion.whitebox:worst_case:robust_accuracy@0.1"]
    assert (worst_at_01["baseline"], worst_at_01["current"]) == (0.60, 0.40)
    assert worst_at_01["delta"] == pytest.approx(-0.20)
    assert worst_at_01["tolerance"] == 0.05
    assert rows["evasion.whitebox:breaking_epsilon"]["current"] == 0.1
    # -0.20 is four tolerances: critical.
    assert alert.severity == Severity.CRITICAL
    assert open_alert_count(organization=organization) == 1
    assert AuditEvent.objects.filter(action="alert.open", object_id=str(alert.pk)).exists()


def test_one_alert_not_two_when_it_regresses_twice(asset, profile):
    good = make_run(asset, profile, checks=GOOD, minutes_ago=30)
    first = make_run(asset, profile, checks=WEAK, minutes_ago=20)
    [alert] = regression_check(run=first)
    second = make_run(asset, profile, checks=WEAKER_STILL, minutes_ago=10)
    [again] = regression_check(run=second)
    assert again.pk == alert.pk
    assert Alert.objects.count() == 1
    again.refresh_from_db()
    assert again.occurrences == 2 and again.current_run == second
    # Still compared with the last good run, not with the weak run in between.
    assert again.baseline_run == good
    assert {row["current"] for row in again.diff if row["key"].endswith("worst_case:robust_accuracy@0.1")} == {0.30}


def test_auto_resolves_when_a_later_run_recovers(asset, profile, organization):
    make_run(asset, profile, checks=GOOD, minutes_ago=30)
    weak = make_run(asset, profile, checks=WEAK, minutes_ago=20)
    [alert] = regression_check(run=weak)
    recovered = make_run(asset, profile, checks=SLIGHTLY_WORSE, minutes_ago=10)
    assert regression_check(run=recovered) == []
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.auto_resolved
    assert alert.resolved_by_run == recovered
    assert open_alert_count(organization=organization) == 0
    # A new regression after recovery opens a new alert: the old one stays closed history.
    later = make_run(asset, profile, checks=WEAK)
    [new_alert] = regression_check(run=later)
    assert new_alert.pk != alert.pk


def test_a_pinned_baseline_is_used_instead_of_the_last_good_run(asset, profile, owner):
    pinned = make_run(asset, profile, checks=WEAK, minutes_ago=30)
    make_run(asset, profile, checks=GOOD, minutes_ago=20)
    baseline_pin(run=pinned, user=owner)
    run = make_run(asset, profile, checks=WEAK)
    assert baseline_for(run=run) == (pinned, True)
    assert regression_check(run=run) == []


def test_the_default_baseline_skips_failed_unreliable_and_other_profile_runs(asset, profile, organization):
    good = make_run(asset, profile, checks=GOOD, minutes_ago=50)
    make_run(asset, profile, checks=WEAK, minutes_ago=40, status=RunStatus.FAILED)
    make_run(asset, profile, checks=WEAK, minutes_ago=30, unreliable=True)
    make_run(asset, make_profile(organization), checks=WEAK, minutes_ago=20)
    run = make_run(asset, profile, checks=WEAK)
    assert baseline_for(run=run) == (good, False)


def test_unreliable_evaluation_raises_its_own_alert_and_clears_when_reliable(asset, profile):
    make_run(asset, profile, checks=GOOD, minutes_ago=30)
    flagged = make_run(asset, profile, checks=GOOD, minutes_ago=20, unreliable=True,
                       unreliable_reasons=["PGD weaker than FGSM at ε=0.1"])
    [alert] = regression_check(run=flagged)
    assert alert.kind == AlertKind.UNRELIABLE
    assert alert.reasons == ["PGD weaker than FGSM at ε=0.1"]
    honest = make_run(asset, profile, checks=GOOD)
    regression_check(run=honest)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_checking_the_same_run_twice_changes_nothing(asset, profile):
    make_run(asset, profile, checks=GOOD, minutes_ago=30)
    run = make_run(asset, profile, checks=WEAK)
    [alert] = regression_check(run=run)
    assert regression_check(run=run) == [alert]
    alert.refresh_from_db()
    assert alert.occurrences == 1


def test_failed_runs_are_not_compared(asset, profile):
    make_run(asset, profile, checks=GOOD, minutes_ago=30)
    run = make_run(asset, profile, checks=WEAK, status=RunStatus.FAILED)
    assert regression_check(run=run) == []
    assert not RunComparison.objects.exists()
