"""Writes of the compliance app: catalog loading, the evidence ledger, manual evidence, reports, share links."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from riskapp.audit.services import audit_record
from riskapp.compliance import catalog_schema
from riskapp.compliance.models import (
    Control,
    EvidenceChain,
    EvidenceRecord,
    Framework,
    ManualEvidence,
    MappingRule,
    Report,
    ReportFormat,
    ReportStatus,
    ShareLink,
)
from riskapp.compliance.rules import (
    COMPLETED_CHECK_STATUSES,
    canonical_json,
    judge,
    record_verdict,
    sha256_text,
)

logger = logging.getLogger(__name__)

EVIDENCE_SCHEMA = "riskapp.evidence/1"


# --- catalog ------------------------------------------------------------------------------------------


@dataclass
class CatalogLoadSummary:
    frameworks_loaded: list[str] = field(default_factory=list)
    frameworks_unchanged: list[str] = field(default_factory=list)
    controls_created: int = 0
    controls_updated: int = 0
    controls_retired: int = 0
    rules_created: int = 0
    rules_updated: int = 0
    rules_retired: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.controls_created or self.controls_updated or self.controls_retired
                     or self.rules_created or self.rules_updated or self.rules_retired)


def _file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_CONTROL_FIELDS = ("title", "description", "automated_evidence", "kinds", "assessable", "aliases", "attributes",
                   "note", "catalog_version", "order")


def _load_framework(spec: catalog_schema.Framework, order: int, now, summary: CatalogLoadSummary) -> Framework:
    digest = _file_sha256(spec.path)
    framework = Framework.objects.filter(slug=spec.slug).first()
    header = dict(name=spec.name, version=spec.version, publisher=spec.publisher, url=spec.url,
                  source_notes=spec.source_notes, attributes=dict(spec.attributes), order=order)
    if framework is not None and framework.catalog_sha256 == digest:
        changed = {key: value for key, value in header.items() if getattr(framework, key) != value}
        if not changed:
            summary.frameworks_unchanged.append(spec.slug)
            return framework
    if framework is None:
        framework = Framework.objects.create(slug=spec.slug, catalog_sha256=digest, **header)
    else:
        for key, value in header.items():
            setattr(framework, key, value)
        framework.catalog_sha256 = digest
        framework.save()
    summary.frameworks_loaded.append(spec.slug)

    existing = {control.ref_id: control for control in Control.objects.filter(framework=framework)}
    if not existing:
        _create_controls(framework, spec)
        summary.controls_created += len(spec.controls)
        return framework
    seen = set()
    changes = []
    for position, item in enumerate(spec.controls):
        seen.add(item.ref_id)
        values = _control_values(item, spec, position)
        control = existing.get(item.ref_id)
        if control is None:
            existing[item.ref_id] = Control.objects.create(framework=framework, ref_id=item.ref_id, **values)
            summary.controls_created += 1
            continue
        diff = {key: (getattr(control, key), value) for key, value in values.items()
                if getattr(control, key) != value}
        if diff or control.retired_at is not None:
            for key, (_old, value) in diff.items():
                setattr(control, key, value)
            control.retired_at = None
            control.save()
            summary.controls_updated += 1
            # The previous wording stays in the audit trail; evidence keeps pointing at the same row.
            changes.append({"ref_id": item.ref_id, "changed": {key: old for key, (old, _new) in diff.items()
                                                               if key in ("title", "description")}})
    for item in spec.controls:
        control = existing[item.ref_id]
        parent_id = existing[item.parent].pk if item.parent else None
        if control.parent_id != parent_id:
            control.parent_id = parent_id
            control.save(update_fields=["parent"])
    for ref_id, control in existing.items():
        if ref_id not in seen and control.retired_at is None:
            # Never deleted: evidence and manual evidence may point at it.
            control.retired_at = now
            control.save(update_fields=["retired_at"])
            summary.controls_retired += 1
            changes.append({"ref_id": ref_id, "retired": True})
    if changes:
        audit_record(actor="system", organization=None, action="compliance.catalog_update", obj=framework,
                     details={"version": spec.version, "catalog_sha256": digest, "controls": changes[:200]})
    return framework


def _control_values(item: catalog_schema.Control, spec: catalog_schema.Framework, position: int) -> dict:
    return dict(title=item.title, description=item.description, automated_evidence=item.automated_evidence,
                kinds=list(item.kinds), assessable=item.assessable, aliases=list(item.aliases),
                attributes=dict(item.attributes), note=item.note, catalog_version=spec.version, order=position)


def _create_controls(framework: Framework, spec: catalog_schema.Framework) -> None:
    """A framework seen for the first time (a fresh or flushed database): two bulk statements, not one per row."""
    created = Control.objects.bulk_create([
        Control(framework=framework, ref_id=item.ref_id, **_control_values(item, spec, position))
        for position, item in enumerate(spec.controls)])
    if any(control.pk is None for control in created):
        created = list(Control.objects.filter(framework=framework))
    by_ref = {control.ref_id: control for control in created}
    children = []
    for item in spec.controls:
        if item.parent:
            control = by_ref[item.ref_id]
            control.parent_id = by_ref[item.parent].pk
            children.append(control)
    Control.objects.bulk_update(children, ["parent"], batch_size=500)


def _load_rules(mapping: catalog_schema.CheckMapping, frameworks: dict[str, Framework], now,
                summary: CatalogLoadSummary) -> None:
    controls = {(control.framework.slug, control.ref_id): control
                for control in Control.objects.select_related("framework").filter(retired_at__isnull=True)}
    existing = {rule.rule_id: rule for rule in MappingRule.objects.prefetch_related("controls")}
    seen = set()
    for position, item in enumerate(mapping.rules):
        seen.add(item.id)
        values = dict(kinds=list(item.kinds), metric=item.metric or "", style=item.style,
                      minimum=item.minimum, maximum=item.maximum, rationale=item.rationale, order=position)
        targets = {controls[(slug, ref_id)].pk for slug, ref_ids in item.controls.items() for ref_id in ref_ids}
        rule = existing.get(item.id)
        if rule is None:
            rule = MappingRule.objects.create(rule_id=item.id, **values)
            rule.controls.set(targets)
            summary.rules_created += 1
            continue
        diff = {key: value for key, value in values.items() if getattr(rule, key) != value}
        current = {control.pk for control in rule.controls.all()}
        if diff or current != targets or rule.retired_at is not None:
            for key, value in diff.items():
                setattr(rule, key, value)
            rule.retired_at = None
            rule.save()
            if current != targets:
                rule.controls.set(targets)
            summary.rules_updated += 1
    for rule_id, rule in existing.items():
        if rule_id not in seen and rule.retired_at is None:
            rule.retired_at = now
            rule.save(update_fields=["retired_at"])
            summary.rules_retired += 1


_parsed: dict = {}


def _parsed_catalog(directory: Path) -> catalog_schema.Catalog:
    # Parsing and validating the YAML costs most of a load; post_migrate runs after every test-database flush.
    stamp = tuple(sorted((path.name, path.stat().st_mtime_ns, path.stat().st_size)
                         for path in directory.glob("*.yaml")))
    key = str(directory.resolve())
    cached = _parsed.get(key)
    if cached is None or cached[0] != stamp:
        cached = _parsed[key] = (stamp, catalog_schema.load_all(directory))
    return cached[1]


def catalog_load(*, directory: str | Path | None = None) -> CatalogLoadSummary:
    """Load the YAML catalogs and mapping into the database; running it again on the same files changes nothing.

    Controls are keyed on (framework, ref_id): a changed file updates titles in place (the old wording goes
    to the audit trail) and a control that left the file is marked retired, never deleted.
    """
    catalog = _parsed_catalog(Path(directory or catalog_schema.CATALOG_DIR))
    summary = CatalogLoadSummary()
    now = timezone.now()
    with transaction.atomic():
        frameworks = {}
        for order, spec in enumerate(sorted(catalog.frameworks.values(), key=_framework_order)):
            frameworks[spec.slug] = _load_framework(spec, order, now, summary)
        if summary.frameworks_loaded or _mapping_changed(catalog.mapping):
            _load_rules(catalog.mapping, frameworks, now, summary)
    return summary


_FRAMEWORK_ORDER = ["iso-42001", "nist-ai-rmf", "eu-ai-act", "mitre-atlas", "owasp-ml-top10"]


def _framework_order(spec: catalog_schema.Framework):
    return (_FRAMEWORK_ORDER.index(spec.slug) if spec.slug in _FRAMEWORK_ORDER else len(_FRAMEWORK_ORDER), spec.slug)


def _mapping_changed(mapping: catalog_schema.CheckMapping) -> bool:
    # The mapping has no version row of its own: compare what the file says with the active rules.
    active = {rule.rule_id: rule for rule in MappingRule.objects.filter(retired_at__isnull=True)
              .prefetch_related("controls__framework")}
    if set(active) != {rule.id for rule in mapping.rules}:
        return True
    for position, item in enumerate(mapping.rules):
        rule = active[item.id]
        targets = {(control.framework.slug, control.ref_id) for control in rule.controls.all()}
        wanted = {(slug, ref_id) for slug, ref_ids in item.controls.items() for ref_id in ref_ids}
        if (rule.kinds != list(item.kinds) or rule.metric != (item.metric or "") or rule.style != item.style
                or rule.minimum != item.minimum or rule.maximum != item.maximum
                or rule.rationale != item.rationale or rule.order != position or targets != wanted):
            return True
    return False


def catalog_load_after_migrate(sender=None, **kwargs) -> None:
    """post_migrate receiver: every migrated (or flushed) database gets the shipped catalogs."""
    from django.db import connections

    using = kwargs.get("using", "default")
    if using != "default":
        return
    tables = set(connections[using].introspection.table_names())
    # Migrated back to zero (or not yet migrated): there is nowhere to load the catalogs into.
    if not {Framework._meta.db_table, Control._meta.db_table, MappingRule._meta.db_table} <= tables:
        return
    summary = catalog_load()
    if summary.changed and kwargs.get("verbosity", 1) >= 1:
        logger.info("compliance catalogs loaded: %s", summary)


# --- evidence ledger ----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _result_sha256(check) -> str:
    cached = getattr(check, "_result_sha256", None)
    if cached is None:
        full = {"kind": check.kind, "status": check.status, "metrics": check.metrics, "thresholds": check.thresholds,
                "parameters": check.parameters, "seed": check.seed, "verdict": check.verdict}
        cached = check._result_sha256 = sha256_text(canonical_json(full))
    return cached


def _check_payload(check, outcomes: list) -> dict:
    contract = catalog_schema.CHECK_METRICS.get(check.kind, {})
    named = {metric for metric in contract} | {o.metric for o in outcomes if o.metric}
    return {
        "kind": check.kind,
        "status": check.status,
        "verdict": check.verdict,
        "metrics": {metric: check.metrics[metric] for metric in sorted(named) if metric in check.metrics},
        "thresholds": check.thresholds,
        "parameters": check.parameters,
        "seed": check.seed,
        "queries": check.queries,
        "duration_s": check.duration_s,
        # Binds the full result (curves, per-attack figures) without copying it into every record.
        "result_sha256": _result_sha256(check),
    }


def _run_payload(run) -> dict:
    version = run.version
    datasets = {}
    for role, dataset in (("evaluation", run.evaluation_dataset), ("training", run.training_dataset),
                          ("holdout", run.holdout_dataset)):
        if dataset is not None:
            datasets[role] = {"id": dataset.pk, "name": dataset.name, "sha256": dataset.sha256}
    return {
        "id": run.pk,
        "asset": {"id": run.asset_id, "name": run.asset.name, "risk_tier": run.asset.risk_tier},
        "model_version": {"id": version.pk, "label": version.label, "format": version.format,
                          "sha256": version.sha256},
        "profile": {"slug": run.profile.slug, "name": run.profile.name},
        "suite": run.profile_snapshot,
        "seed": run.seed,
        "device": run.device,
        "versions": run.versions,
        "artifact_sha256": run.artifact_sha256,
        "data_hashes": run.data_hashes,
        "datasets": datasets,
        "trigger": run.trigger,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "unreliable": run.unreliable,
        "unreliable_reasons": run.unreliable_reasons,
    }


def _active_rules() -> list[MappingRule]:
    return list(MappingRule.objects.filter(retired_at__isnull=True)
                .prefetch_related("controls__framework").order_by("order"))


def _chain_for(organization) -> None:
    if EvidenceChain.objects.filter(organization=organization).exists():
        return
    try:
        with transaction.atomic():
            EvidenceChain.objects.create(organization=organization)
    except IntegrityError:
        pass  # another writer created it first


def evidence_record_for_run(*, run) -> list[EvidenceRecord]:
    """One immutable, hash-chained evidence record per control the mapping links to the run's completed checks.

    Idempotent: a redelivered run returns the records it already has. Safe under concurrency: appends are
    serialized on the organization's chain-head row (select_for_update; SQLite serializes writers itself).
    """
    from riskapp.assessments.models import AssessmentRun, RunStatus

    run = (AssessmentRun.objects.select_related("asset", "organization", "version", "profile", "evaluation_dataset",
                                                "training_dataset", "holdout_dataset")
           .get(pk=run.pk))
    if run.status != RunStatus.SUCCEEDED:
        logger.info("run %s is %s: no evidence recorded", run.pk, run.status)
        return []
    existing = list(EvidenceRecord.objects.filter(run=run).order_by("seq"))
    if existing:
        return existing

    checks = [check for check in run.checks.all().order_by("order") if check.status in COMPLETED_CHECK_STATUSES]
    per_control: dict[int, tuple[Control, list, dict]] = {}
    for rule in _active_rules():
        for check in checks:
            if check.kind not in rule.kinds:
                continue
            outcome = judge(rule_id=rule.rule_id, style=rule.style, metric=rule.metric or None,
                            minimum=rule.minimum, maximum=rule.maximum, kind=check.kind, status=check.status,
                            metrics=check.metrics or {}, thresholds=check.thresholds or {},
                            unreliable=run.unreliable)
            for control in rule.controls.all():
                if control.retired_at is not None:
                    continue
                entry = per_control.setdefault(control.pk, (control, [], {}))
                entry[1].append((outcome, rule))
                entry[2][check.kind] = check
    if not per_control:
        return []

    run_payload = _run_payload(run)
    measured_at = run.finished_at or timezone.now()
    drafts = []
    for control, outcomes_rules, used_checks in sorted(per_control.values(),
                                                       key=lambda entry: (entry[0].framework.order, entry[0].order)):
        outcomes = [outcome for outcome, _rule in outcomes_rules]
        verdict = record_verdict(outcomes)
        drafts.append((control, verdict, {
            "schema": EVIDENCE_SCHEMA,
            "organization": {"id": run.organization_id, "slug": run.organization.slug},
            "control": {"id": control.pk, "framework": control.framework.slug,
                        "framework_version": control.framework.version, "ref_id": control.ref_id,
                        "title": control.title},
            "run": run_payload,
            "checks": [_check_payload(check, [o for o in outcomes if o.kind == kind])
                       for kind, check in sorted(used_checks.items())],
            "rules": [dict(outcome.as_dict(), rationale=rule.rationale) for outcome, rule in outcomes_rules],
            "verdict": verdict,
            "measured_at": _iso(measured_at),
        }))

    _chain_for(run.organization)
    with transaction.atomic():
        chain = EvidenceChain.objects.select_for_update().get(organization=run.organization)
        # Checked again under the lock: a redelivery that raced this one may have appended first.
        existing = list(EvidenceRecord.objects.filter(run=run).order_by("seq"))
        if existing:
            return existing
        now = timezone.now()
        prev, seq, records = chain.head_sha256, chain.length, []
        for control, verdict, body in drafts:
            seq += 1
            body = dict(body, seq=seq, prev_sha256=prev, recorded_at=_iso(now))
            payload = canonical_json(body)
            digest = sha256_text(payload)
            record = EvidenceRecord(organization=run.organization, seq=seq, run=run, asset=run.asset,
                                    control=control, verdict=verdict, payload=payload, payload_sha256=digest,
                                    prev_sha256=prev, measured_at=measured_at, created_at=now)
            records.append(record)
            prev = digest
        EvidenceRecord.objects.bulk_create(records)
        chain.length, chain.head_sha256 = seq, prev
        chain.save(update_fields=["length", "head_sha256", "updated_at"])
        audit_record(actor="system", organization=run.organization, action="evidence.record", obj=run,
                     details={"records": len(records), "first_seq": records[0].seq, "last_seq": seq,
                              "head_sha256": prev})
    return records


@dataclass
class VerifyResult:
    ok: bool
    records: int
    head: str
    first_bad: dict | None = None

    def as_dict(self) -> dict:
        return {"ok": self.ok, "records": self.records, "first_bad": self.first_bad, "head": self.head}


def evidence_verify(*, organization) -> VerifyResult:
    """Walk the organization's chain from the first record; name the first record that does not match."""
    import json

    chain = EvidenceChain.objects.filter(organization=organization).first()
    prev = ""
    count = 0
    rows = (EvidenceRecord.objects.filter(organization=organization).order_by("seq")
            .values_list("pk", "seq", "payload", "payload_sha256", "prev_sha256", "run_id", "control_id", "asset_id",
                         "verdict", "measured_at"))

    def bad(pk, seq, reason) -> VerifyResult:
        return VerifyResult(ok=False, records=count, head=chain.head_sha256 if chain else "",
                            first_bad={"id": pk, "seq": seq, "reason": reason})

    for pk, seq, payload, stored_sha, stored_prev, run_id, control_id, asset_id, verdict, measured_at in rows.iterator(
            chunk_size=500):
        count += 1
        if seq != count:
            return bad(pk, seq, f"sequence gap: expected record {count}, found {seq} (a record was removed)")
        digest = sha256_text(payload)
        if digest != stored_sha:
            return bad(pk, seq, "payload does not match its SHA-256: the record was changed after it was written")
        if stored_prev != prev:
            return bad(pk, seq, "its link to the previous record does not match: the previous record was "
                                "changed or replaced")
        try:
            body = json.loads(payload)
        except ValueError:
            return bad(pk, seq, "payload is not valid JSON")
        if body.get("prev_sha256") != stored_prev or body.get("seq") != seq:
            return bad(pk, seq, "payload names another position in the chain")
        # The columns the status pages read must say what the hashed payload says.
        run_body = body.get("run", {})
        if (run_body.get("id") != run_id or run_body.get("asset", {}).get("id") != asset_id
                or body.get("control", {}).get("id") != control_id):
            return bad(pk, seq, "the record's run, asset or control differs from what its payload names")
        if body.get("verdict") != verdict:
            return bad(pk, seq, f"the record's verdict {verdict!r} differs from its payload's {body.get('verdict')!r}")
        if not body.get("measured_at") or datetime.fromisoformat(body["measured_at"]) != measured_at:
            return bad(pk, seq, "the record's measurement date differs from its payload's")
        prev = digest
    head = chain.head_sha256 if chain else ""
    if chain is not None and (chain.length != count or chain.head_sha256 != prev):
        return VerifyResult(ok=False, records=count, head=head,
                            first_bad={"id": None, "seq": count + 1 if chain.length > count else count,
                                       "reason": f"the chain head says {chain.length} records ending in "
                                                 f"{chain.head_sha256[:16]}…, the records end at {count} in "
                                                 f"{prev[:16]}…: records were removed or added"})
    return VerifyResult(ok=True, records=count, head=prev)


