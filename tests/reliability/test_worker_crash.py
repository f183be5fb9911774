"""A worker killed mid-run: the run ends failed with the reason (the reaper), never left running, and nothing
it measured is stored twice or half; the next worker carries on with new runs."""

from __future__ import annotations

import os
import signal

import pytest

from riskapp.assessments.models import AssessmentRun, CheckResult, RunStatus
from riskapp.assessments.services import run_create, run_execute, runs_reap_stale
from riskapp.compliance.models import EvidenceRecord
from riskapp.compliance.services import evidence_verify
from tests.assessments.factories import SLOW_SUITE, custom_profile
from tests.worker import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _running_with_progress(run_id: int) -> bool:
    return AssessmentRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, progress__gt=0).exists()


def _reap(run_id: int, settings) -> AssessmentRun:
    # What beat's every-minute reap_stale_runs does, with a heartbeat timeout short enough for a test.
    settings.RISKAPP_HEARTBEAT_TIMEOUT = 2
    wait_for(lambda: run_id in runs_reap_stale(), timeout=90, interval=0.5, message="the reaper to fail the run")
    return AssessmentRun.objects.get(pk=run_id)


def _assert_failed_cleanly(run: AssessmentRun) -> None:
    assert run.status == RunStatus.FAILED
    assert "stopped responding" in run.error and "re-run it" in run.error
    assert not CheckResult.objects.filter(run=run).exists()
    assert not EvidenceRecord.objects.filter(run=run).exists()
    # A late redelivery of its message is refused by the claim: the verdict stands.
    assert run_execute(run_id=run.pk) is None
    assert AssessmentRun.objects.get(pk=run.pk).status == RunStatus.FAILED


def test_an_oom_killed_pool_process_is_redelivered_refused_and_its_run_reaped_while_the_worker_carries_on(
        organization, owner, asset, fault_profile, celery_worker_process, settings):
    """The kernel's OOM killer picks the pool child that runs the attack; the worker's main process survives."""
    worker = celery_worker_process()
    slow = custom_profile(organization, spec=SLOW_SUITE, slug="slow")
    run = run_create(asset=asset, profile=slow, user=owner)
    wait_for(lambda: _running_with_progress(run.pk), timeout=300, message="the run to be running")

    for pid in worker.child_pids():
        os.kill(pid, signal.SIGKILL)
    # task_reject_on_worker_lost puts the message back; the new pool child gets it and the claim refuses it.
    wait_for(lambda: "WorkerLostError" in worker.log, timeout=60, message="the worker to notice its lost child")
    wait_for(lambda: f"Run {run.pk} was not claimed" in worker.log, timeout=60,
             message=f"the redelivered message to be refused by the claim\n{worker.log[-2000:]}")
    _assert_failed_cleanly(_reap(run.pk, settings))

    settings.RISKAPP_HEARTBEAT_TIMEOUT = 300
    after = run_create(asset=asset, profile=fault_profile, user=owner)
    wait_for(lambda: AssessmentRun.objects.filter(pk=after.pk, status=RunStatus.SUCCEEDED).exists(), timeout=300,
             message=f"the surviving worker to run the next run\n{worker.log[-2000:]}")
    # Evidence is written right after the results, in its own step: wait for it rather than race it.
    wait_for(lambda: EvidenceRecord.objects.filter(run=after).exists(), timeout=60,
             message=f"evidence of the next run\n{AssessmentRun.objects.get(pk=after.pk).notes}")
    assert evidence_verify(organization=organization).ok


def test_a_killed_worker_host_leaves_no_running_run_and_a_restarted_worker_takes_new_runs(
        organization, owner, asset, fault_profile, celery_worker_process, settings):
    worker = celery_worker_process()
    slow = custom_profile(organization, spec=SLOW_SUITE, slug="slow")
    run = run_create(asset=asset, profile=slow, user=owner)
    wait_for(lambda: _running_with_progress(run.pk), timeout=300, message="the run to be running")

    worker.kill()  # parent and pool: nothing acknowledges or rejects the message
    _assert_failed_cleanly(_reap(run.pk, settings))

    settings.RISKAPP_HEARTBEAT_TIMEOUT = 300
    restarted = celery_worker_process(purge=False)
    after = run_create(asset=asset, profile=fault_profile, user=owner)
    wait_for(lambda: AssessmentRun.objects.filter(pk=after.pk, status=RunStatus.SUCCEEDED).exists(), timeout=300,
             message=f"the restarted worker to run the next run\n{restarted.log[-2000:]}")
    assert AssessmentRun.objects.get(pk=run.pk).status == RunStatus.FAILED
    assert sorted(CheckResult.objects.filter(run=after).values_list("kind", flat=True)) == [
        "evasion.whitebox", "integrity.data"]
    assert evidence_verify(organization=organization).ok
