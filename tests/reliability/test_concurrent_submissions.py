"""Twenty run submissions at once for one asset: twenty runs, each executed exactly once, the evidence chain intact."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from riskapp.assessments.models import AssessmentRun, CheckResult, RunStatus
from riskapp.assessments.services import run_execute
from riskapp.audit.models import AuditEvent
from riskapp.compliance.models import EvidenceChain, EvidenceRecord
from riskapp.compliance.services import evidence_verify

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SUBMISSIONS = 20


def test_twenty_simultaneous_submissions_run_once_each_and_the_chain_verifies(
        organization, member, asset, fault_profile, published):
    start = threading.Barrier(SUBMISSIONS)

    def submit(_):
        client = APIClient()
        client.force_authenticate(user=member)
        try:
            start.wait(timeout=60)
            return client.post("/api/v1/runs/", {"asset": asset.pk, "profile": fault_profile.pk}, format="json")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=SUBMISSIONS) as pool:
        responses = list(pool.map(submit, range(SUBMISSIONS)))
    assert [r.status_code for r in responses] == [202] * SUBMISSIONS, [r.content[:300] for r in responses]
    run_ids = sorted(r.json()["id"] for r in responses)
    assert len(set(run_ids)) == SUBMISSIONS
    assert sorted(m["args"][0] for m in published) == run_ids  # each published once

    # Every message delivered twice (a redelivery, a dispatcher resend) to three workers at once.
    def deliver(run_id):
        try:
            return run_execute(run_id=run_id)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(deliver, run_ids + run_ids))
    executed = sorted(outcome.pk for outcome in outcomes if outcome is not None)
    assert executed == run_ids

    runs = AssessmentRun.objects.filter(pk__in=run_ids)
    assert sorted(runs.values_list("status", flat=True)) == [RunStatus.SUCCEEDED] * SUBMISSIONS, \
        list(runs.values_list("error", flat=True))
    assert AuditEvent.objects.filter(action="run.start", object_id__in=[str(i) for i in run_ids]).count() == SUBMISSIONS
    assert CheckResult.objects.filter(run__in=run_ids).count() == 2 * SUBMISSIONS

    per_run = [EvidenceRecord.objects.filter(run_id=run_id).count() for run_id in run_ids]
    assert len(set(per_run)) == 1 and per_run[0] > 0  # same suite, same controls, once each
    chain = EvidenceChain.objects.get(organization=organization)
    seqs = list(EvidenceRecord.objects.filter(organization=organization).values_list("seq", flat=True))
    assert sorted(seqs) == list(range(1, chain.length + 1)) and chain.length == sum(per_run)
    result = evidence_verify(organization=organization)
    assert result.ok and result.records == chain.length, result.first_bad
