"""Reads of the compliance app: control status per asset (derived from evidence, never stored), the matrix,
posture counts, evidence history. Every organization-owned read is filtered by organization."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, Max, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from riskapp.compliance.models import (
    Control,
    ControlStatus,
    EvidenceRecord,
    Framework,
    ManualEvidence,
    MappingRule,
    Report,
    ShareLink,
)
from riskapp.compliance.rules import StatusReason, derive_status

STATUS_ORDER = [ControlStatus.NON_COMPLIANT, ControlStatus.STALE, ControlStatus.PARTIAL, ControlStatus.NEEDS_MANUAL,
                ControlStatus.NOT_ASSESSED, ControlStatus.COMPLIANT]
STATUS_LABELS = dict(ControlStatus.choices)


def frameworks() -> QuerySet[Framework]:
    return Framework.objects.all()


def framework_by_slug(slug: str) -> Framework | None:
    return Framework.objects.filter(slug=slug).first()


def assessable_controls(framework: Framework) -> QuerySet[Control]:
    return (Control.objects.filter(framework=framework, assessable=True, retired_at__isnull=True)
            .select_related("framework", "parent"))


def _automated_control_ids(framework_ids) -> set[int]:
    return set(MappingRule.controls.through.objects
               .filter(control__framework_id__in=framework_ids, mappingrule__retired_at__isnull=True)
               .values_list("control_id", flat=True))


def _newest_evidence(organization, asset_ids, framework_ids) -> dict[tuple[int, int], dict]:
    ranked = (EvidenceRecord.objects
              .filter(organization=organization, asset_id__in=asset_ids, control__framework_id__in=framework_ids)
              .annotate(rank=Window(RowNumber(), partition_by=[F("asset_id"), F("control_id")],
                                    order_by=[F("measured_at").desc(), F("seq").desc()]))
              .filter(rank=1)
              .values("id", "asset_id", "control_id", "verdict", "measured_at", "run_id"))
    return {(row["asset_id"], row["control_id"]): row for row in ranked}


def _newest_manual(organization, asset_ids, framework_ids) -> dict[tuple[int, int], object]:
    rows = (ManualEvidence.objects
            .filter(organization=organization, asset_id__in=asset_ids, control__framework_id__in=framework_ids)
            .values("asset_id", "control_id").annotate(expires_on=Max("expires_on")))
    return {(row["asset_id"], row["control_id"]): row["expires_on"] for row in rows}


@dataclass
class Cell:
    asset_id: int
    control: Control
    status: str
    reason: str
    evidence: dict | None = None  # newest record: id, verdict, measured_at, run_id

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass
class Matrix:
    framework: Framework
    assets: list
    controls: list[Control]
    cells: dict[tuple[int, int], Cell]
    counts: Counter = field(default_factory=Counter)

    def row(self, asset) -> list[Cell]:
        return [self.cells[(asset.pk, control.pk)] for control in self.controls]

    def rows(self) -> list[tuple[object, list[Cell]]]:
        return [(asset, self.row(asset)) for asset in self.assets]

    def control_rows(self) -> list[tuple[Control, list[Cell]]]:
        return [(control, [self.cells[(asset.pk, control.pk)] for asset in self.assets]) for control in self.controls]

    def for_control(self, control) -> list[tuple[object, Cell]]:
        return [(asset, self.cells[(asset.pk, control.pk)]) for asset in self.assets]

    def asset_counts(self, asset) -> Counter:
        return Counter(cell.status for cell in self.row(asset))


def _cell(control, asset_id, automated_ids, newest, manual, now, freshness_days) -> Cell:
    evidence = newest.get((asset_id, control.pk))
    decided: StatusReason = derive_status(
        automated_evidence=control.automated_evidence,
        automated_possible=control.pk in automated_ids,
        newest_verdict=evidence["verdict"] if evidence else None,
        newest_measured_at=evidence["measured_at"] if evidence else None,
        manual_expires_on=manual.get((asset_id, control.pk)),
        now=now,
        freshness_days=freshness_days,
    )
    return Cell(asset_id=asset_id, control=control, status=decided.status, reason=decided.reason, evidence=evidence)


def status_matrix(*, organization, framework: Framework, assets=None, now: datetime | None = None,
                  statuses: list[str] | None = None, search: str = "") -> Matrix:
    """Assets × assessable controls with a derived status per cell, in a constant number of queries.

    statuses: keep only controls that have at least one cell in one of these statuses (the page's filter).
    """
    from riskapp.assets.models import ModelAsset

    now = now or timezone.now()
    if assets is None:
        assets = ModelAsset.objects.filter(organization=organization).order_by("name")
    assets = list(assets)
    controls = list(assessable_controls(framework))
    if search:
        needle = search.lower()
        controls = [c for c in controls if needle in c.ref_id.lower() or needle in c.title.lower()]
    asset_ids = [asset.pk for asset in assets]
    automated_ids = _automated_control_ids([framework.pk])
    newest = _newest_evidence(organization, asset_ids, [framework.pk]) if asset_ids else {}
    manual = _newest_manual(organization, asset_ids, [framework.pk]) if asset_ids else {}
    cells = {}
    for asset_id in asset_ids:
        for control in controls:
            cells[(asset_id, control.pk)] = _cell(control, asset_id, automated_ids, newest, manual, now,
                                                  organization.freshness_days)
    if statuses:
        wanted = set(statuses)
        controls = [c for c in controls if any(cells[(a, c.pk)].status in wanted for a in asset_ids)]
    counts = Counter(cells[(a, c.pk)].status for a in asset_ids for c in controls)
    return Matrix(framework=framework, assets=assets, controls=controls, cells=cells, counts=counts)


@dataclass
class FrameworkPosture:
    framework: Framework
    counts: Counter
    controls: int
    assets: int

    @property
    def ordered_counts(self) -> list[tuple[str, str, int]]:
        return [(status.value, status.label, self.counts.get(status.value, 0)) for status in STATUS_ORDER]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def compliant_share(self) -> float | None:
        return self.counts.get(ControlStatus.COMPLIANT, 0) / self.total if self.total else None


def posture_by_framework(*, organization, assets=None, now: datetime | None = None) -> list[FrameworkPosture]:
    """Status counts per framework over the given assets (all of the organization by default)."""
    from riskapp.assets.models import ModelAsset

    now = now or timezone.now()
    if assets is None:
        assets = ModelAsset.objects.filter(organization=organization)
    asset_ids = [asset.pk for asset in assets]
    all_frameworks = list(Framework.objects.all())
    framework_ids = [f.pk for f in all_frameworks]
    controls = list(Control.objects.filter(framework_id__in=framework_ids, assessable=True, retired_at__isnull=True))
    automated_ids = _automated_control_ids(framework_ids)
    newest = _newest_evidence(organization, asset_ids, framework_ids) if asset_ids else {}
    manual = _newest_manual(organization, asset_ids, framework_ids) if asset_ids else {}
    counts = {f.pk: Counter() for f in all_frameworks}
    per_framework = Counter(c.framework_id for c in controls)
    for control in controls:
        for asset_id in asset_ids:
            cell = _cell(control, asset_id, automated_ids, newest, manual, now, organization.freshness_days)
            counts[control.framework_id][cell.status] += 1
    return [FrameworkPosture(framework=f, counts=counts[f.pk], controls=per_framework[f.pk], assets=len(asset_ids))
            for f in all_frameworks]


def control_statuses_for_asset(*, asset, framework: Framework | None = None,
                               now: datetime | None = None) -> list[Cell]:
    """Every assessable control's status for one asset (one framework, or all)."""
    now = now or timezone.now()
    frameworks_ = [framework] if framework else list(Framework.objects.all())
    framework_ids = [f.pk for f in frameworks_]
    controls = list(Control.objects.filter(framework_id__in=framework_ids, assessable=True, retired_at__isnull=True)
                    .select_related("framework"))
    automated_ids = _automated_control_ids(framework_ids)
    newest = _newest_evidence(asset.organization, [asset.pk], framework_ids)
    manual = _newest_manual(asset.organization, [asset.pk], framework_ids)
    return [_cell(control, asset.pk, automated_ids, newest, manual, now, asset.organization.freshness_days)
            for control in controls]


def control_by_ref(*, framework: Framework, ref_id: str) -> Control | None:
    return Control.objects.filter(framework=framework, ref_id=ref_id).select_related("framework", "parent").first()


def rules_for_control(control: Control) -> QuerySet[MappingRule]:
    return control.mapping_rules.filter(retired_at__isnull=True).order_by("order")


def evidence_for_organization(organization) -> QuerySet[EvidenceRecord]:
    return (EvidenceRecord.objects.filter(organization=organization)
            .select_related("control__framework", "asset", "run"))


def evidence_history(*, organization, control: Control, asset=None, limit: int = 100) -> list[EvidenceRecord]:
    records = evidence_for_organization(organization).filter(control=control)
    if asset is not None:
        records = records.filter(asset=asset)
    return list(records.order_by("-measured_at", "-seq")[:limit])


def evidence_for_asset(*, organization, asset, framework: Framework | None = None) -> QuerySet[EvidenceRecord]:
    records = evidence_for_organization(organization).filter(asset=asset)
    if framework is not None:
        records = records.filter(control__framework=framework)
    return records.order_by("-measured_at", "-seq")


def manual_evidence_for(*, organization, control: Control | None = None, asset=None) -> QuerySet[ManualEvidence]:
    records = ManualEvidence.objects.filter(organization=organization).select_related("asset", "control", "owner")
    if control is not None:
        records = records.filter(control=control)
    if asset is not None:
        records = records.filter(asset=asset)
    return records


def evidence_chain_for(organization):
    from riskapp.compliance.models import EvidenceChain

    return EvidenceChain.objects.filter(organization=organization).first()


def reports_for(organization) -> QuerySet[Report]:
    return Report.objects.filter(organization=organization).select_related("framework", "asset", "generated_by")


def share_links_for(organization) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(organization=organization).select_related("report__framework", "asset")
