"""Reads that compose the dashboard from the other apps' data, in a number of queries that does not grow with assets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from riskapp.assessments.models import AssessmentRun, RunStatus
from riskapp.assets.models import ModelAsset, ModelVersion, ValidationStatus
from riskapp.ops.selectors import workers_online

ACTIVE_RUN_STATUSES = [RunStatus.QUEUED, RunStatus.RUNNING]
# A regression alert is raised just after its run is marked succeeded; live fragments keep polling this long
# after the last run finished so the alert still shows up without a reload.
SETTLE_SECONDS = 90


@dataclass
class AssetRisk:
    """One asset and the numbers that put it on the at-risk list (worst first)."""

    asset: ModelAsset
    run: dict | None = None  # newest succeeded run: id, profile name, summary, unreliable, passed, finished_at
    open_alerts: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def robust_accuracy(self) -> float | None:
        value = (self.run or {}).get("summary", {}).get("robust_accuracy")
        return value if isinstance(value, (int, float)) else None

    @property
    def clean_accuracy(self) -> float | None:
        value = (self.run or {}).get("summary", {}).get("clean_accuracy")
        return value if isinstance(value, (int, float)) else None

    @property
    def reference_epsilon(self) -> float | None:
        value = (self.run or {}).get("summary", {}).get("reference_epsilon")
        return value if isinstance(value, (int, float)) else None

    @property
    def failed_checks(self) -> int:
        return int(((self.run or {}).get("summary", {}).get("checks") or {}).get("failed", 0))

    @property
    def at_risk(self) -> bool:
        return bool(self.reasons)

    def sort_key(self):
        robust = self.robust_accuracy
        return (not self.at_risk, -self.open_alerts, not (self.run or {}).get("unreliable"), -self.failed_checks,
                self.run is not None, robust if robust is not None else 2.0, self.asset.name.lower())


def _newest_succeeded_runs(organization) -> dict[int, dict]:
    ranked = (AssessmentRun.objects.filter(organization=organization, status=RunStatus.SUCCEEDED)
              .annotate(rank=Window(RowNumber(), partition_by=[F("asset_id")],
                                    order_by=[F("finished_at").desc(nulls_last=True), F("id").desc()]))
              .filter(rank=1)
              .values("id", "asset_id", "profile__name", "summary", "unreliable", "passed", "finished_at",
                      "version__label"))
    return {row["asset_id"]: row for row in ranked}


def assets_at_risk(*, organization, limit: int = 8) -> tuple[list[AssetRisk], int]:
    """Assets worst first (open alerts, untrustworthy numbers, failed checks, lowest robust accuracy); and how many."""
    assets = list(ModelAsset.objects.filter(organization=organization).select_related("current_version"))
    runs = _newest_succeeded_runs(organization)
    from riskapp.monitoring.models import ACTIVE_ALERT_STATUSES, Alert

    alert_counts = dict(Alert.objects.filter(organization=organization, status__in=ACTIVE_ALERT_STATUSES)
                        .values("asset_id").annotate(n=Count("id")).values_list("asset_id", "n"))
    rows = []
    for asset in assets:
        row = AssetRisk(asset=asset, run=runs.get(asset.pk), open_alerts=alert_counts.get(asset.pk, 0))
        if row.open_alerts:
            row.reasons.append("alert")
        if row.run and row.run["unreliable"]:
            row.reasons.append("unreliable")
        if row.failed_checks:
            row.reasons.append("failed")
        if row.run is None:
            row.reasons.append("not_assessed")
        rows.append(row)
    rows.sort(key=AssetRisk.sort_key)
    # Worst first; models without a problem follow, ranked by robust accuracy, so the list is never empty for
    # an organization with models. The count is of the models with a problem.
    return rows[:limit], sum(1 for row in rows if row.at_risk)


@dataclass
class UpcomingRun:
    schedule: object
    next_run: datetime | None


def upcoming_reassessments(*, organization, limit: int = 5, now: datetime | None = None) -> list[UpcomingRun]:
    from riskapp.monitoring.selectors import schedule_next_run, schedules_for

    now = now or timezone.now()
    rows = [UpcomingRun(schedule=s, next_run=schedule_next_run(s, now=now))
            for s in schedules_for(organization=organization).filter(enabled=True)]
    rows = [row for row in rows if row.next_run is not None]
    rows.sort(key=lambda row: row.next_run)
    return rows[:limit]


def runs_panel(*, organization, recent: int = 6) -> dict:
    """Running and recently finished runs, and whether the panel must keep refreshing itself."""
    runs = AssessmentRun.objects.filter(organization=organization).select_related("asset", "profile", "version")
    active = list(runs.filter(status__in=ACTIVE_RUN_STATUSES)[:10])
    finished = list(runs.exclude(status__in=ACTIVE_RUN_STATUSES)[:recent])
    return {"active_runs": active, "recent_runs": finished, "live": bool(active) or _recently_settled(finished)}


def _recently_settled(finished_runs, *, now: datetime | None = None) -> bool:
    cutoff = (now or timezone.now()) - timedelta(seconds=SETTLE_SECONDS)
    return any(run.finished_at and run.finished_at >= cutoff for run in finished_runs)


def something_can_change(*, organization, now: datetime | None = None) -> bool:
    """Whether a new alert or result can still appear without anyone clicking: a run or validation in flight."""
    if organization is None:
        return False
    cutoff = (now or timezone.now()) - timedelta(seconds=SETTLE_SECONDS)
    if AssessmentRun.objects.filter(organization=organization).filter(
            Q(status__in=ACTIVE_RUN_STATUSES) | Q(finished_at__gte=cutoff)).exists():
        return True
    return ModelVersion.objects.filter(asset__organization=organization).filter(
        Q(status=ValidationStatus.PENDING) | Q(validated_at__gte=cutoff)).exists()


def dashboard_summary(*, organization) -> dict:
    from riskapp.compliance.selectors import posture_by_framework
    from riskapp.compliance.models import Report
    from riskapp.monitoring.selectors import alerts_for

    at_risk, at_risk_count = assets_at_risk(organization=organization)
    active_alerts = alerts_for(organization=organization, status="active")
    asset_count = ModelAsset.objects.filter(organization=organization).count()
    return {
        "asset_count": asset_count,
        "postures": posture_by_framework(organization=organization),
        "posture_history": posture_history(organization=organization),
        "at_risk": at_risk,
        "at_risk_count": at_risk_count,
        "alerts": list(active_alerts[:6]),
        "alert_count": active_alerts.count(),
        "upcoming": upcoming_reassessments(organization=organization),
        "latest_report": Report.objects.filter(organization=organization, status="succeeded")
        .select_related("framework").first(),
        "workers": list(workers_online()),
        **runs_panel(organization=organization),
    }


@dataclass
class CheckGuide:
    kind: str
    title: str
    description: str
    controls: list = field(default_factory=list)  # Control rows (with framework) this check's results evidence

    @property
    def anchor(self) -> str:
        return f"check-{self.kind}"

    @property
    def controls_by_framework(self) -> list[tuple[object, list]]:
        grouped: dict = {}
        for control in self.controls:
            grouped.setdefault(control.framework, []).append(control)
        return list(grouped.items())


def check_guides() -> list[CheckGuide]:
    """Every engine check with its own title and explanation, and the controls the compliance mapping ties it to."""
    from riskapp.assessments.selectors import check_guidance
    from riskapp.compliance.models import MappingRule
    from workers.engine.checks import CHECKS

    guides = {kind: CheckGuide(kind=kind, **check_guidance(kind)) for kind in CHECKS}
    rules = MappingRule.objects.filter(retired_at__isnull=True).prefetch_related("controls__framework")
    for rule in rules:
        for kind in rule.kinds:
            guide = guides.get(kind)
            if guide is None:
                continue
            for control in rule.controls.all():
                if control.retired_at is None and control not in guide.controls:
                    guide.controls.append(control)
    for guide in guides.values():
        guide.controls.sort(key=lambda c: (c.framework.order, c.framework.slug, c.ref_id))
    return list(guides.values())


def posture_history(*, organization, max_points: int = 8, now: datetime | None = None) -> list[dict]:
    """Share of control cells (assets × assessable controls) compliant per framework, as of each recent evidence
    time and now, derived exactly as the compliance pages derive status. Constant number of queries."""
    from riskapp.compliance.models import Control, EvidenceRecord, Framework, ManualEvidence, MappingRule
    from riskapp.compliance.rules import derive_status

    now = now or timezone.now()
    asset_ids = list(ModelAsset.objects.filter(organization=organization).values_list("id", flat=True))
    if not asset_ids:
        return []
    evidence = list(EvidenceRecord.objects.filter(organization=organization, asset_id__in=asset_ids)
                    .order_by("measured_at", "seq").values_list("asset_id", "control_id", "verdict", "measured_at"))
    if not evidence:
        return []
    moments = sorted({row[3] for row in evidence})[-(max_points - 1):] + [now]
    frameworks = list(Framework.objects.all())
    controls = list(Control.objects.filter(assessable=True, retired_at__isnull=True)
                    .values_list("id", "framework_id", "automated_evidence"))
    automated = set(MappingRule.controls.through.objects.filter(mappingrule__retired_at__isnull=True)
                    .values_list("control_id", flat=True))
    manual = list(ManualEvidence.objects.filter(organization=organization, asset_id__in=asset_ids)
                  .values_list("asset_id", "control_id", "expires_on", "created_at"))
    control_info = {control_id: (framework_id, automated_evidence)
                    for control_id, framework_id, automated_evidence in controls}
    controls_per_framework: dict[int, int] = {}
    for _control_id, framework_id, _automated in controls:
        controls_per_framework[framework_id] = controls_per_framework.get(framework_id, 0) + 1
    # Only cells with evidence (automated or manual) can be compliant; the others count in the total only, so the
    # work grows with the evidence recorded, not with assets × controls.
    cells = {(row[0], row[1]) for row in evidence} | {(row[0], row[1]) for row in manual}
    cells = {cell for cell in cells if cell[1] in control_info}
    newest: dict[tuple[int, int], tuple[str, datetime]] = {}
    shares: dict[int, list] = {f.pk: [] for f in frameworks}
    cursor = 0
    for moment in moments:
        while cursor < len(evidence) and evidence[cursor][3] <= moment:
            asset_id, control_id, verdict, measured_at = evidence[cursor]
            newest[(asset_id, control_id)] = (verdict, measured_at)
            cursor += 1
        manual_now: dict[tuple[int, int], object] = {}
        for asset_id, control_id, expires_on, created_at in manual:
            if created_at <= moment and expires_on > manual_now.get((asset_id, control_id), expires_on.min):
                manual_now[(asset_id, control_id)] = expires_on
        compliant: dict[int, int] = {}
        for asset_id, control_id in cells:
            framework_id, automated_evidence = control_info[control_id]
            verdict, measured_at = newest.get((asset_id, control_id), (None, None))
            status = derive_status(automated_evidence=automated_evidence,
                                   automated_possible=control_id in automated, newest_verdict=verdict,
                                   newest_measured_at=measured_at,
                                   manual_expires_on=manual_now.get((asset_id, control_id)), now=moment,
                                   freshness_days=organization.freshness_days).status
            compliant[framework_id] = compliant.get(framework_id, 0) + (status == "compliant")
        for framework in frameworks:
            total = controls_per_framework.get(framework.pk, 0) * len(asset_ids)
            if total:
                shares[framework.pk].append((moment, compliant.get(framework.pk, 0) / total))
    return [{"framework": f, "points": shares[f.pk]} for f in frameworks if shares[f.pk]]
