"""Schedules, baseline pins, run comparisons, alerts, notification channels and their delivery attempts."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ScheduleKind(models.TextChoices):
    CRON = "cron", "Cron expression"
    INTERVAL = "interval", "Fixed interval"


class IntervalUnit(models.TextChoices):
    # Values are django-celery-beat IntervalSchedule periods.
    MINUTES = "minutes", "Minutes"
    HOURS = "hours", "Hours"
    DAYS = "days", "Days"


class Schedule(models.Model):
    """A recurring re-assessment of one asset with one profile; owns a django-celery-beat PeriodicTask."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="schedules")
    asset = models.ForeignKey("assets.ModelAsset", on_delete=models.CASCADE, related_name="schedules")
    profile = models.ForeignKey("assessments.Profile", on_delete=models.PROTECT, related_name="schedules")
    kind = models.CharField(max_length=16, choices=ScheduleKind.choices, default=ScheduleKind.CRON)
    # Five fields: minute hour day-of-month month day-of-week, e.g. "0 3 * * *" (daily at 03:00 UTC).
    cron = models.CharField(max_length=120, blank=True)
    interval_every = models.PositiveIntegerField(null=True, blank=True)
    interval_unit = models.CharField(max_length=16, choices=IntervalUnit.choices, blank=True)
    enabled = models.BooleanField(default=True)
    # A newly validated model version of the asset is assessed with this schedule's profile at once.
    run_on_new_version = models.BooleanField(default=True)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+")
    last_run = models.ForeignKey("assessments.AssessmentRun", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    last_fired_at = models.DateTimeField(null=True, blank=True)
    # Why the last firing did not start a run (no validated version, no dataset); empty when it did.
    last_error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset__name", "id"]

    def __str__(self) -> str:
        return f"{self.asset} · {self.profile} · {self.describe()}"

    def describe(self) -> str:
        if self.kind == ScheduleKind.CRON:
            return f"cron {self.cron}"
        unit = self.interval_unit if self.interval_every != 1 else self.interval_unit.rstrip("s")
        return f"every {self.interval_every} {unit}"


class BaselinePin(models.Model):
    """A run a person chose as the baseline for one asset and profile (instead of the last good run)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    asset = models.ForeignKey("assets.ModelAsset", on_delete=models.CASCADE, related_name="baseline_pins")
    profile = models.ForeignKey("assessments.Profile", on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey("assessments.AssessmentRun", on_delete=models.CASCADE, related_name="+")
    pinned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    pinned_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["asset", "profile"], name="unique_baseline_pin")]

    def __str__(self) -> str:
        return f"Baseline of {self.asset} ({self.profile}): run #{self.run_id}"


class RunComparison(models.Model):
    """The outcome of comparing one finished run with its baseline; regressed runs are never baselines."""

    run = models.OneToOneField("assessments.AssessmentRun", on_delete=models.CASCADE, related_name="comparison")
    baseline_run = models.ForeignKey("assessments.AssessmentRun", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    baseline_pinned = models.BooleanField(default=False)
    regressed = models.BooleanField(default=False)
    rows = models.JSONField(default=list, blank=True)  # every compared metric, regressed or not
    control_flips = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Run #{self.run_id} vs #{self.baseline_run_id}: {'regressed' if self.regressed else 'ok'}"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlertKind(models.TextChoices):
    REGRESSION = "regression", "Metric regression"
    CONTROL = "control", "Control became non-compliant"
    UNRELIABLE = "unreliable", "Evaluation unreliable"
    # Raised by runtime screening (riskapp.screening), not by a run.
    SCREENING_BURST = "screening_burst", "Burst of flagged inputs in production"
    EXTRACTION = "extraction", "Query pattern typical of model extraction"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


ACTIVE_ALERT_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class Alert(models.Model):
    """One problem of one asset and profile. A still-active alert with the same dedupe key is updated, not duplicated."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="alerts")
    asset = models.ForeignKey("assets.ModelAsset", on_delete=models.CASCADE, related_name="alerts")
    profile = models.ForeignKey("assessments.Profile", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    dedupe_key = models.CharField(max_length=120, db_index=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN, db_index=True)
    title = models.CharField(max_length=300)
    # [{check, metric, key, baseline, current, delta, tolerance, tolerance_kind}] of what regressed.
    diff = models.JSONField(default=list, blank=True)
    # [{framework, control_id, title, before, after}] of controls that flipped or that the regressed checks evidence.
    controls = models.JSONField(default=list, blank=True)
    reasons = models.JSONField(default=list, blank=True)  # why an evaluation was flagged unreliable
    baseline_run = models.ForeignKey("assessments.AssessmentRun", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    current_run = models.ForeignKey("assessments.AssessmentRun", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    first_run = models.ForeignKey("assessments.AssessmentRun", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    resolved_by_run = models.ForeignKey("assessments.AssessmentRun", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    occurrences = models.PositiveIntegerField(default=1)
    opened_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    acknowledge_comment = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolve_comment = models.TextField(blank=True)
    auto_resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["organization", "status"])]
        constraints = [
            # The dedupe rule in the database: at most one active alert per key.
            models.UniqueConstraint(fields=["dedupe_key"], condition=models.Q(status__in=["open", "acknowledged"]),
                                    name="one_active_alert_per_dedupe_key"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_ALERT_STATUSES


class ChannelKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Signed webhook (Standard Webhooks)"
    SLACK = "slack", "Slack-compatible incoming webhook"


class Channel(models.Model):
    """Where an organization's alerts are sent, and which of them (minimum severity, assets)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="alert_channels")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    email_recipients = models.JSONField(default=list, blank=True)  # e-mail channels
    url = models.URLField(max_length=500, blank=True)  # webhook and Slack channels
    # "whsec_" + base64 of the signing key. Shown once at creation, stored to sign, never shown or logged again.
    secret = models.CharField(max_length=120, blank=True)
    min_severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    all_assets = models.BooleanField(default=True)
    assets = models.ManyToManyField("assets.ModelAsset", blank=True, related_name="+")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)  # set when a permanent failure disabled the channel
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def url_display(self) -> str:
        """The receiver URL without what may be a credential: Slack puts its token in the path, others in the query."""
        from urllib.parse import urlsplit

        if not self.url:
            return ""
        parts = urlsplit(self.url)
        path = parts.path
        if self.kind == ChannelKind.SLACK:
            first = path.strip("/").split("/")[0] if path.strip("/") else ""
            path = f"/{first}/…" if first else "/…"
        query = "?…" if parts.query else ""
        return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{path}{query}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed"


class DeliveryEvent(models.TextChoices):
    OPENED = "opened", "Alert opened"
    ESCALATED = "escalated", "Alert escalated"
    RESOLVED = "resolved", "Alert resolved"
    TEST = "test", "Test message"


class Delivery(models.Model):
    """One attempt to send one alert event to one channel; a retry is a new row pointing at the one before."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=16, choices=DeliveryEvent.choices)
    # The same message id on every attempt: receivers deduplicate on webhook-id.
    message_id = models.CharField(max_length=64)
    attempt = models.PositiveSmallIntegerField(default=1)
    previous = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING,
                              db_index=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    attempted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_event_display()} → {self.channel} (attempt {self.attempt}): {self.status}"
