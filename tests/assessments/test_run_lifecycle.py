"""Cancel, re-run and the reaper: a run always ends in a final state a person can understand."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from riskapp.assessments.models import AssessmentRun, RunStatus, RunTrigger
from riskapp.assessments.services import run_cancel, run_create, run_execute, run_rerun, runs_reap_stale
from riskapp.audit.models import AuditEvent
from tests.assessments.factories import SLOW_SUITE, builtin_profile, custom_profile
from tests.worker import wait_for


@pytest.mark.django_db
def test_cancelling_a_queued_run_ends_it_at_once_and_no_worker_picks_it_up(asset, owner, published):
    run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner)
    run = run_cancel(run=run, user=owner)
    assert run.status == RunStatus.CANCELLED and run.finished_at is not None
    assert run_execute(run_id=run.pk) is None
    assert AuditEvent.objects.filter(action="run.cancel", object_id=str(run.pk), actor=owner).exists()


@pytest.mark.django_db
def test_a_finished_run_cannot_be_cancelled(asset, owner, published):
    run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner)
    AssessmentRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    run.refresh_from_db()
    with pytest.raises(ValidationError):
        run_cancel(run=run, user=owner)


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_running_run_stops_the_engine_mid_way(organization, owner, asset, published):
    profile = custom_profile(organization, spec=SLOW_SUITE, slug="slow")
    run = run_create(asset=asset, profile=profile, user=owner)
    errors = []

    def cancel_once_running():
        try:
            wait_for(lambda: AssessmentRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, progress__gt=0).exists(),
                     timeout=60, interval=0.1, message="the run to report progress")
            run_cancel(run=AssessmentRun.objects.get(pk=run.pk), user=owner)
        except Exception as exc:  # surfaced in the main thread's assertion below
            errors.append(exc)
        finally:
            connection.close()

    canceller = threading.Thread(target=cancel_once_running)
    canceller.start()
    run_execute(run_id=run.pk)
    canceller.join(timeout=60)
    assert errors == []
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert 0 < run.progress < 100
    assert not run.checks.exists()
    assert AuditEvent.objects.filter(action="run.cancel_request", object_id=str(run.pk)).exists()
    assert AuditEvent.objects.filter(action="run.cancelled", object_id=str(run.pk)).exists()


@pytest.mark.django_db
def test_the_reaper_fails_a_run_whose_heartbeat_stopped_and_spares_live_ones(asset, owner, published, settings):
    settings.RISKAPP_HEARTBEAT_TIMEOUT = 120
    now = timezone.now()
    stale = run_create(asset=asset, profile=builtin_profile("quick"), user=owner)
    alive = run_create(asset=asset, profile=builtin_profile("quick"), user=owner)
    queued = run_create(asset=asset, profile=builtin_profile("quick"), user=owner)
    last_beat = now - timedelta(seconds=121)
    AssessmentRun.objects.filter(pk=stale.pk).update(status=RunStatus.RUNNING, started_at=last_beat,
                                                     heartbeat_at=last_beat, worker_host="gpu-7", progress=42,
                                                     current_step="evasion.whitebox: PGD ε=0.1 (L∞)")
    AssessmentRun.objects.filter(pk=alive.pk).update(status=RunStatus.RUNNING, started_at=last_beat,
                                                     heartbeat_at=now - timedelta(seconds=5))

    assert runs_reap_stale(now=now) == [stale.pk]
    stale.refresh_from_db()
    assert stale.status == RunStatus.FAILED and stale.finished_at == now
    assert f"stopped responding at {last_beat:%Y-%m-%d %H:%M:%S} UTC" in stale.error
    assert "gpu-7" in stale.error and "42%" in stale.error
    assert AuditEvent.objects.filter(action="run.reap", object_id=str(stale.pk)).exists()
    assert AssessmentRun.objects.get(pk=alive.pk).status == RunStatus.RUNNING
    assert AssessmentRun.objects.get(pk=queued.pk).status == RunStatus.QUEUED
    # A late result from the reaped worker can no longer overwrite the verdict.
    assert run_execute(run_id=stale.pk) is None


@pytest.mark.django_db
def test_rerun_repeats_the_frozen_suite_version_datasets_and_seed(asset, owner, organization, published):
    profile = custom_profile(organization)
    original = run_create(asset=asset, profile=profile, user=owner, seed=42)
    snapshot = original.profile_snapshot
    profile.spec = {**profile.spec, "checks": profile.spec["checks"][:1]}
    profile.save()

    again = run_rerun(run=original, user=owner)
    assert again.pk != original.pk and again.status == RunStatus.QUEUED
    assert again.trigger == RunTrigger.RERUN and again.rerun_of == original
    assert (again.seed, again.version, again.evaluation_dataset, again.profile) == (
        42, original.version, original.evaluation_dataset, profile)
    assert again.profile_snapshot == snapshot
