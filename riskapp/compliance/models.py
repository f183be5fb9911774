"""Frameworks and controls, the check-to-control mapping, the hash-chained evidence ledger, manual evidence,
reports and auditor share links."""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db import models


class EvidenceLevel(models.TextChoices):
    YES = "yes", "Automated evidence"
    PARTLY = "partly", "Partly automated"
    NO = "no", "Manual evidence only"


class Framework(models.Model):
    """A control catalog loaded from riskapp/compliance/catalog/<file>.yaml; shared by every organization."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=100)
    publisher = models.CharField(max_length=200)
    url = models.URLField(max_length=300)
    source_notes = models.TextField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # SHA-256 of the YAML file last loaded: an unchanged file is not read into the database again.
    catalog_sha256 = models.CharField(max_length=64, blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    loaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class Control(models.Model):
    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="controls")
    ref_id = models.CharField(max_length=60)  # the framework's own id, exact: "MEASURE 2.7", "A.6.2.4"
    title = models.CharField(max_length=300)
    description = models.TextField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    automated_evidence = models.CharField(max_length=8, choices=EvidenceLevel.choices)
    kinds = models.JSONField(default=list, blank=True)  # assessment-kind codes: EVA, POI, EXT, INF, DEF, MON
    assessable = models.BooleanField(default=True)  # false for groupings (functions, articles, ISO groups)
    aliases = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    catalog_version = models.CharField(max_length=100)  # the framework version this row was last loaded from
    order = models.PositiveIntegerField(default=0)  # position in the catalog file
    # A control that left the catalog file is kept (its evidence must stay readable) and marked retired.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["framework__order", "order"]
        constraints = [models.UniqueConstraint(fields=["framework", "ref_id"], name="unique_control_ref_per_framework")]

    def __str__(self) -> str:
        return f"{self.ref_id} {self.title}"

    @property
    def needs_manual_evidence(self) -> bool:
        return self.automated_evidence != EvidenceLevel.YES


class RuleStyle(models.TextChoices):
    BOUNDS = "bounds", "Metric bound"
    STATUS_ONLY = "status_only", "Check verdict"
    PERFORMED = "performed", "Check performed"


class MappingRule(models.Model):
    """One rule of mapping.yaml: check kind(s) + how the result is judged → controls, with the rationale."""

    rule_id = models.SlugField(max_length=100, unique=True)
    kinds = models.JSONField(default=list)
    metric = models.CharField(max_length=100, blank=True)
    style = models.CharField(max_length=16, choices=RuleStyle.choices)
    minimum = models.JSONField(null=True, blank=True)  # a number, "threshold" or null
    maximum = models.JSONField(null=True, blank=True)
    rationale = models.TextField()
    controls = models.ManyToManyField(Control, related_name="mapping_rules", blank=True)
    order = models.PositiveIntegerField(default=0)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order"]

    def __str__(self) -> str:
        return self.rule_id

    @property
    def bound_text(self) -> str:
        parts = []
        if self.minimum is not None:
            parts.append(f"≥ {'profile threshold' if self.minimum == 'threshold' else self.minimum}")
        if self.maximum is not None:
            parts.append(f"≤ {'profile threshold' if self.maximum == 'threshold' else self.maximum}")
        if self.style == RuleStyle.STATUS_ONLY:
            return "check passed"
        if self.style == RuleStyle.PERFORMED:
            return "check completed"
        return f"{self.metric} {' and '.join(parts)}"


class ControlStatus(models.TextChoices):
    COMPLIANT = "compliant", "Compliant"
    NON_COMPLIANT = "non_compliant", "Non-compliant"
    PARTIAL = "partial", "Partial"
    NOT_ASSESSED = "not_assessed", "Not assessed"
    STALE = "stale", "Stale"
    NEEDS_MANUAL = "manual", "Needs manual evidence"


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an evidence record through the ORM."""


class EvidenceRecordQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Evidence records are immutable: they cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Evidence records are immutable: they cannot be deleted.")

    def _raw_delete(self, using):
        raise AppendOnlyError("Evidence records are immutable: they cannot be deleted.")