# --- manual evidence ----------------------------------------------------------------------------------

MANUAL_EVIDENCE_MAX_BYTES = 25 * 1024 * 1024


def manual_evidence_attach(*, organization, asset, control: Control, user, title: str, expires_on: date,
                           link: str = "", upload=None, owner=None, notes: str = "") -> ManualEvidence:
    """Attach a document (file) or a link, with an owner and an expiry date, as evidence for one asset's control."""
    if asset.organization_id != organization.pk:
        raise ValidationError("The asset belongs to another organization.")
    if not control.assessable or control.retired_at is not None:
        raise ValidationError({"control": "Evidence attaches to an assessable, current control."})
    if bool(link) == bool(upload):
        raise ValidationError("Attach either a file or a link.")
    if expires_on <= timezone.now().date():
        raise ValidationError({"expires_on": "The expiry date must lie in the future."})
    evidence = ManualEvidence(organization=organization, asset=asset, control=control, title=title, link=link,
                              owner=owner or user, expires_on=expires_on, notes=notes, created_by=user)
    if upload is not None:
        if upload.size > MANUAL_EVIDENCE_MAX_BYTES:
            raise ValidationError({"file": f"The file is larger than {MANUAL_EVIDENCE_MAX_BYTES // (1024 * 1024)} MB."})
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
        evidence.file_sha256 = digest.hexdigest()
        evidence.original_filename = upload.name[:255]
        evidence.file.save("evidence", upload, save=False)
    evidence.full_clean()
    evidence.save()
    audit_record(actor=user, organization=organization, action="evidence.manual_attach", obj=evidence,
                 details={"asset": asset.pk, "control": f"{control.framework.slug} {control.ref_id}",
                          "expires_on": expires_on.isoformat(), "file_sha256": evidence.file_sha256,
                          "link": link})
    return evidence


