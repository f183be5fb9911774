"""run_create: validation, the frozen suite, and publishing to the right queue only after the commit."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from kombu.exceptions import OperationalError

from riskapp.assessments.models import AssessmentRun, RunStatus, RunTrigger
from riskapp.assessments.services import run_create, runs_dispatch_queued
from riskapp.assets.models import ModelVersion, ValidationStatus
from riskapp.audit.models import AuditEvent
from tests.assessments.factories import builtin_digits, builtin_profile, custom_profile, digits_asset
from workers.engine.suite import PROFILES, suite_spec

pytestmark = pytest.mark.django_db


def test_run_is_queued_with_the_frozen_suite_and_enqueued_only_after_commit(
        asset, owner, published, django_capture_on_commit_callbacks):
    profile = builtin_profile("quick")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = run_create(asset=asset, profile=profile, user=owner, seed=3)
        assert published == []  # nothing reaches the broker before the transaction commits
    assert len(callbacks) == 1
    callbacks[0]()

    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert run.version == asset.current_version
    assert run.evaluation_dataset == asset.evaluation_dataset
    assert run.seed == 3
    assert run.profile_snapshot == suite_spec(PROFILES["quick"], risk_tier="limited").to_dict()
    assert published == [{"args": [run.pk], "queue": "assess-cpu"}]
    assert run.enqueued_at is not None and run.enqueue_attempts == 1
    assert AuditEvent.objects.filter(action="run.create", object_id=str(run.pk), actor=owner).exists()


def test_a_run_its_caller_executes_itself_leaves_no_broker_message(
        asset, owner, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner, enqueue=False)
    assert callbacks == [] and published == []
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.enqueue_attempts == 0


def test_torch_runs_go_to_the_gpu_queue_when_gpu_workers_are_configured(
        asset, owner, published, settings, django_capture_on_commit_callbacks):
    settings.RISKAPP_GPU_WORKERS = True
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner)
    assert published == [{"args": [run.pk], "queue": "assess-gpu"}]


def test_high_risk_asset_freezes_a_high_risk_suite(organization, owner, digits_cnn_bytes, published):
    asset = digits_asset(organization, model_bytes=digits_cnn_bytes, user=owner, name="Triage", risk_tier="high")
    run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner)
    assert run.profile_snapshot["risk_tier"] == "high"


def test_unvalidated_version_is_refused(organization, owner, digits_cnn_bytes, published):
    asset = digits_asset(organization, model_bytes=digits_cnn_bytes, user=owner, status=ValidationStatus.PENDING)
    version = asset.versions.get()
    with pytest.raises(ValidationError) as excinfo:
        run_create(asset=asset, profile=builtin_profile("quick"), user=owner, version=version)
    assert "still being validated" in excinfo.value.message_dict["version"][0]
    assert not AssessmentRun.objects.exists()


def test_asset_without_a_version_is_refused(organization, owner, digits_cnn_bytes, published):
    asset = digits_asset(organization, model_bytes=digits_cnn_bytes, user=owner, status=ValidationStatus.REJECTED)
    with pytest.raises(ValidationError) as excinfo:
        run_create(asset=asset, profile=builtin_profile("quick"), user=owner)
    assert "no validated model version" in excinfo.value.message_dict["version"][0]


def test_dataset_of_another_organization_is_refused(asset, owner, other_organization, published):
    foreign = builtin_digits(other_organization, "evaluation")
    with pytest.raises(ValidationError) as excinfo:
        run_create(asset=asset, profile=builtin_profile("quick"), user=owner, evaluation_dataset=foreign)
    assert "another organization" in excinfo.value.message_dict["evaluation_dataset"][0]


def test_dataset_of_the_wrong_shape_is_refused(asset, owner, organization, published):
    from riskapp.assets.models import Dataset, DatasetSource

    tabular = Dataset.objects.create(organization=organization, name="Cancer", source=DatasetSource.BUILTIN,
                                     builtin_name="breast_cancer", shape=[30], nb_classes=2,
                                     status=ValidationStatus.VALIDATED)
    with pytest.raises(ValidationError) as excinfo:
        run_create(asset=asset, profile=builtin_profile("quick"), user=owner, evaluation_dataset=tabular)
    assert "(30,)" in excinfo.value.message_dict["evaluation_dataset"][0]


def test_unvalidated_training_dataset_is_refused(asset, owner, organization, published):
    training = builtin_digits(organization, "training")
    training.status = ValidationStatus.REJECTED
    training.save()
    with pytest.raises(ValidationError) as excinfo:
        run_create(asset=asset, profile=builtin_profile("quick"), user=owner, training_dataset=training)
    assert "was rejected" in excinfo.value.message_dict["training_dataset"][0]


def test_another_organizations_profile_is_refused(asset, owner, other_organization, published):
    with pytest.raises(ValidationError) as excinfo:
        run_create(asset=asset, profile=custom_profile(other_organization), user=owner)
    assert "another organization" in excinfo.value.message_dict["profile"][0]


def test_version_of_another_asset_is_refused(asset, owner, organization, digits_cnn_bytes, published):
    other = digits_asset(organization, model_bytes=digits_cnn_bytes, user=owner, name="Other")
    with pytest.raises(ValidationError):
        run_create(asset=asset, profile=builtin_profile("quick"), user=owner,
                   version=ModelVersion.objects.get(asset=other))


def test_negative_seed_is_refused(asset, owner, published):
    with pytest.raises(ValidationError) as excinfo:
        run_create(asset=asset, profile=builtin_profile("quick"), user=owner, seed=-1)
    assert "seed" in excinfo.value.message_dict


def test_broker_down_leaves_the_run_queued_with_a_note_and_the_dispatcher_sends_it_later(
        asset, owner, monkeypatch, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from workers.tasks import run_assessment

    def broker_unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(run_assessment, "apply_async", broker_unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner, trigger=RunTrigger.API)
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert run.enqueued_at is None and run.enqueue_attempts == 1
    assert "could not be reached" in run.notes[0]["text"]

    sent = []
    monkeypatch.setattr(run_assessment, "apply_async", lambda args=None, queue=None, **kw: sent.append(args))
    assert runs_dispatch_queued() == []  # still within the grace period of its own on_commit publish
    later = timezone.now() + timedelta(minutes=2)
    assert runs_dispatch_queued(now=later) == [run.pk]
    assert sent == [[run.pk]]
    run.refresh_from_db()
    assert run.enqueued_at is not None and run.enqueue_attempts == 2
    # Published and waiting: not sent again until its back-off has passed.
    assert runs_dispatch_queued(now=later + timedelta(minutes=1)) == []


def test_dispatcher_ignores_running_and_cancelled_runs(asset, owner, published):
    from datetime import timedelta

    from django.utils import timezone

    run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner)
    AssessmentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    assert runs_dispatch_queued(now=timezone.now() + timedelta(hours=1)) == []
