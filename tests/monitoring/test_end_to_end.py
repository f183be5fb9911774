"""End to end with a real worker and broker: a schedule fires after the current model was swapped for a weaker
one; the re-assessment regresses; an alert opens with the right diff, the e-mail is in the outbox and a webhook
receiver on 127.0.0.1 gets a body whose Standard Webhooks signature verifies with the channel's secret."""

from __future__ import annotations

import json

import pytest
from django.core.files import File

from riskapp.assessments.models import FINISHED_STATUSES, AssessmentRun, RunStatus, RunTrigger
from riskapp.assessments.services import profile_create
from riskapp.assets.services import asset_register, model_version_create, model_version_validate
from riskapp.monitoring.models import Alert, AlertKind, Delivery, DeliveryStatus
from riskapp.monitoring.services import channel_create, schedule_create
from tests.monitoring.receiver import Receiver, verify_standard_webhook
from tests.worker import wait_for

WHITEBOX_PROFILE = {
    "name": "nightly-whitebox",
    "checks": [{"kind": "evasion.whitebox",
                "params": {"attacks": ["fgsm", "pgd"], "epsilons": [0.05, 0.1, 0.2], "reference_epsilon": 0.1,
                           "max_samples": 60, "pgd_max_iter": 5}}],
}


def _torchscript(tmp_path, name, **training):
    from workers.engine.demo import save_torchscript, train_digits_cnn

    return save_torchscript(train_digits_cnn(**training), tmp_path / f"{name}.pt")


def _fire(schedule) -> None:
    """What beat does when the schedule is due: send its PeriodicTask's task with its args to the broker."""
    from workers.celery import app

    task = schedule.periodic_task
    task.refresh_from_db()
    app.send_task(task.task, args=json.loads(task.args), kwargs=json.loads(task.kwargs or "{}"))


def _finished_run(asset, *, exclude=()) -> AssessmentRun:
    return wait_for(
        lambda: AssessmentRun.objects.filter(asset=asset, status__in=FINISHED_STATUSES).exclude(pk__in=exclude).first(),
        timeout=300, message="the scheduled re-assessment to finish")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_weaker_model_behind_a_schedule_raises_alert_email_and_signed_webhook(
        celery_worker_process, organization, owner, settings, tmp_path):
    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True
    strong_path = _torchscript(tmp_path, "strong", epochs=12, width=16)
    weak_path = _torchscript(tmp_path, "weak", epochs=2, width=4)

    with open(strong_path, "rb") as handle:
        asset, strong = asset_register(
            organization=organization, user=owner,
            asset_fields={"name": "Digits CNN", "task": "image_classification"},
            version_fields={"format": "torchscript", "input_shape": [1, 8, 8], "nb_classes": 10,
                            "artifact": File(handle, name="strong.pt"), "enqueue": False},
            datasets=[{"name": "digits", "builtin_name": "digits"}])
    assert model_version_validate(version_id=strong.pk).status == "validated"
    profile = profile_create(organization=organization, slug="nightly", name="Nightly white-box",
                             spec=WHITEBOX_PROFILE, user=owner)
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner,
                               kind="cron", cron="0 3 * * *", run_on_new_version=False)
    channel_create(organization=organization, user=owner, name="ML on-call", kind="email",
                   email_recipients=["oncall@example.test"], min_severity="info")

    with Receiver(statuses=[200]) as receiver:
        _hook, secret = channel_create(organization=organization, user=owner, name="SIEM", kind="webhook",
                                       url=receiver.url, min_severity="info")
        worker = celery_worker_process(queues="default,assess-cpu",
                                       extra_env={"RISKAPP_ENDPOINT_ALLOW_PRIVATE": "true"})

        _fire(schedule)
        baseline = _finished_run(asset)
        assert baseline.status == RunStatus.SUCCEEDED, baseline.error
        assert baseline.trigger == RunTrigger.SCHEDULE and baseline.version == strong
        assert not Alert.objects.exists()

        with open(weak_path, "rb") as handle:
            weak = model_version_create(asset=asset, user=owner, format="torchscript", input_shape=[1, 8, 8],
                                        nb_classes=10, artifact=File(handle, name="weak.pt"), enqueue=False)
        model_version_validate(version_id=weak.pk)
        asset.refresh_from_db()
        assert asset.current_version == weak

        _fire(schedule)
        current = _finished_run(asset, exclude=[baseline.pk])
        assert current.status == RunStatus.SUCCEEDED, current.error
        assert current.version == weak
        alert = wait_for(lambda: Alert.objects.filter(asset=asset, kind=AlertKind.REGRESSION).first(),
                         timeout=30, message="the regression alert")
        wait_for(lambda: len(receiver.requests) >= 1, timeout=60, message="the webhook delivery")
        mails = wait_for(worker.sent_mail, timeout=60, message="the alert e-mail")

    # The diff is the runs' own numbers: worst-case robust accuracy at each ε, baseline vs current.
    assert alert.baseline_run == baseline and alert.current_run == current
    def worst_case(run):
        points = run.checks.get(kind="evasion.whitebox").metrics["attacks"]["worst_case"]["points"]
        return {round(p["epsilon_fraction"], 10): p["robust_accuracy"] for p in points}

    before, after = worst_case(baseline), worst_case(current)
    print(f"worst-case robust accuracy per ε: strong {before} → weak {after}")
    rows = {row["key"]: row for row in alert.diff}
    regressed_eps = [eps for eps in before if before[eps] - after[eps] > 0.05 + 1e-9]
    assert regressed_eps, f"the weaker model did not regress: {before} → {after}"
    for eps in regressed_eps:
        row = rows[f"evasion.whitebox:worst_case:robust_accuracy@{eps:g}"]
        assert (row["baseline"], row["current"]) == (before[eps], after[eps])
        assert row["delta"] == pytest.approx(after[eps] - before[eps])
        assert row["tolerance"] == 0.05
    for eps in set(before) - set(regressed_eps):
        assert f"evasion.whitebox:worst_case:robust_accuracy@{eps:g}" not in rows

    [mail_text] = mails
    assert "oncall@example.test" in mail_text and alert.title in mail_text
    first = rows[f"evasion.whitebox:worst_case:robust_accuracy@{regressed_eps[0]:g}"]
    assert f"{first['baseline']:.4f} → {first['current']:.4f}" in mail_text

    [request] = receiver.requests
    assert verify_standard_webhook(secret, request.headers, request.body)
    payload = json.loads(request.body)
    assert payload["type"] == "alert.opened" and payload["data"]["id"] == alert.pk
    assert {row["key"] for row in payload["data"]["diff"]} == set(rows)
    assert payload["data"]["current_run"]["id"] == current.pk
    assert set(Delivery.objects.filter(alert=alert).values_list("status", flat=True)) == {DeliveryStatus.SENT}
