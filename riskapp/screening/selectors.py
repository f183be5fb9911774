"""Reads for screening: the detector in force for an asset, its tokens, events, and flag rate over time."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from riskapp.assessments.models import AssessmentRun, RunStatus
from riskapp.screening.models import ScreeningDetector, ScreeningEvent, ScreeningPolicy, ScreeningRequest, ScreeningToken


def detectors_for(*, asset) -> QuerySet[ScreeningDetector]:
    """Detectors of this asset whose training run succeeded, newest first."""
    return (ScreeningDetector.objects.filter(asset=asset, run__status=RunStatus.SUCCEEDED)
            .select_related("version", "run", "run__profile"))


def detector_current(*, asset) -> ScreeningDetector | None:
    """The newest detector trained for the asset's current version (screening applies to what is live)."""
    if asset.current_version_id is None:
        return None
    # Read on every screened request: only the version is joined (the run's profile is loaded when an alert needs it).
    return (ScreeningDetector.objects.filter(asset=asset, version_id=asset.current_version_id,
                                             run__status=RunStatus.SUCCEEDED)
            .select_related("version").order_by("-created_at", "-id").first())


def policy_for(*, asset) -> ScreeningPolicy:
    """The asset's screening policy, or the defaults (unsaved) when nobody has set one."""
    policy = ScreeningPolicy.objects.filter(asset=asset).first()
    return policy or ScreeningPolicy(organization_id=asset.organization_id, asset=asset)


def tokens_for(*, asset) -> QuerySet[ScreeningToken]:
    return ScreeningToken.objects.filter(asset=asset)


def events_for(*, asset, limit: int | None = 50) -> QuerySet[ScreeningEvent]:
    events = ScreeningEvent.objects.filter(asset=asset).select_related("screening_token")
    return events[:limit] if limit else events


def flag_rate_by_hour(*, asset, hours: int = 48, now=None) -> list[tuple]:
    """[(hour, flagged share, inputs)] for hours with traffic in the last `hours` hours."""
    now = now or timezone.now()
    rows = (ScreeningRequest.objects.filter(asset=asset, created_at__gte=now - timedelta(hours=hours))
            .annotate(hour=TruncHour("created_at")).values("hour")
            .annotate(inputs=Sum("input_count"), flagged=Sum("flagged_count")).order_by("hour"))
    return [(row["hour"], row["flagged"] / row["inputs"], row["inputs"]) for row in rows if row["inputs"]]


def traffic_totals(*, asset, since) -> dict:
    totals = ScreeningRequest.objects.filter(asset=asset, created_at__gte=since).aggregate(
        inputs=Sum("input_count"), flagged=Sum("flagged_count"), adversarial=Sum("adversarial_count"),
        anomalous=Sum("anomalous_count"))
    return {key: value or 0 for key, value in totals.items()}


def recent_inputs(*, asset, last_n: int) -> tuple[int, int]:
    """(inputs, flagged) over the most recent requests covering at least `last_n` inputs (all if fewer)."""
    inputs = flagged = 0
    for count, flags in (ScreeningRequest.objects.filter(asset=asset).order_by("-created_at", "-id")
                         .values_list("input_count", "flagged_count").iterator(chunk_size=200)):
        inputs += count
        flagged += flags
        if inputs >= last_n:
            break
    return inputs, flagged


def caller_window(*, asset, caller: str, since) -> dict:
    """Volume and diversity of one caller's screened queries since `since` (query-pattern watch)."""
    totals = ScreeningRequest.objects.filter(asset=asset, caller=caller, created_at__gte=since).aggregate(
        inputs=Sum("input_count"), anomalous=Sum("anomalous_count"), entropy=Sum("entropy_sum"),
        flagged=Sum("flagged_count"))
    inputs = totals["inputs"] or 0
    return {
        "inputs": inputs,
        "anomalous_share": (totals["anomalous"] or 0) / inputs if inputs else 0.0,
        "flagged_share": (totals["flagged"] or 0) / inputs if inputs else 0.0,
        "mean_entropy": (totals["entropy"] or 0.0) / inputs if inputs else 0.0,
    }


def training_run_pending(*, asset) -> AssessmentRun | None:
    """The newest queued or running run of the asset whose suite trains screening detectors."""
    for run in AssessmentRun.objects.filter(asset=asset, status__in=[RunStatus.QUEUED, RunStatus.RUNNING])[:20]:
        if any(check.get("kind") == "detection.train" for check in (run.profile_snapshot or {}).get("checks", [])):
            return run
    return None
