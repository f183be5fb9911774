"""An assessment run whose suite has detection.train leaves a stored detector behind; other runs leave none."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from riskapp.assessments.models import CheckResult, Profile, RunStatus
from riskapp.assessments.services import run_create, run_execute
from riskapp.screening.models import ScreeningDetector
from tests.screening.factories import TEST_SUITE


def _profile(organization, suite: dict) -> Profile:
    return Profile.objects.create(organization=organization, slug=suite["name"], name=suite["name"], spec=suite)


@pytest.mark.slow
def test_a_run_with_detection_train_stores_its_detector(screening_asset, owner):
    run = run_create(asset=screening_asset, profile=_profile(screening_asset.organization, TEST_SUITE), user=owner)
    run = run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    detector = ScreeningDetector.objects.get(run=run)
    assert detector.version == screening_asset.current_version
    check = CheckResult.objects.get(run=run, kind="detection.train")
    # The row holds the check's own measurements, and the files the check hashed.
    assert detector.false_positive_rate == check.metrics["false_positive_rate"]
    assert detector.adaptive_detection_rate == check.metrics["adaptive_detection_rate"]
    assert detector.files == check.metrics["artifacts"]
    for name in detector.files:
        assert default_storage.exists(f"{detector.storage_prefix}/{name}")
    assert not run.notes


def test_a_run_without_detection_train_stores_no_detector(screening_asset, owner):
    suite = {"name": "integrity-only", "risk_tier": "limited",
             "checks": [{"kind": "integrity.data", "params": {}, "thresholds": {}}]}
    run = run_execute(run_id=run_create(asset=screening_asset, profile=_profile(screening_asset.organization, suite),
                                        user=owner).pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert not ScreeningDetector.objects.exists()


def test_the_built_in_screening_profile_trains_only_detectors(db):
    profile = Profile.objects.get(organization__isnull=True, slug="screening")
    assert profile.is_builtin
    assert [check["kind"] for check in profile.spec["checks"]] == ["detection.train"]
