"""run_execute: claims atomically, runs the engine, stores results equal to ART called directly, reproducibly."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from riskapp.assessments.models import AssessmentRun, CheckResult, RunStatus
from riskapp.assessments.services import run_create, run_execute
from riskapp.audit.models import AuditEvent
from tests.assessments.factories import builtin_profile

pytestmark = pytest.mark.django_db

VOLATILE = {"duration_s"}


def _queued_run(asset, owner, profile, seed=0):
    return run_create(asset=asset, profile=profile, user=owner, seed=seed)


def _results(run) -> dict:
    return {c.kind: (c.status, c.metrics, c.parameters, c.thresholds, c.queries) for c in run.checks.all()}


@pytest.fixture
def no_follow_ups(monkeypatch):
    """Evidence and regression checks belong to other apps; record that they were called, with which run."""
    calls = []
    compliance = types.ModuleType("riskapp.compliance.services")
    compliance.evidence_record_for_run = lambda *, run: calls.append(("evidence", run.pk))
    monitoring = types.ModuleType("riskapp.monitoring.services")
    monitoring.regression_check = lambda *, run: calls.append(("regression", run.pk))
    monkeypatch.setitem(sys.modules, "riskapp.compliance.services", compliance)
    monkeypatch.setitem(sys.modules, "riskapp.monitoring.services", monitoring)
    return calls


def test_quick_profile_on_the_digits_cnn_stores_results_equal_to_art_called_directly(
        asset, owner, published, no_follow_ups, digits_cnn_bytes, tmp_path):
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    from workers.engine.data import builtin_dataset

    run = _queued_run(asset, owner, builtin_profile("quick"), seed=5)
    returned = run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert returned is not None and run.status == RunStatus.SUCCEEDED, run.error
    assert run.progress == 100 and run.finished_at and run.started_at and run.worker_host
    assert run.device == "cpu"
    assert run.versions["art"] == "1.20.1"
    assert run.artifact_sha256 == asset.current_version.sha256
    assert set(run.data_hashes) >= {"evaluation"}
    assert [c.kind for c in run.checks.order_by("order")] == [c["kind"] for c in run.profile_snapshot["checks"]]
    assert no_follow_ups == [("evidence", run.pk), ("regression", run.pk)]
    assert AuditEvent.objects.filter(action="run.succeed", object_id=str(run.pk)).exists()

    whitebox = run.checks.get(kind="evasion.whitebox")
    assert run.summary["robust_accuracy"] == whitebox.metrics["robust_accuracy"]
    assert run.summary["clean_accuracy"] == whitebox.metrics["clean_accuracy"]
    integrity = run.checks.get(kind="integrity.data")
    assert integrity.metrics["hash_matches"] == 1  # the data the worker loaded is the data that was registered

    # Recompute the worst case over FGSM and PGD at the reference ε with ART alone, from the recorded parameters.
    model_path = tmp_path / "model.pt"
    model_path.write_bytes(digits_cnn_bytes)
    classifier = PyTorchClassifier(model=torch.jit.load(str(model_path)).eval(), loss=torch.nn.CrossEntropyLoss(),
                                   input_shape=(1, 8, 8), nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu")
    x_all, y_all = builtin_dataset("digits")["evaluation"]
    params = whitebox.parameters
    index = np.sort(np.random.default_rng(run.seed).permutation(len(x_all))[: params["max_samples"]])
    x, y = x_all[index], y_all[index]
    robust = np.argmax(classifier.predict(x), axis=1) == y
    reference = whitebox.metrics["reference_epsilon"]
    for config in params["attack_configs"]:
        if config["eps"] != reference:
            continue
        np.random.seed(run.seed)
        torch.manual_seed(run.seed)
        if config["attack"] == "FastGradientMethod":
            attack = FastGradientMethod(classifier, norm=np.inf, eps=config["eps"], targeted=False,
                                        batch_size=config["batch_size"])
        else:
            attack = ProjectedGradientDescent(classifier, norm=np.inf, eps=config["eps"], eps_step=config["eps_step"],
                                              max_iter=config["max_iter"], num_random_init=config["num_random_init"],
                                              batch_size=config["batch_size"], verbose=False)
        x_adv = attack.generate(x, y=np.eye(10, dtype=np.float32)[y])
        robust &= np.argmax(classifier.predict(x_adv), axis=1) == y
    assert whitebox.metrics["robust_accuracy"] == float(robust.mean())


def test_two_runs_with_the_same_seed_give_identical_results(asset, owner, tiny_profile, published, no_follow_ups):
    first = _queued_run(asset, owner, tiny_profile, seed=11)
    second = _queued_run(asset, owner, tiny_profile, seed=11)
    run_execute(run_id=first.pk)
    run_execute(run_id=second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == RunStatus.SUCCEEDED
    assert _results(first) == _results(second)
    assert first.summary == second.summary


def test_claim_is_atomic_a_second_execution_does_nothing(asset, owner, tiny_profile, published, no_follow_ups):
    run = _queued_run(asset, owner, tiny_profile)
    assert run_execute(run_id=run.pk) is not None
    stored = _results(AssessmentRun.objects.get(pk=run.pk))
    finished_at = AssessmentRun.objects.get(pk=run.pk).finished_at

    # A redelivered message (acks_late) for the same run: not claimed, nothing rewritten or duplicated.
    assert run_execute(run_id=run.pk) is None
    run.refresh_from_db()
    assert run.finished_at == finished_at
    assert CheckResult.objects.filter(run=run).count() == len(stored)
    assert _results(run) == stored


def test_a_running_run_is_not_claimed_again(asset, owner, tiny_profile, published):
    run = _queued_run(asset, owner, tiny_profile)
    AssessmentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, worker_host="elsewhere")
    assert run_execute(run_id=run.pk) is None
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.worker_host == "elsewhere"
    assert not run.checks.exists()


def test_a_failing_follow_up_is_noted_and_the_results_are_kept(asset, owner, tiny_profile, published, monkeypatch):
    calls = []
    compliance = types.ModuleType("riskapp.compliance.services")

    def broken_evidence(*, run):
        raise RuntimeError("ledger unavailable")

    compliance.evidence_record_for_run = broken_evidence
    monitoring = types.ModuleType("riskapp.monitoring.services")
    monitoring.regression_check = lambda *, run: calls.append(run.pk)
    monkeypatch.setitem(sys.modules, "riskapp.compliance.services", compliance)
    monkeypatch.setitem(sys.modules, "riskapp.monitoring.services", monitoring)

    run = _queued_run(asset, owner, tiny_profile)
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.checks.count() == 2
    assert "RuntimeError: ledger unavailable" in run.notes[0]["text"]
    assert calls == [run.pk]  # the regression check still ran after evidence failed


def test_a_model_that_cannot_be_loaded_fails_the_run_with_the_reason(asset, owner, tiny_profile, published):
    version = asset.current_version
    version.artifact.storage.delete(version.artifact.name)
    with version.artifact.storage.open(version.artifact.name, "wb") as damaged:
        damaged.write(b"\x80\x04not a torchscript archive")
    run = _queued_run(asset, owner, tiny_profile)
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "could not be loaded" in run.error and "pickle" in run.error
    assert run.finished_at is not None and not run.checks.exists()


def test_the_soft_time_limit_fails_the_run_with_a_clear_reason(asset, owner, tiny_profile, published, settings):
    settings.RISKAPP_TASK_SOFT_TIME_LIMIT = 0
    run = _queued_run(asset, owner, tiny_profile)
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "time limit of 0 s" in run.error and "RISKAPP_TASK_SOFT_TIME_LIMIT" in run.error
    assert not run.checks.exists()


def test_an_unavailable_device_fails_the_run_with_the_reason(asset, owner, tiny_profile, published, settings):
    if torch.cuda.is_available():
        settings.RISKAPP_DEVICE = f"cuda:{torch.cuda.device_count()}"
    else:
        settings.RISKAPP_DEVICE = "cuda"
    run = _queued_run(asset, owner, tiny_profile)
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "cannot use the configured device" in run.error