# --- reports ------------------------------------------------------------------------------------------


def report_request(*, organization, framework: Framework, fmt: str, user, asset=None,
                   period_start: date | None = None, period_end: date | None = None,
                   enqueue: bool = True) -> Report:
    """Queue a report; workers.tasks.generate_report renders and stores it after commit."""
    if fmt not in ReportFormat.values:
        raise ValidationError({"format": f"Choose one of {', '.join(ReportFormat.values)}."})
    if asset is not None and asset.organization_id != organization.pk:
        raise ValidationError({"asset": "The asset belongs to another organization."})
    if period_start and period_end and period_start > period_end:
        raise ValidationError({"period_start": "The period starts after it ends."})
    report = Report(organization=organization, framework=framework, format=fmt, asset=asset,
                    period_start=period_start, period_end=period_end, generated_by=user)
    report.full_clean()
    report.save()
    audit_record(actor=user, organization=organization, action="report.request", obj=report,
                 details={"framework": framework.slug, "format": fmt, "asset": asset.pk if asset else None})
    if enqueue:
        from workers.tasks import generate_report

        transaction.on_commit(lambda: generate_report.delay(report.pk))
    return report


REPORT_ABANDONED_AFTER = timedelta(minutes=30)


def report_generate(*, report_id: int, now: datetime | None = None) -> Report:
    """Render a queued report, store the file with its SHA-256; a failure is recorded on the report."""
    from riskapp.compliance.reports import render

    # A report left "running" by a worker that died is claimed again when its task is redelivered.
    abandoned = Q(status=ReportStatus.RUNNING, created_at__lt=timezone.now() - REPORT_ABANDONED_AFTER)
    with transaction.atomic():
        claimed = (Report.objects.filter(Q(status=ReportStatus.QUEUED) | abandoned, pk=report_id)
                   .update(status=ReportStatus.RUNNING))
    report = Report.objects.select_related("organization", "framework", "asset", "generated_by").get(pk=report_id)
    if not claimed:
        return report  # already generated (or being generated) by another delivery of the task
    try:
        content, chain_head = render(report, now=now)
    except Exception as exc:  # recorded on the report for the person who asked; the worker goes on
        logger.exception("report %s failed", report_id)
        report.status, report.error, report.finished_at = ReportStatus.FAILED, f"{type(exc).__name__}: {exc}", timezone.now()
        report.save(update_fields=["status", "error", "finished_at"])
        audit_record(actor="system", organization=report.organization, action="report.fail", obj=report,
                     details={"error": report.error[:500]})
        return report
    report.file.save(report.filename, ContentFile(content), save=False)
    report.sha256 = hashlib.sha256(content).hexdigest()
    report.size_bytes = len(content)
    report.chain_head_sha256 = chain_head
    report.status, report.error, report.finished_at = ReportStatus.SUCCEEDED, "", timezone.now()
    report.save()
    audit_record(actor="system", organization=report.organization, action="report.generate", obj=report,
                 details={"sha256": report.sha256, "bytes": report.size_bytes, "chain_head": chain_head})
    return report


