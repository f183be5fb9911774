"""Evidence reports: the data a report states (as of its period) and its three renderings — PDF, OSCAL, CSV."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time
from datetime import timezone as dt_timezone

from django.template.loader import render_to_string
from django.utils import timezone

from riskapp.compliance.models import (
    Control,
    ControlStatus,
    EvidenceChain,
    EvidenceRecord,
    ManualEvidence,
    MappingRule,
    Report,
)
from riskapp.compliance.rules import derive_status
from riskapp.compliance.selectors import STATUS_LABELS, STATUS_ORDER

# What each check assumes about the attacker, in riskapp's words (printed in the methodology appendix).
THREAT_MODELS = {
    "evasion.whitebox": "White-box evasion: the attacker knows the model and its gradients and may change each input "
                        "value by at most ε (L∞), untargeted; robust accuracy is the worst case per example over "
                        "FGSM and PGD.",
    "evasion.blackbox": "Black-box evasion: the attacker only queries the model (labels or scores) under a query "
                        "budget (HopSkipJump, Square).",
    "evasion.sanity": "Evaluation sanity: accuracy must collapse at a huge ε, PGD must be at least as strong as FGSM "
                      "and black-box no stronger than white-box; a failure marks the evaluation unreliable.",
    "poisoning.backdoor": "Backdoor poisoning: the attacker controls a small share of the training data and plants a "
                          "trigger; a copy of the model is retrained on it.",
    "poisoning.data_scan": "Poisoned-data scan: activation clustering and spectral signatures over the registered "
                           "training set, calibrated on a planted poison.",
    "integrity.data": "Data integrity: the evaluation data's hash against the registered one, value ranges, "
                      "duplicates, missing values and label balance.",
    "extraction": "Model extraction: the attacker queries the model to train a copy (Copycat / Knockoff or a "
                  "surrogate), with and without output coarsening.",
    "inference.membership": "Membership inference: the attacker tells training members from non-members from the "
                            "model's outputs.",
    "inference.attribute": "Attribute inference: the attacker infers a sensitive feature from the model's answers.",
    "defense.adversarial_training": "Adversarial training (Madry PGD) of a copy, judged with attacks that see the "
                                    "defence.",
    "defense.distillation": "Defensive distillation of a copy, judged on the student's logits with attacks that see "
                            "the defence.",
    "defense.preprocessing": "Input preprocessing defences judged with an adaptive BPDA attack through the "
                             "preprocessor.",
    "detection.train": "An adversarial-input detector calibrated to a target false-positive rate, judged against an "
                       "adaptive attacker who knows the detector.",
}

CISO_RESULTS = {
    ControlStatus.COMPLIANT: "compliant",
    ControlStatus.NON_COMPLIANT: "non_compliant",
    ControlStatus.PARTIAL: "partially_compliant",
    ControlStatus.STALE: "not_assessed",
    ControlStatus.NOT_ASSESSED: "not_assessed",
    ControlStatus.NEEDS_MANUAL: "not_assessed",
}
CSV_COLUMNS = ["ref_id", "result", "actual", "expected", "message", "framework", "asset", "status", "measured_at",
               "run_id", "evidence_seq", "evidence_sha256"]

OSCAL_VERSION = "1.2.3"
OSCAL_NS = "https://riskapp.dev/ns/oscal"
_UUID_NS = uuid.UUID("6f1d8a52-7c1e-4d3b-9a55-2b7c3f1e0d11")


@dataclass
class Line:
    """One control for one asset: its status as of the period end and the evidence behind it."""

    asset: object
    status: str
    reason: str
    record: EvidenceRecord | None = None
    body: dict | None = None
    manual: list = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def rules(self) -> list[dict]:
        return (self.body or {}).get("rules", [])

    @property
    def judged_rules(self) -> list[dict]:
        return [rule for rule in self.rules if rule["style"] == "bounds" or rule["outcome"] != "pass"
                or rule["style"] == "status_only"]

    def actual(self) -> str:
        return "; ".join(f"{r['check']} {r['metric']}={_num(r['value'])}" for r in self.rules
                         if r.get("metric") and r.get("value") is not None)

    def expected(self) -> str:
        parts = []
        for r in self.rules:
            if r.get("metric"):
                bounds = [f"≥ {_num(r['min'])}" if r.get("min") is not None else "",
                          f"≤ {_num(r['max'])}" if r.get("max") is not None else ""]
                text = " and ".join(b for b in bounds if b) or "no threshold in profile"
                parts.append(f"{r['check']} {r['metric']} {text}")
            elif r["style"] == "status_only":
                parts.append(f"{r['check']} passes its profile thresholds")
            else:
                parts.append(f"{r['check']} carried out")
        return "; ".join(dict.fromkeys(parts))


@dataclass
class Section:
    control: Control
    rules: list[MappingRule]
    lines: list[Line]

    @property
    def worst(self) -> str:
        statuses = {line.status for line in self.lines}
        return next((s.value for s in STATUS_ORDER if s.value in statuses), ControlStatus.NOT_ASSESSED)

    @property
    def worst_label(self) -> str:
        return STATUS_LABELS[self.worst]


def _num(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def period_bounds(report: Report, now: datetime) -> tuple[datetime | None, datetime]:
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(report.period_start, time.min), tz) if report.period_start else None
    end = now
    if report.period_end:
        end = min(now, timezone.make_aware(datetime.combine(report.period_end, time.max), tz))
    return start, end


def report_data(report: Report, *, now: datetime | None = None) -> dict:
    """Everything a report states, computed once and shared by the three renderings."""
    from riskapp.assessments.models import AssessmentRun, CheckResult
    from riskapp.assets.models import ModelAsset

    now = now or timezone.now()
    organization = report.organization
    framework = report.framework
    start, end = period_bounds(report, now)
    assets = [report.asset] if report.asset_id else list(ModelAsset.objects.filter(organization=organization)
                                                        .order_by("name"))
    asset_ids = [a.pk for a in assets]
    controls = list(Control.objects.filter(framework=framework, assessable=True, retired_at__isnull=True)
                    .select_related("parent"))
    rules_by_control: dict[int, list[MappingRule]] = defaultdict(list)
    for rule in (MappingRule.objects.filter(retired_at__isnull=True, controls__framework=framework)
                 .prefetch_related("controls").distinct().order_by("order")):
        for control in rule.controls.all():
            rules_by_control[control.pk].append(rule)

    records = (EvidenceRecord.objects.filter(organization=organization, asset_id__in=asset_ids,
                                             control__framework=framework, measured_at__lte=end)
               .select_related("run").order_by("-measured_at", "-seq"))
    if start is not None:
        records = records.filter(measured_at__gte=start)
    newest: dict[tuple[int, int], EvidenceRecord] = {}
    history: dict[tuple[int, int], int] = Counter()
    for record in records:
        newest.setdefault((record.asset_id, record.control_id), record)
        history[(record.asset_id, record.control_id)] += 1
    manual: dict[tuple[int, int], list[ManualEvidence]] = defaultdict(list)
    for item in (ManualEvidence.objects.filter(organization=organization, asset_id__in=asset_ids,
                                               control__framework=framework, created_at__lte=end)
                 .select_related("owner").order_by("-expires_on")):
        manual[(item.asset_id, item.control_id)].append(item)

    sections, counts = [], Counter()
    at_risk: dict[int, list[str]] = defaultdict(list)
    for control in controls:
        lines = []
        for asset in assets:
            record = newest.get((asset.pk, control.pk))
            manual_items = manual.get((asset.pk, control.pk), [])
            decided = derive_status(
                automated_evidence=control.automated_evidence,
                automated_possible=bool(rules_by_control.get(control.pk)),
                newest_verdict=record.verdict if record else None,
                newest_measured_at=record.measured_at if record else None,
                manual_expires_on=manual_items[0].expires_on if manual_items else None,
                now=end, freshness_days=organization.freshness_days)
            lines.append(Line(asset=asset, status=decided.status, reason=decided.reason, record=record,
                              body=json.loads(record.payload) if record else None, manual=manual_items))
            counts[decided.status] += 1
            if decided.status == ControlStatus.NON_COMPLIANT:
                at_risk[asset.pk].append(control.ref_id)
        sections.append(Section(control=control, rules=rules_by_control.get(control.pk, []), lines=lines))

    run_ids = sorted({record.run_id for record in newest.values()})
    runs = list(AssessmentRun.objects.filter(pk__in=run_ids).select_related("asset", "version", "profile",
                                                                             "evaluation_dataset")
                .prefetch_related("checks").order_by("finished_at", "pk"))

    alerts = _open_alerts(organization, assets)
    alert_counts = Counter(alert.asset_id for alert in alerts or [])
    chain = EvidenceChain.objects.filter(organization=organization).first()
    trend_checks = list(CheckResult.objects.filter(run__asset_id__in=asset_ids, run__status="succeeded",
                                                   kind="evasion.whitebox", run__finished_at__lte=end)
                        .select_related("run").order_by("run__finished_at"))
    if start is not None:
        trend_checks = [c for c in trend_checks if c.run.finished_at and c.run.finished_at >= start]
    return {
        "report": report,
        "organization": organization,
        "framework": framework,
        "assets": assets,
        "scope": report.scope_label,
        "period_start": start,
        "period_end": end,
        "generated_at": now,
        "sections": sections,
        "counts": counts,
        "ordered_counts": [(s.value, s.label, counts.get(s.value, 0)) for s in STATUS_ORDER],
        "assets_at_risk": [{"asset": a, "non_compliant": at_risk.get(a.pk, []), "alerts": alert_counts.get(a.pk, 0)}
                           for a in assets if a.pk in at_risk or alert_counts.get(a.pk)],
        "alerts": alerts,
        "alerts_available": alerts is not None,
        "runs": runs,
        "trend_checks": trend_checks,
        "chain_head": chain.head_sha256 if chain else "",
        "chain_length": chain.length if chain else 0,
        "history": history,
    }


def _open_alerts(organization, assets):
    """Open alerts of the scope, when the monitoring app provides them; None when it does not."""
    try:
        from riskapp.monitoring.selectors import alerts_for
    except ImportError:
        return None
    alerts = []
    for asset in assets:
        alerts.extend(alerts_for(organization=organization, status="active", asset=asset))
    return alerts


# --- PDF ----------------------------------------------------------------------------------------------


def _charts(data: dict) -> list[dict]:
    from riskapp.web import charts

    out = []
    by_asset = defaultdict(list)
    for check in data["trend_checks"]:
        by_asset[check.run.asset_id].append(check)
    for asset in data["assets"]:
        checks = by_asset.get(asset.pk, [])
        if not checks:
            continue
        latest = checks[-1]
        curves = (latest.metrics or {}).get("curves") or {}
        series = [{"label": name.replace("_", " "), "points": [tuple(p) for p in points],
                   "emphasis": name.startswith("worst_case")}
                  for name, points in sorted(curves.items()) if points]
        item = {"asset": asset, "run": latest.run}
        if series:
            item["curve_title"] = f"{asset.name}: accuracy under white-box attack (run #{latest.run_id})"
            item["curve"] = charts.robustness_curve_svg(series, title=item["curve_title"], width=620, height=280)
        points = [(c.run.finished_at, c.metrics.get("robust_accuracy")) for c in checks
                  if isinstance((c.metrics or {}).get("robust_accuracy"), (int, float))]
        threshold = ((latest.thresholds or {}).get("robust_accuracy") or {}).get("min")
        if len(points) >= 2:
            item["trend_title"] = f"{asset.name}: robust accuracy at the profile's ε across runs"
            # The dashed line is the profile's pass mark, not a baseline run: say so.
            item["trend"] = charts.trend_svg(points, baseline=threshold, baseline_label="threshold",
                                             title=item["trend_title"], width=620, height=220,
                                             y_label="robust accuracy", y_min=0.0, y_max=1.0)
        out.append(item)
    return out


def _key_parameters(parameters: dict) -> list[tuple[str, str]]:
    """Top-level parameters short enough to print; the full set is bound by the evidence hash."""
    rows = []
    for key in sorted(parameters or {}):
        value = parameters[key]
        if isinstance(value, dict):
            continue
        if isinstance(value, list) and (len(value) > 12 or any(isinstance(v, (dict, list)) for v in value)):
            continue
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
        if len(text) <= 120:
            rows.append((key, text))
    return rows


def render_pdf(data: dict) -> bytes:
    return pdf_document(data).write_pdf()


def pdf_document(data: dict):
    """The laid-out PDF (WeasyPrint's Document): pages and boxes, which the layout tests inspect."""
    from weasyprint import HTML

    methodology = []
    for run in data["runs"]:
        checks = [{"check": check, "threat_model": THREAT_MODELS.get(check.kind, ""),
                   "parameters": _key_parameters(check.parameters)} for check in run.checks.all()]
        methodology.append({"run": run, "checks": checks})
    html = render_to_string("reports/evidence_report.html", {
        **data, "charts": _charts(data), "methodology": methodology,
    })
    return HTML(string=html).render()


# --- OSCAL --------------------------------------------------------------------------------------------


def oscal_control_id(ref_id: str) -> str:
    """An OSCAL token (letters, digits, '.', '-', '_', starting with a letter) for a framework's own id."""
    token, dash = [], False
    for char in ref_id.lower():
        if char.isalnum() or char in "._":
            token.append(char)
            dash = False
        elif not dash:
            token.append("-")
            dash = True
    text = "".join(token).strip("-")
    return text if text[:1].isalpha() or text[:1] == "_" else f"c-{text}"


def _uuid(*parts) -> str:
    return str(uuid.uuid5(_UUID_NS, "/".join(str(p) for p in parts)))


def _ts(value: datetime) -> str:
    return value.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")


def _prop(name: str, value) -> dict:
    return {"name": name, "ns": OSCAL_NS, "value": str(value)}


def render_oscal(data: dict) -> dict:
    report = data["report"]
    framework = data["framework"]
    organization = data["organization"]
    party = _uuid("party", organization.pk)
    components = [{"uuid": _uuid("asset", asset.pk), "type": "software", "title": asset.name,
                   "description": asset.description or f"Machine-learning model registered in riskapp as "
                                                       f"asset #{asset.pk}.",
                   "props": [_prop("risk-tier", asset.risk_tier)],
                   "status": {"state": "operational"}} for asset in data["assets"]]
    observations, findings = [], []
    for section in data["sections"]:
        control_id = oscal_control_id(section.control.ref_id)
        for line in section.lines:
            related = []
            if line.record is not None:
                record = line.record
                observation_uuid = _uuid("observation", record.pk)
                related.append({"observation-uuid": observation_uuid})
                props = [_prop("evidence-seq", record.seq), _prop("evidence-sha256", record.payload_sha256),
                         _prop("run-id", record.run_id), _prop("verdict", record.verdict)]
                props += [_prop(f"{rule['check']}.{rule['metric']}".replace(".", "-"), _num(rule["value"]))
                          for rule in line.rules if rule.get("metric") and rule.get("value") is not None]
                observations.append({
                    "uuid": observation_uuid,
                    "title": f"{section.control.ref_id}: evidence #{record.seq} from run #{record.run_id}",
                    "description": " ".join(rule["reason"] for rule in line.rules) or "Assessment evidence.",
                    "props": props,
                    "methods": ["TEST"],
                    "types": ["control-objective"],
                    "subjects": [{"subject-uuid": _uuid("asset", line.asset.pk), "type": "component",
                                  "title": line.asset.name}],
                    "collected": _ts(record.measured_at),
                    "relevant-evidence": [{"description": f"riskapp evidence record #{record.seq}, SHA-256 "
                                                          f"{record.payload_sha256}"}],
                })
            for item in line.manual:
                observation_uuid = _uuid("manual", item.pk)
                related.append({"observation-uuid": observation_uuid})
                evidence = {"description": item.title}
                if item.link:
                    evidence["href"] = item.link
                observations.append({
                    "uuid": observation_uuid, "title": f"{section.control.ref_id}: manual evidence “{item.title}”",
                    "description": f"Attached by a person; valid until {item.expires_on:%Y-%m-%d}.",
                    "methods": ["EXAMINE"],
                    "subjects": [{"subject-uuid": _uuid("asset", line.asset.pk), "type": "component"}],
                    "collected": _ts(item.created_at), "relevant-evidence": [evidence],
                })
            if line.status == ControlStatus.NOT_ASSESSED and not related:
                continue
            finding = {
                "uuid": _uuid("finding", report.uid, section.control.pk, line.asset.pk),
                "title": f"{section.control.ref_id} for {line.asset.name}: {line.status_label}",
                "description": line.reason,
                "props": [_prop("ref-id", section.control.ref_id), _prop("status", line.status)],
                "target": {"type": "objective-id", "target-id": control_id,
                           "status": {"state": "satisfied" if line.status == ControlStatus.COMPLIANT
                                      else "not-satisfied",
                                      "reason": line.status.replace("_", "-")}},
            }
            if related:
                finding["related-observations"] = related
            findings.append(finding)
    result = {
        "uuid": _uuid("result", report.uid),
        "title": f"{framework.name} {framework.version}: {data['scope']}",
        "description": f"Control status of {data['scope']} in {organization.name} derived by riskapp from "
                       f"hash-chained assessment evidence. Evidence-chain head {data['chain_head'] or '(empty)'}.",
        "start": _ts(data["period_start"] or min([r.finished_at for r in data["runs"] if r.finished_at],
                                                   default=data["period_end"])),
        "end": _ts(data["period_end"]),
        "props": [_prop("evidence-chain-head", data["chain_head"] or "empty"),
                  _prop("evidence-chain-length", data["chain_length"])],
        "local-definitions": {"components": components} if components else {},
        "reviewed-controls": {"control-selections": [{"include-controls": [
            {"control-id": oscal_control_id(section.control.ref_id)} for section in data["sections"]]}]},
    }
    if not components:
        del result["local-definitions"]
    if observations:
        result["observations"] = observations
    if findings:
        result["findings"] = findings
    plan_resource = _uuid("plan", report.uid)
    return {"assessment-results": {
        "uuid": str(report.uid),
        "metadata": {
            "title": f"riskapp evidence report {report.uid}: {framework.name} {framework.version}",
            "last-modified": _ts(data["generated_at"]),
            "version": str(report.uid),
            "oscal-version": OSCAL_VERSION,
            "props": [_prop("framework", framework.slug), _prop("framework-version", framework.version)],
            "parties": [{"uuid": party, "type": "organization", "name": organization.name}],
        },
        "import-ap": {"href": f"#{plan_resource}"},
        "results": [result],
        "back-matter": {"resources": [{
            "uuid": plan_resource,
            "title": "Assessment plan: riskapp assessment profiles",
            "description": "The checks, parameters and thresholds of each run are recorded in its evidence records; "
                           "this export has no separate OSCAL assessment plan.",
        }]},
    }}


# --- CSV ----------------------------------------------------------------------------------------------


def render_csv(data: dict) -> str:
    """One row per control and asset, in the columns CISO Assistant's posture import reads first."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for section in data["sections"]:
        for line in section.lines:
            record = line.record
            writer.writerow({
                "ref_id": section.control.ref_id,
                "result": CISO_RESULTS[ControlStatus(line.status)],
                "actual": line.actual(),
                "expected": line.expected(),
                "message": line.reason,
                "framework": data["framework"].slug,
                "asset": line.asset.name,
                "status": line.status,
                "measured_at": _ts(record.measured_at) if record else "",
                "run_id": record.run_id if record else "",
                "evidence_seq": record.seq if record else "",
                "evidence_sha256": record.payload_sha256 if record else "",
            })
    return out.getvalue()


def render(report: Report, *, now: datetime | None = None) -> tuple[bytes, str]:
    """The report file's bytes and the evidence-chain head it states."""
    data = report_data(report, now=now)
    if report.format == "pdf":
        content = render_pdf(data)
    elif report.format == "oscal":
        content = json.dumps(render_oscal(data), indent=2, ensure_ascii=False).encode("utf-8")
    else:
        content = render_csv(data).encode("utf-8")
    return content, data["chain_head"]

