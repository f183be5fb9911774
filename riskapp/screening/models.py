"""Runtime screening: detectors trained per model version, per-asset tokens and rules, screened requests and flagged inputs."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def _detector_path(instance: "ScreeningDetector", filename: str) -> str:
    return f"detectors/org-{instance.organization_id}/run-{instance.run_id}/{filename}"


class ScreeningDetector(models.Model):
    """The detectors one assessment run fitted for one model version (engine check detection.train).

    The artifacts (safetensors weights, an .npz of Mahalanobis statistics, a JSON manifest with the
    thresholds) live in storage under `storage_prefix`; `files` records each one's SHA-256, checked again
    when the detector is loaded. The calibration figures are the check's own measurements.
    """

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    asset = models.ForeignKey("assets.ModelAsset", on_delete=models.CASCADE, related_name="screening_detectors")
    version = models.ForeignKey("assets.ModelVersion", on_delete=models.CASCADE, related_name="screening_detectors")
    run = models.OneToOneField("assessments.AssessmentRun", on_delete=models.CASCADE, related_name="screening_detector")
    storage_prefix = models.CharField(max_length=300)
    files = models.JSONField(default=dict)  # {file name: sha256}
    manifest_sha256 = models.CharField(max_length=64, db_index=True)
    target_fpr = models.FloatField()
    false_positive_rate = models.FloatField()  # adversarial detector on the clean test half
    anomaly_false_positive_rate = models.FloatField()
    either_false_positive_rate = models.FloatField()  # an input is flagged when either detector fires
    detection_rate = models.FloatField()  # the weakest attack's detection rate
    adaptive_detection_rate = models.FloatField(null=True, blank=True)
    # The detection.train metrics as measured: per attack, adaptive, thresholds, sample counts.
    calibration = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Detector of {self.version} (run #{self.run_id})"

    @property
    def expected_false_alarms_per_1000(self) -> float:
        return 1000.0 * self.either_false_positive_rate


class ScreeningPolicy(models.Model):
    """Per-asset screening switch and alert rules: when a burst of flags, or a query pattern, opens an alert."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    asset = models.OneToOneField("assets.ModelAsset", on_delete=models.CASCADE, related_name="screening_policy")
    enabled = models.BooleanField(default=True)
    # Burst: ≥ burst_rate of the last burst_last_n screened inputs flagged, or ≥ burst_count flags in burst_minutes.
    burst_rate = models.FloatField(default=0.2, validators=[MinValueValidator(0.0001), MaxValueValidator(1.0)])
    burst_last_n = models.PositiveIntegerField(default=100, validators=[MinValueValidator(10)])
    burst_count = models.PositiveIntegerField(default=50, validators=[MinValueValidator(1)])
    burst_minutes = models.PositiveIntegerField(default=10, validators=[MinValueValidator(1)])
    # Extraction watch, per caller: ≥ extraction_min_queries inputs in extraction_minutes, of which at least
    # extraction_anomalous_share look unlike the evaluation data, with mean input entropy ≥ extraction_min_entropy.
    extraction_minutes = models.PositiveIntegerField(default=60, validators=[MinValueValidator(1)])
    extraction_min_queries = models.PositiveIntegerField(default=500, validators=[MinValueValidator(1)])
    extraction_anomalous_share = models.FloatField(default=0.5, validators=[MinValueValidator(0.0),
                                                                           MaxValueValidator(1.0)])
    extraction_min_entropy = models.FloatField(default=0.6, validators=[MinValueValidator(0.0),
                                                                       MaxValueValidator(1.0)])
    max_batch = models.PositiveIntegerField(default=1024, validators=[MinValueValidator(1), MaxValueValidator(65536)])
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Screening policy of {self.asset}"


class ScreeningToken(models.Model):
    """A bearer token a production service uses to screen inputs for one asset; only its SHA-256 is stored."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    asset = models.ForeignKey("assets.ModelAsset", on_delete=models.CASCADE, related_name="screening_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ScreeningRequest(models.Model):
    """One screening call: who sent how many inputs and how many were flagged (flag rate and query-pattern watch)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    asset = models.ForeignKey("assets.ModelAsset", on_delete=models.CASCADE, related_name="screening_requests")
    detector = models.ForeignKey(ScreeningDetector, on_delete=models.CASCADE, related_name="requests")
    # The caller: "screening-token:<id>", "api-token:<id>" or "user:<id>" (a browser session).
    caller = models.CharField(max_length=40, db_index=True)
    screening_token = models.ForeignKey(ScreeningToken, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="requests")
    api_token = models.ForeignKey("accounts.ApiToken", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    input_count = models.PositiveIntegerField()
    flagged_count = models.PositiveIntegerField()
    adversarial_count = models.PositiveIntegerField()
    anomalous_count = models.PositiveIntegerField()
    entropy_sum = models.FloatField()  # Σ normalised input entropy; mean = entropy_sum / input_count
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["asset", "-created_at"]), models.Index(fields=["asset", "caller", "created_at"])]

    def __str__(self) -> str:
        return f"{self.input_count} inputs for {self.asset} by {self.caller}"


class ScreeningEvent(models.Model):
    """One flagged input: its hash and scores; the input itself only when the organization allows storing it."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    asset = models.ForeignKey("assets.ModelAsset", on_delete=models.CASCADE, related_name="screening_events")
    request = models.ForeignKey(ScreeningRequest, on_delete=models.CASCADE, related_name="events")
    detector = models.ForeignKey(ScreeningDetector, on_delete=models.CASCADE, related_name="events")
    screening_token = models.ForeignKey(ScreeningToken, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="events")
    caller = models.CharField(max_length=40)
    input_sha256 = models.CharField(max_length=64, db_index=True)
    predicted_label = models.PositiveIntegerField()
    adversarial_score = models.FloatField()
    anomaly_score = models.FloatField()
    flags = models.JSONField(default=list)  # ["adversarial", "anomalous"]
    input = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["asset", "-created_at"])]

    def __str__(self) -> str:
        return f"{', '.join(self.flags)} input {self.input_sha256[:12]}… for {self.asset}"
