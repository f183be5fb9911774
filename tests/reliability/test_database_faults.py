"""The database goes away while a worker runs: nothing half-written, the run ends failed with the reason, and
the worker carries on once the database is back."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection

from riskapp.assessments.models import AssessmentRun, CheckResult, RunStatus
from riskapp.assessments.services import run_create, run_execute, runs_reap_stale
from riskapp.compliance.models import EvidenceChain, EvidenceRecord
from riskapp.compliance.services import evidence_record_for_run, evidence_verify
from tests.worker import wait_for


def _drop_connection_on(monkeypatch, target, name: str, *, after: int = 0):
    """Make target.name raise the error a dropped database connection raises, after `after` good calls."""
    real = getattr(target, name)
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, flaky)
    return lambda: monkeypatch.setattr(target, name, real)


@pytest.mark.django_db(transaction=True)
def test_losing_the_database_while_storing_results_writes_none_of_them(
        organization, owner, asset, fault_profile, published, monkeypatch, settings):
    run = run_create(asset=asset, profile=fault_profile, user=owner)
    # The first check's row is written, the second's write hits the dropped connection.
    restore = _drop_connection_on(monkeypatch, CheckResult.objects, "update_or_create", after=1)
    with pytest.raises(OperationalError):
        run_execute(run_id=run.pk)
    restore()

    run.refresh_from_db()
    # Status, results and audit were one transaction: all rolled back, the run is still the worker's.
    assert run.status == RunStatus.RUNNING and run.passed is None
    assert not CheckResult.objects.filter(run=run).exists()
    assert not EvidenceRecord.objects.filter(run=run).exists()

    settings.RISKAPP_HEARTBEAT_TIMEOUT = 2
    wait_for(lambda: run.pk in runs_reap_stale(), timeout=30, interval=0.5, message="the reaper")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "stopped responding" in run.error
    assert run_execute(run_id=run.pk) is None  # a redelivery cannot resurrect it


@pytest.mark.django_db(transaction=True)
def test_the_retry_of_a_run_that_lost_its_database_takes_it_back_and_stores_results_once(
        organization, owner, asset, fault_profile, published, monkeypatch):
    from riskapp.assessments.services import DatabaseLost

    run = run_create(asset=asset, profile=fault_profile, user=owner)
    restore = _drop_connection_on(monkeypatch, CheckResult.objects, "update_or_create", after=1)
    with pytest.raises(DatabaseLost) as lost:
        run_execute(run_id=run.pk)
    restore()
    assert AssessmentRun.objects.get(pk=run.pk).status == RunStatus.RUNNING

    # Another claim (another host, or another delivery) cannot take the run.
    foreign = {**lost.value.claim, "worker_host": "someone-else"}
    assert run_execute(run_id=run.pk, resume_claim=foreign) is None

    # What the task's retry does once the database is back: the same claim takes it back and finishes it.
    finished = run_execute(run_id=run.pk, resume_claim=lost.value.claim)
    assert finished.status == RunStatus.SUCCEEDED
    kinds = list(CheckResult.objects.filter(run=run).values_list("kind", flat=True))
    assert kinds and len(kinds) == len(set(kinds))
    # A late duplicate of the same retry finds the run finished and does nothing.
    assert run_execute(run_id=run.pk, resume_claim=lost.value.claim) is None
    assert evidence_verify(organization=organization).ok


@pytest.mark.django_db(transaction=True)
def test_losing_the_database_while_recording_evidence_keeps_the_results_and_the_chain_intact(
        organization, owner, asset, fault_profile, published, monkeypatch):
    first = run_create(asset=asset, profile=fault_profile, user=owner)
    run_execute(run_id=first.pk)
    chain_before = EvidenceChain.objects.values_list("length", "head_sha256").get(organization=organization)

    second = run_create(asset=asset, profile=fault_profile, user=owner)
    restore = _drop_connection_on(monkeypatch, EvidenceRecord.objects, "bulk_create")
    second = run_execute(run_id=second.pk)
    restore()

    assert second.status == RunStatus.SUCCEEDED and second.checks.count() == 2
    assert "Compliance evidence could not be recorded" in second.notes[-1]["text"]
    assert not EvidenceRecord.objects.filter(run=second).exists()
    assert EvidenceChain.objects.values_list("length", "head_sha256").get(organization=organization) == chain_before
    assert evidence_verify(organization=organization).ok

    # Once the database is back the evidence can be recorded (idempotently) and the chain still verifies.
    records = evidence_record_for_run(run=second)
    assert records and evidence_record_for_run(run=second) == records
    result = evidence_verify(organization=organization)
    assert result.ok and result.records == chain_before[0] + len(records)


@pytest.mark.slow
@pytest.mark.skipif(connection.vendor != "postgresql", reason="terminating backends needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_postgres_restart_mid_run_makes_the_task_retry_and_the_run_succeed_once(
        organization, owner, asset, fault_profile, celery_worker_process, settings):
    from tests.assessments.factories import SLOW_SUITE, custom_profile

    worker = celery_worker_process()
    slow = custom_profile(organization, spec=SLOW_SUITE, slug="slow")
    run = run_create(asset=asset, profile=slow, user=owner)
    wait_for(lambda: AssessmentRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, progress__gt=0).exists(),
             timeout=300, message="the run to be running")

    with connection.cursor() as cursor:  # what a database restart does to every client
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert cursor.fetchone()[0] >= 1

    wait_for(lambda: AssessmentRun.objects.filter(pk=run.pk, status=RunStatus.SUCCEEDED).exists(), timeout=300,
             message=f"the retried task to finish the run\n{worker.log[-3000:]}")
    # It went through the retry path: the run lost its connection, nothing was stored, the task was retried.
    assert f"Run {run.pk} lost its database connection" in worker.log
    assert "Retry in" in worker.log
    kinds = list(CheckResult.objects.filter(run=run).values_list("kind", flat=True))
    assert kinds and len(kinds) == len(set(kinds))
    records = EvidenceRecord.objects.filter(run=run)
    assert records.count() == records.values("control").distinct().count()
    assert evidence_verify(organization=organization).ok

    settings.RISKAPP_HEARTBEAT_TIMEOUT = 300
    after = run_create(asset=asset, profile=fault_profile, user=owner)
    wait_for(lambda: AssessmentRun.objects.filter(pk=after.pk, status=RunStatus.SUCCEEDED).exists(), timeout=300,
             message=f"the worker to reconnect and run the next run\n{worker.log[-3000:]}")
    assert evidence_verify(organization=organization).ok
