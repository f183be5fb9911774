"""The evidence ledger: one immutable record per run and control, canonical JSON, a per-organization hash chain."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from riskapp.compliance.models import AppendOnlyError, EvidenceChain, EvidenceRecord
from riskapp.compliance.services import evidence_record_for_run, evidence_verify
from tests.compliance.factories import WHITEBOX_METRICS, WHITEBOX_THRESHOLDS, make_asset, make_run


@pytest.fixture
def asset(organization):
    return make_asset(organization, name="Retina screener")


@pytest.mark.django_db
def test_a_run_gives_one_record_per_mapped_control_with_its_measurements(asset):
    run = make_run(asset)
    records = evidence_record_for_run(run=run)
    refs = {(r.control.framework.slug, r.control.ref_id) for r in records}
    assert {("nist-ai-rmf", "MEASURE 2.7"), ("iso-42001", "A.6.2.4"), ("eu-ai-act", "Art. 15(5)"),
            ("mitre-atlas", "AML.T0043"), ("owasp-ml-top10", "ML01")} <= refs
    assert len(refs) == len(records)
    a624 = next(r for r in records if r.control.ref_id == "A.6.2.4")
    body = json.loads(a624.payload)
    assert body["checks"][0]["metrics"]["robust_accuracy"] == 0.62
    assert body["checks"][0]["thresholds"] == WHITEBOX_THRESHOLDS
    assert body["run"]["seed"] == 7 and body["run"]["device"] == "cpu"
    assert body["run"]["versions"]["art"] == "1.20.1"
    assert body["run"]["artifact_sha256"] == "a" * 64 and body["run"]["data_hashes"] == {"evaluation": "e" * 64}
    robust = next(rule for rule in body["rules"] if rule["rule"] == "evasion-whitebox-robust-accuracy")
    assert robust["outcome"] == "pass" and robust["value"] == 0.62 and robust["min"] == 0.3
    assert a624.verdict == "compliant"


@pytest.mark.django_db
def test_payload_is_canonical_json_and_chained(asset):
    records = evidence_record_for_run(run=make_run(asset))
    previous = ""
    for seq, record in enumerate(records, 1):
        assert record.seq == seq
        assert record.payload == json.dumps(json.loads(record.payload), sort_keys=True, separators=(",", ":"))
        assert record.payload_sha256 == hashlib.sha256(record.payload.encode()).hexdigest()
        assert record.prev_sha256 == previous == json.loads(record.payload)["prev_sha256"]
        previous = record.payload_sha256
    chain = EvidenceChain.objects.get(organization=asset.organization)
    assert chain.head_sha256 == previous and chain.length == len(records)


@pytest.mark.django_db
def test_redelivered_run_adds_no_records(asset):
    run = make_run(asset)
    first = evidence_record_for_run(run=run)
    again = evidence_record_for_run(run=run)
    assert [r.pk for r in again] == [r.pk for r in first]
    assert EvidenceRecord.objects.filter(run=run).count() == len(first)


@pytest.mark.django_db
def test_unfinished_or_skipped_checks_are_no_evidence(asset):
    assert evidence_record_for_run(run=make_run(asset, status="failed")) == []
    skipped = make_run(asset, checks=[("evasion.whitebox", "skipped", {}, {})])
    assert evidence_record_for_run(run=skipped) == []


@pytest.mark.django_db
def test_orm_refuses_to_change_or_delete_evidence(asset):
    record = evidence_record_for_run(run=make_run(asset))[0]
    record.verdict = "non_compliant"
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()
    with pytest.raises(AppendOnlyError):
        EvidenceRecord.objects.filter(pk=record.pk).update(verdict="non_compliant")
    with pytest.raises(AppendOnlyError):
        EvidenceRecord.objects.all().delete()


@pytest.mark.django_db
def test_chain_of_two_runs_verifies(asset, organization):
    evidence_record_for_run(run=make_run(asset))
    evidence_record_for_run(run=make_run(asset, seed=8))
    result = evidence_verify(organization=organization)
    assert result.ok and result.first_bad is None
    assert result.records == EvidenceRecord.objects.filter(organization=organization).count()
    assert result.head == EvidenceChain.objects.get(organization=organization).head_sha256


@pytest.mark.django_db
def test_tampering_with_one_row_by_raw_sql_is_found_and_named(asset, organization, capsys):
    evidence_record_for_run(run=make_run(asset))
    records = evidence_record_for_run(run=make_run(asset, seed=8))
    victim = records[3]
    forged = victim.payload.replace('"robust_accuracy":0.62', '"robust_accuracy":0.92')
    assert forged != victim.payload
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_evidencerecord SET payload = %s WHERE id = %s", [forged, victim.pk])
    result = evidence_verify(organization=organization)
    assert not result.ok
    assert result.first_bad["id"] == victim.pk and result.first_bad["seq"] == victim.seq
    assert "changed" in result.first_bad["reason"]

    with pytest.raises(SystemExit) as exited:
        call_command("verify_evidence", "--org", organization.slug)
    assert exited.value.code == 1
    assert f"record #{victim.seq}" in capsys.readouterr().err


@pytest.mark.django_db
def test_rewriting_a_row_and_its_hash_breaks_the_next_link(asset, organization):
    records = evidence_record_for_run(run=make_run(asset))
    victim, following = records[2], records[3]
    forged = victim.payload.replace('"verdict":"compliant"', '"verdict":"compliant" ')
    forged_sha = hashlib.sha256(forged.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_evidencerecord SET payload = %s, payload_sha256 = %s WHERE id = %s",
                       [forged, forged_sha, victim.pk])
    result = evidence_verify(organization=organization)
    assert not result.ok and result.first_bad["seq"] == following.seq
    assert "previous record" in result.first_bad["reason"]


@pytest.mark.django_db
def test_changing_the_verdict_column_alone_is_found(asset, organization):
    records = evidence_record_for_run(run=make_run(asset))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_evidencerecord SET verdict = 'non_compliant' WHERE id = %s",
                       [records[1].pk])
    result = evidence_verify(organization=organization)
    assert not result.ok and result.first_bad["id"] == records[1].pk


@pytest.mark.django_db
def test_deleting_the_last_record_by_raw_sql_is_found(asset, organization):
    records = evidence_record_for_run(run=make_run(asset))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM compliance_evidencerecord WHERE id = %s", [records[-1].pk])
    result = evidence_verify(organization=organization)
    assert not result.ok and "removed" in result.first_bad["reason"]


@pytest.mark.django_db
def test_chains_are_per_organization(asset, organization, other_organization):
    evidence_record_for_run(run=make_run(asset))
    theirs = evidence_record_for_run(run=make_run(make_asset(other_organization)))
    assert theirs[0].seq == 1 and theirs[0].prev_sha256 == ""
    assert evidence_verify(organization=organization).ok and evidence_verify(organization=other_organization).ok


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_runs_still_make_one_valid_chain(organization):
    asset = make_asset(organization)
    runs = [make_run(asset, seed=seed) for seed in range(20)]
    errors = []
    start = threading.Barrier(len(runs))

    def record(run):
        try:
            start.wait()
            evidence_record_for_run(run=run)
            evidence_record_for_run(run=run)  # a redelivery racing the others
        except Exception as exc:  # noqa: BLE001 - reported below with the thread's run
            errors.append((run.pk, repr(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=record, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    per_run = len(EvidenceRecord.objects.filter(run=runs[0]))
    assert per_run > 0
    assert EvidenceRecord.objects.filter(organization=organization).count() == 20 * per_run
    result = evidence_verify(organization=organization)
    assert result.ok, result.first_bad
    assert sorted(EvidenceRecord.objects.values_list("seq", flat=True)) == list(range(1, 20 * per_run + 1))