# --- share links for auditors --------------------------------------------------------------------------

SHARE_TOKEN_PREFIX = "rsk_share_"


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def share_link_create(*, organization, user, report: Report | None = None, asset=None, expires_in_days: int = 14,
                      label: str = "") -> tuple[ShareLink, str]:
    """A read-only link for an auditor; returns the link and the raw token, which is shown once and not stored."""
    if (report is None) == (asset is None):
        raise ValidationError("Share either a report or an asset's evidence.")
    subject = report or asset
    if subject.organization_id != organization.pk:
        raise ValidationError("That belongs to another organization.")
    if report is not None and report.status != ReportStatus.SUCCEEDED:
        raise ValidationError("Only a generated report can be shared.")
    if not 1 <= int(expires_in_days) <= 90:
        raise ValidationError({"expires_in_days": "A link lasts between 1 and 90 days."})
    raw = SHARE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    link = ShareLink(organization=organization, report=report, asset=asset, label=label,
                     prefix=raw[len(SHARE_TOKEN_PREFIX):][:8], token_hash=_token_hash(raw),
                     expires_at=timezone.now() + timedelta(days=int(expires_in_days)), created_by=user)
    link.full_clean()
    link.save()
    audit_record(actor=user, organization=organization, action="share_link.create", obj=link,
                 details={"report": report.pk if report else None, "asset": asset.pk if asset else None,
                          "expires_at": link.expires_at.isoformat(), "label": label})
    return link, raw


def share_link_revoke(*, link: ShareLink, user) -> ShareLink:
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        audit_record(actor=user, organization=link.organization, action="share_link.revoke", obj=link)
    return link


def share_link_access(*, raw_token: str, what: str = "view") -> ShareLink | None:
    """The live link a token opens, with the access audited; None for an unknown, expired or revoked token."""
    if not raw_token.startswith(SHARE_TOKEN_PREFIX):
        return None
    link = (ShareLink.objects.select_related("organization", "report__framework", "asset")
            .filter(token_hash=_token_hash(raw_token)).first())
    if link is None or link.revoked_at is not None or link.expires_at <= timezone.now():
        if link is not None:
            audit_record(actor=f"auditor-link:{link.prefix}", organization=link.organization,
                         action="share_link.refused", obj=link,
                         details={"why": "revoked" if link.revoked_at else "expired", "what": what})
        return None
    ShareLink.objects.filter(pk=link.pk).update(access_count=F("access_count") + 1, last_accessed_at=timezone.now())
    audit_record(actor=f"auditor-link:{link.prefix}", organization=link.organization, action="share_link.access",
                 obj=link, details={"what": what})
    return link
