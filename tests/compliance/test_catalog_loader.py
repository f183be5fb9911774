"""The catalog loader that migrate runs: counts, idempotence, updates in place, retirement instead of deletion."""

from __future__ import annotations

import shutil

import pytest
import yaml

from riskapp.audit.models import AuditEvent
from riskapp.compliance.catalog_schema import CATALOG_DIR
from riskapp.compliance.models import Control, EvidenceRecord, Framework, MappingRule
from riskapp.compliance.services import catalog_load, evidence_record_for_run
from tests.compliance.factories import make_asset, make_run

pytestmark = pytest.mark.django_db


def test_migrate_loaded_72_nist_subcategories_and_38_iso_annex_a_controls():
    nist = Control.objects.filter(framework__slug="nist-ai-rmf", assessable=True)
    assert nist.count() == 72
    assert nist.filter(parent__parent__parent__isnull=True, parent__parent__isnull=False).count() == 72
    iso = Control.objects.filter(framework__slug="iso-42001", parent__isnull=False)
    assert iso.count() == 38
    assert set(Framework.objects.values_list("slug", flat=True)) == {
        "nist-ai-rmf", "iso-42001", "eu-ai-act", "mitre-atlas", "owasp-ml-top10"}
    rule = MappingRule.objects.get(rule_id="evasion-whitebox-robust-accuracy")
    assert {"MEASURE 2.7", "A.6.2.4", "Art. 15(5)", "AML.T0043", "ML01"} <= set(
        rule.controls.values_list("ref_id", flat=True))


def test_loading_again_changes_nothing():
    before = list(Control.objects.order_by("pk").values())
    rules_before = list(MappingRule.objects.order_by("pk").values())
    summary = catalog_load()
    assert not summary.changed
    assert summary.frameworks_loaded == []
    assert list(Control.objects.order_by("pk").values()) == before
    assert list(MappingRule.objects.order_by("pk").values()) == rules_before


def _copy_catalog(tmp_path):
    target = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, target)
    return target


def test_changed_title_updates_in_place_and_keeps_the_evidence(tmp_path, organization):
    records = evidence_record_for_run(run=make_run(make_asset(organization)))
    a624 = Control.objects.get(framework__slug="iso-42001", ref_id="A.6.2.4")
    old_title = a624.title
    assert EvidenceRecord.objects.filter(control=a624).count() == 1

    directory = _copy_catalog(tmp_path)
    path = directory / "iso-42001-2023.yaml"
    document = yaml.safe_load(path.read_text())
    for item in document["controls"]:
        if item["ref_id"] == "A.6.2.4":
            item["title"] = "Verification and validation of the AI system, reworded"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))

    summary = catalog_load(directory=directory)
    assert summary.controls_updated == 1 and summary.controls_created == 0
    a624_after = Control.objects.get(framework__slug="iso-42001", ref_id="A.6.2.4")
    assert a624_after.pk == a624.pk
    assert a624_after.title == "Verification and validation of the AI system, reworded"
    assert EvidenceRecord.objects.filter(control=a624_after).count() == 1
    assert records[0].pk in EvidenceRecord.objects.values_list("pk", flat=True)
    event = AuditEvent.objects.filter(action="compliance.catalog_update").latest("id")
    assert event.details["controls"] == [{"ref_id": "A.6.2.4", "changed": {"title": old_title}}]
    assert not catalog_load(directory=directory).changed


def test_control_removed_from_the_file_is_retired_not_deleted(tmp_path, organization):
    evidence_record_for_run(run=make_run(make_asset(organization)))
    directory = _copy_catalog(tmp_path)
    path = directory / "owasp-ml-top10-2023.yaml"
    document = yaml.safe_load(path.read_text())
    document["controls"] = [item for item in document["controls"] if item["ref_id"] != "ML01"]
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    mapping = yaml.safe_load((directory / "mapping.yaml").read_text())
    for rule in mapping["rules"]:
        owasp = rule["controls"].get("owasp-ml-top10")
        if owasp and "ML01" in owasp:
            owasp.remove("ML01")
            if not owasp:
                del rule["controls"]["owasp-ml-top10"]
    (directory / "mapping.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True))

    summary = catalog_load(directory=directory)
    assert summary.controls_retired == 1
    ml01 = Control.objects.get(framework__slug="owasp-ml-top10", ref_id="ML01")
    assert ml01.retired_at is not None
    assert EvidenceRecord.objects.filter(control=ml01).exists()
    assert not MappingRule.objects.filter(controls=ml01).exists()
    # Back in the file: the same row comes back to life.
    catalog_load()
    ml01.refresh_from_db()
    assert ml01.retired_at is None


@pytest.mark.django_db(transaction=True)
def test_migrating_compliance_back_to_zero_and_forward_reloads_the_catalogs():
    from django.core.management import call_command

    call_command("migrate", "compliance", "zero", verbosity=0)
    call_command("migrate", "compliance", verbosity=0)
    assert Control.objects.filter(framework__slug="iso-42001", parent__isnull=False).count() == 38
