"""Assessment profiles, runs (status rows claimed atomically by workers) and per-check results."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Profile(models.Model):
    """A suite of checks with parameters and thresholds. Built-ins have no organization."""

    organization = models.ForeignKey("accounts.Organization", null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="profiles")
    slug = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    spec = models.JSONField()  # workers.engine SuiteSpec.to_dict(): checks, params, thresholds
    # Regression tolerances used by monitoring, overriding its defaults: {metric: absolute or relative delta}.
    tolerances = models.JSONField(default=dict, blank=True)
    is_builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["is_builtin", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="unique_profile_slug_per_org"),
            # NULL organizations never collide in a plain unique constraint; built-in slugs need their own.
            models.UniqueConstraint(fields=["slug"], condition=models.Q(organization__isnull=True),
                                    name="unique_builtin_profile_slug"),
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "Started by a person"
    API = "api", "API"
    SCHEDULE = "schedule", "Schedule"
    NEW_VERSION = "new_version", "New model version"
    RERUN = "rerun", "Re-run"


class AssessmentRun(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="runs")
    asset = models.ForeignKey("assets.ModelAsset", on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey("assets.ModelVersion", on_delete=models.PROTECT, related_name="runs")
    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="runs")
    profile_snapshot = models.JSONField(default=dict)  # the exact suite the run used, frozen at creation
    evaluation_dataset = models.ForeignKey("assets.Dataset", on_delete=models.PROTECT, related_name="+")
    training_dataset = models.ForeignKey("assets.Dataset", null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="+")
    holdout_dataset = models.ForeignKey("assets.Dataset", null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    seed = models.IntegerField(default=0)
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)  # 0–100
    current_step = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    enqueue_attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker_host = models.CharField(max_length=200, blank=True)
    device = models.CharField(max_length=60, blank=True)
    error = models.TextField(blank=True)
    # Person-readable notes on what happened around the run (broker unreachable at submission, evidence or
    # regression follow-ups that failed): [{"at": iso time, "text": ...}].
    notes = models.JSONField(default=list, blank=True)

    # Outcome, filled when the run succeeds.
    passed = models.BooleanField(null=True, blank=True)
    unreliable = models.BooleanField(default=False)
    unreliable_reasons = models.JSONField(default=list, blank=True)
    versions = models.JSONField(default=dict, blank=True)  # library versions the engine ran with
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    data_hashes = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True)  # headline metrics for lists and dashboards

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["asset", "profile", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"Run #{self.pk} of {self.asset} ({self.profile})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class CheckStatus(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    ERROR = "error", "Error"
    SKIPPED = "skipped", "Skipped"


class CheckResult(models.Model):
    run = models.ForeignKey(AssessmentRun, on_delete=models.CASCADE, related_name="checks")
    order = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=64)  # the engine's stable kind, e.g. "evasion.whitebox"
    status = models.CharField(max_length=16, choices=CheckStatus.choices)
    metrics = models.JSONField(default=dict, blank=True)
    thresholds = models.JSONField(default=dict, blank=True)
    verdict = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    seed = models.IntegerField(default=0)
    duration_s = models.FloatField(default=0.0)
    queries = models.BigIntegerField(default=0)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "order"]
        constraints = [models.UniqueConstraint(fields=["run", "kind"], name="unique_check_kind_per_run")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.status}"
