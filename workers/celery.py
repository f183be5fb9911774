"""The Celery app: configured from Django settings; queues, routing and time limits live here."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskapp.settings")

QUEUE_GPU = "assess-gpu"
QUEUE_CPU = "assess-cpu"
QUEUE_DEFAULT = "default"

app = Celery("riskapp")
app.config_from_object("django.conf:settings", namespace="CELERY")

app.conf.update(
    task_queues=[Queue(QUEUE_GPU), Queue(QUEUE_CPU), Queue(QUEUE_DEFAULT)],
    task_default_queue=QUEUE_DEFAULT,
    task_routes={
        # Assessments are routed per call by assessment_queue(); everything else has a fixed home.
        "workers.tasks.run_assessment": {"queue": QUEUE_CPU},
        "workers.tasks.validate_model_version": {"queue": QUEUE_CPU},
        "workers.tasks.validate_dataset": {"queue": QUEUE_CPU},
        "workers.tasks.*": {"queue": QUEUE_DEFAULT},
    },
    # A task is acknowledged only when it has finished, so a killed worker's task is redelivered;
    # the status-row claim makes the redelivery safe. One task at a time per process: assessments are long.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_track_started=False,
    task_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    enable_utc=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    imports=["workers.tasks"],
)


def _ensure_filesystem_broker_folders() -> None:
    # Celery's filesystem transport expects its folders to exist; the embedded default must work on a fresh clone.
    from pathlib import Path

    options = app.conf.broker_transport_options or {}
    if str(app.conf.broker_url).startswith("filesystem://"):
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            if options.get(key):
                Path(options[key]).mkdir(parents=True, exist_ok=True)


_ensure_filesystem_broker_folders()


@worker_process_init.connect
def _limit_torch_threads(**_kwargs) -> None:
    # Each pool process runs one assessment; torch's default (all cores per process) oversubscribes a
    # multi-process worker and made checks up to 17x slower on a 2-core host. The operator sets the share.
    from django.conf import settings

    threads = settings.RISKAPP_WORKER_CPU_THREADS
    if threads:
        import torch

        torch.set_num_threads(threads)


def assessment_queue(*, framework: str) -> str:
    """GPU queue for torch models when GPU workers are configured, else the CPU queue."""
    from django.conf import settings

    if framework == "torch" and settings.RISKAPP_GPU_WORKERS:
        return QUEUE_GPU
    return QUEUE_CPU


def assessment_time_limits() -> dict:
    from django.conf import settings

    return {"soft_time_limit": settings.RISKAPP_TASK_SOFT_TIME_LIMIT, "time_limit": settings.RISKAPP_TASK_TIME_LIMIT}


