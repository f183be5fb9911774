"""A real Celery worker, started as a process against the configured broker and database, runs a task."""

import pytest

from riskapp.ops.models import WorkerHeartbeat
from tests.worker import wait_for


@pytest.mark.django_db(transaction=True)
def test_worker_process_runs_an_enqueued_task_and_its_effect_is_in_the_database(celery_worker_process):
    from workers.tasks import worker_heartbeat

    worker = celery_worker_process(queues="default")
    worker_heartbeat.delay(queues="default")

    heartbeat = wait_for(lambda: WorkerHeartbeat.objects.filter(queues="default").first(),
                         timeout=60, message=f"the heartbeat row; worker log:\n{worker.log[-2000:]}")
    assert heartbeat.device == "cpu" or heartbeat.device.startswith("cuda")
    assert heartbeat.versions["python"]
