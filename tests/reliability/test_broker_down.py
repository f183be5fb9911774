"""Broker down at submission: the run is saved as queued and says so; the dispatcher sends it once the broker
is back; two deliveries of one run execute it once."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from riskapp.assessments.models import AssessmentRun, CheckResult, RunStatus
from riskapp.assessments.services import DISPATCH_GRACE, run_execute, runs_dispatch_queued
from riskapp.audit.models import AuditEvent
from riskapp.compliance.models import EvidenceRecord
from riskapp.compliance.services import evidence_verify


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def broker_down(monkeypatch):
    """Publish run messages to a Redis URL on a closed 127.0.0.1 port: the real publish path, a real refusal."""
    from kombu import Connection

    from workers.tasks import run_assessment

    real_apply_async = run_assessment.apply_async
    url = f"redis://127.0.0.1:{_closed_port()}/0"

    def apply_async_to_dead_broker(*args, **kwargs):
        with Connection(url, connect_timeout=1, transport_options={"max_retries": 0}) as dead:
            return real_apply_async(*args, connection=dead, retry_policy={"max_retries": 1, "interval_start": 0,
                                                                         "interval_step": 0.1}, **kwargs)

    monkeypatch.setattr(run_assessment, "apply_async", apply_async_to_dead_broker)
    return lambda: monkeypatch.setattr(run_assessment, "apply_async", real_apply_async)


def _queued_messages(queue: str = "assess-cpu") -> list[list]:
    """Take every message waiting on the real (test) broker's queue; return their task args."""
    from workers.celery import app

    found = []
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(queue=queue, no_ack=True)) is not None:
            args, _kwargs, _embed = message.decode()
            found.append(list(args))
    return found


@pytest.mark.django_db(transaction=True)
def test_a_run_submitted_while_the_broker_is_down_is_saved_queued_and_sent_when_it_is_back(
        organization, owner, asset, fault_profile, member_api, broker_down, caplog):
    from tests.worker import purge_queues

    purge_queues()
    response = member_api.post("/api/v1/runs/", {"asset": asset.pk, "profile": fault_profile.pk}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["enqueue_attempts"] == 1 and body["enqueued_at"] is None
    assert "could not be reached" in body["notes"][-1]["text"] and "sent again automatically" in body["notes"][-1]["text"]
    run_id = body["id"]
    assert _queued_messages() == []

    # Still down at the next dispatch: nothing lost, still queued, tried again.
    later = timezone.now() + DISPATCH_GRACE + timedelta(seconds=1)
    assert runs_dispatch_queued(now=later) == []
    run = AssessmentRun.objects.get(pk=run_id)
    assert run.status == RunStatus.QUEUED and run.enqueue_attempts == 2

    broker_down()  # the broker is back
    assert runs_dispatch_queued(now=later) == [run_id]
    assert _queued_messages() == [[run_id]]
    # Dispatched once: a run sent moments ago is not piled up again.
    assert runs_dispatch_queued(now=later) == []

    # The worker's side of the message: the task body claims and executes it.
    from workers.tasks import run_assessment

    run_assessment(run_id)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert evidence_verify(organization=organization).ok


@pytest.mark.django_db(transaction=True)
def test_a_run_delivered_twice_at_once_executes_once(organization, owner, asset, fault_profile, published):
    from riskapp.assessments.services import run_create, run_enqueue

    run = run_create(asset=asset, profile=fault_profile, user=owner)
    run_enqueue(run_id=run.pk)  # a second message for the same run, e.g. the dispatcher racing a slow publish
    assert [message["args"] for message in published] == [[run.pk], [run.pk]]

    start = threading.Barrier(2)
    outcomes: list = []

    def deliver():
        try:
            start.wait(timeout=30)
            outcomes.append(run_execute(run_id=run.pk))
        except Exception as exc:  # surfaced by the assertion below
            outcomes.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=deliver) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    claimed = [outcome for outcome in outcomes if isinstance(outcome, AssessmentRun)]
    assert len(outcomes) == 2 and outcomes.count(None) == 1 and len(claimed) == 1, outcomes
    assert claimed[0].status == RunStatus.SUCCEEDED, claimed[0].error
    assert AuditEvent.objects.filter(action="run.start", object_id=str(run.pk)).count() == 1
    kinds = list(CheckResult.objects.filter(run=run).values_list("kind", flat=True))
    assert sorted(kinds) == ["evasion.whitebox", "integrity.data"]
    records = EvidenceRecord.objects.filter(run=run)
    assert records.exists()
    assert records.count() == records.values("control").distinct().count()
    assert evidence_verify(organization=organization).ok
