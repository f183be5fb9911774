"""Thin Celery tasks: each takes ids, calls one service, and owns only retries, limits and its queue."""

from __future__ import annotations

import socket

from celery import shared_task

from workers.celery import assessment_time_limits


@shared_task(name="workers.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat(queues: str = "") -> None:
    from riskapp.ops.services import worker_heartbeat_record

    worker_heartbeat_record(hostname=socket.gethostname(), queues=queues)


@shared_task(name="workers.tasks.validate_model_version", ignore_result=True, **assessment_time_limits())
def validate_model_version(version_id: int) -> None:
    from riskapp.assets.services import model_version_validate

    model_version_validate(version_id=version_id)


@shared_task(name="workers.tasks.validate_dataset", ignore_result=True, **assessment_time_limits())
def validate_dataset(dataset_id: int) -> None:
    from riskapp.assets.services import dataset_validate

    dataset_validate(dataset_id=dataset_id)


@shared_task(bind=True, name="workers.tasks.run_assessment", ignore_result=True, max_retries=6,
             **assessment_time_limits())
def run_assessment(self, run_id: int, resume_claim: dict | None = None) -> None:
    from django.db import InterfaceError, OperationalError, close_old_connections

    from riskapp.assessments.services import DatabaseLost, run_execute

    try:
        run_execute(run_id=run_id, resume_claim=resume_claim)
    except DatabaseLost as lost:
        # A database restart: drop the dead connection and try the same run again once it is back.
        close_old_connections()
        raise self.retry(args=[run_id], kwargs={"resume_claim": lost.claim},
                         countdown=min(60, 2 * 2 ** self.request.retries)) from lost
    except (OperationalError, InterfaceError) as exc:
        # Lost before the run was claimed: it is still queued (or, claimed but unread, left to the reaper).
        close_old_connections()
        raise self.retry(args=[run_id], kwargs={"resume_claim": resume_claim},
                         countdown=min(60, 2 * 2 ** self.request.retries)) from exc


@shared_task(name="workers.tasks.reap_stale_runs", ignore_result=True)
def reap_stale_runs() -> None:
    from riskapp.assessments.services import runs_reap_stale

    runs_reap_stale()


@shared_task(name="workers.tasks.dispatch_queued_runs", ignore_result=True)
def dispatch_queued_runs() -> None:
    from riskapp.assessments.services import runs_dispatch_queued

    runs_dispatch_queued()


@shared_task(name="workers.tasks.run_scheduled_assessment", ignore_result=True)
def run_scheduled_assessment(schedule_id: int) -> None:
    from riskapp.monitoring.services import schedule_fire

    schedule_fire(schedule_id=schedule_id)


@shared_task(bind=True, name="workers.tasks.deliver_alert", ignore_result=True, max_retries=None)
def deliver_alert(self, delivery_id: int) -> None:
    from riskapp.monitoring.services import delivery_attempt, retry_countdown

    following = delivery_attempt(delivery_id=delivery_id)
    if following is not None:
        # Each attempt is its own Delivery row; the retry carries the next row's id.
        raise self.retry(args=(following.pk,), countdown=retry_countdown(following.attempt))


@shared_task(name="workers.tasks.generate_report", ignore_result=True)
def generate_report(report_id: int) -> None:
    from riskapp.compliance.services import report_generate

    report_generate(report_id=report_id)
