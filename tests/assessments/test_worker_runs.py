"""Runs through a real Celery worker on the real broker: live progress to success, and a killed worker's run reaped."""

from __future__ import annotations

import time

import pytest

from riskapp.assessments.models import AssessmentRun, RunStatus
from riskapp.assessments.services import run_create, run_execute, runs_reap_stale
from tests.assessments.factories import ENDLESS_SUITE, SLOW_SUITE, custom_profile
from tests.worker import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _observe(run_id: int, *, until, timeout: float) -> list[tuple[str, int, str]]:
    """Every distinct (status, progress, step) the row went through until `until(row)` holds."""
    seen: list[tuple[str, int, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = AssessmentRun.objects.filter(pk=run_id).values_list("status", "progress", "current_step").get()
        if not seen or seen[-1] != row:
            seen.append(row)
        if until(row):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not get there in {timeout}s; it went through {seen}")


def test_a_worker_takes_a_run_from_queued_through_running_with_progress_to_succeeded(
        organization, owner, asset, celery_worker_process):
    worker = celery_worker_process()
    profile = custom_profile(organization, spec=SLOW_SUITE, slug="slow")
    run = run_create(asset=asset, profile=profile, user=owner)

    seen = _observe(run.pk, until=lambda row: row[0] in (RunStatus.SUCCEEDED, RunStatus.FAILED), timeout=600)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, f"{run.error}\n{worker.log[-3000:]}"
    statuses = [status for status, _, _ in seen]
    assert statuses[0] == RunStatus.QUEUED and statuses[-1] == RunStatus.SUCCEEDED
    assert RunStatus.RUNNING in statuses
    running_progress = [progress for status, progress, _ in seen if status == RunStatus.RUNNING]
    assert any(0 < progress < 100 for progress in running_progress), seen
    assert running_progress == sorted(running_progress)  # progress only moves forward
    assert any("PGD" in step for status, _, step in seen if status == RunStatus.RUNNING), seen
    assert run.progress == 100 and run.checks.get(kind="evasion.whitebox").metrics["robust_accuracy"] is not None
    assert run.worker_host and run.device == "cpu"


def test_a_killed_workers_run_is_failed_by_the_reaper_never_left_running(
        organization, owner, asset, celery_worker_process, settings):
    worker = celery_worker_process()
    profile = custom_profile(organization, spec=SLOW_SUITE, slug="slow")
    run = run_create(asset=asset, profile=profile, user=owner)
    _observe(run.pk, until=lambda row: row[0] == RunStatus.RUNNING and row[1] > 0, timeout=300)

    worker.kill()
    settings.RISKAPP_HEARTBEAT_TIMEOUT = 2
    reaped = wait_for(lambda: run.pk in runs_reap_stale(), timeout=60, interval=0.5,
                      message="the reaper to fail the run of the killed worker")
    assert reaped
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "stopped responding at" in run.error and run.worker_host in run.error
    assert not run.checks.exists()
    # If the broker redelivers the unacknowledged message, the claim refuses it: the verdict stands.
    assert run_execute(run_id=run.pk) is None
    assert AssessmentRun.objects.get(pk=run.pk).status == RunStatus.FAILED


def test_a_run_past_the_soft_time_limit_is_failed_with_the_reason(organization, owner, asset, celery_worker_process):
    celery_worker_process(extra_env={"RISKAPP_TASK_SOFT_TIME_LIMIT": "10", "RISKAPP_TASK_TIME_LIMIT": "300"})
    profile = custom_profile(organization, spec=ENDLESS_SUITE, slug="endless")
    run = run_create(asset=asset, profile=profile, user=owner)
    _observe(run.pk, until=lambda row: row[0] in (RunStatus.SUCCEEDED, RunStatus.FAILED), timeout=300)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "time limit of 10 s" in run.error and "RISKAPP_TASK_SOFT_TIME_LIMIT" in run.error
    assert not run.checks.exists()