class EvidenceChain(models.Model):
    """The head of one organization's evidence chain: the row writers lock to append in order."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE,
                                        related_name="evidence_chain")
    length = models.PositiveBigIntegerField(default=0)
    head_sha256 = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.organization}: {self.length} records, head {self.head_sha256[:12]}"


class EvidenceRecord(models.Model):
    """What one run measured for one control, as canonical JSON, hash-chained per organization.

    payload is the exact canonical text that was hashed (a TextField, not JSON: a database that
    normalizes JSON would change the bytes). It includes prev_sha256, so each record commits to its
    predecessor; payload_sha256 = SHA-256(payload).
    """

    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="evidence")
    seq = models.PositiveBigIntegerField()  # 1, 2, 3 ... per organization
    run = models.ForeignKey("assessments.AssessmentRun", on_delete=models.PROTECT, related_name="evidence")
    asset = models.ForeignKey("assets.ModelAsset", on_delete=models.PROTECT, related_name="evidence")
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="evidence")
    verdict = models.CharField(max_length=16, choices=ControlStatus.choices)
    payload = models.TextField()
    payload_sha256 = models.CharField(max_length=64)
    prev_sha256 = models.CharField(max_length=64, blank=True)
    measured_at = models.DateTimeField(db_index=True)  # when the run finished: freshness counts from here
    created_at = models.DateTimeField()

    objects = EvidenceRecordQuerySet.as_manager()

    class Meta:
        ordering = ["organization", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "seq"], name="unique_evidence_seq_per_org"),
            models.UniqueConstraint(fields=["run", "control"], name="unique_evidence_per_run_control"),
        ]
        indexes = [models.Index(fields=["asset", "control", "-measured_at"])]

    def __str__(self) -> str:
        return f"evidence #{self.seq} ({self.control.ref_id}, run {self.run_id})"

    @property
    def data(self) -> dict:
        return json.loads(self.payload)

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("Evidence records are immutable: they cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Evidence records are immutable: they cannot be deleted.")


def _manual_evidence_path(instance: "ManualEvidence", filename: str) -> str:
    return f"manual-evidence/org-{instance.organization_id}/{uuid.uuid4().hex}"


class ManualEvidence(models.Model):
    """A document or link a person attached for a control no automated test can (fully) evidence."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="manual_evidence")
    asset = models.ForeignKey("assets.ModelAsset", on_delete=models.CASCADE, related_name="manual_evidence")
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="manual_evidence")
    title = models.CharField(max_length=200)
    file = models.FileField(upload_to=_manual_evidence_path, blank=True, max_length=300)
    original_filename = models.CharField(max_length=255, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    link = models.URLField(max_length=500, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    expires_on = models.DateField()
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["asset", "control", "-expires_on"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.control.ref_id})"


class ReportFormat(models.TextChoices):
    PDF = "pdf", "PDF for auditors"
    OSCAL = "oscal", "OSCAL assessment results (JSON)"
    CSV = "csv", "CSV (CISO Assistant posture import)"


REPORT_CONTENT_TYPES = {
    ReportFormat.PDF: "application/pdf",
    ReportFormat.OSCAL: "application/json",
    ReportFormat.CSV: "text/csv",
}
REPORT_EXTENSIONS = {ReportFormat.PDF: "pdf", ReportFormat.OSCAL: "json", ReportFormat.CSV: "csv"}


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Generating"
    SUCCEEDED = "succeeded", "Ready"
    FAILED = "failed", "Failed"


def _report_path(instance: "Report", filename: str) -> str:
    return f"reports/org-{instance.organization_id}/{uuid.uuid4().hex}"


class Report(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="reports")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # the id printed in the report
    asset = models.ForeignKey("assets.ModelAsset", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="reports")  # null: every asset of the organization
    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="reports")
    format = models.CharField(max_length=8, choices=ReportFormat.choices)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ReportStatus.choices, default=ReportStatus.QUEUED)
    file = models.FileField(upload_to=_report_path, blank=True, max_length=300)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    chain_head_sha256 = models.CharField(max_length=64, blank=True)  # the evidence-chain head printed inside
    generated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.framework.name} report {self.uid}"

    @property
    def scope_label(self) -> str:
        return self.asset.name if self.asset_id else "All assets"

    @property
    def filename(self) -> str:
        return f"riskapp-{self.framework.slug}-{str(self.uid)[:8]}.{REPORT_EXTENSIONS[ReportFormat(self.format)]}"


class ShareLink(models.Model):
    """An expiring, revocable read-only link for an external auditor. Only the token's hash is stored."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="share_links")
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links")
    asset = models.ForeignKey("assets.ModelAsset", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="share_links")
    label = models.CharField(max_length=200, blank=True)  # e.g. the auditor's name
    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_accessed_at = models.DateTimeField(null=True, blank=True)
    access_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(report__isnull=False, asset__isnull=True)
                           | models.Q(report__isnull=True, asset__isnull=False)),
                name="share_link_has_one_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"share link {self.prefix}…"
