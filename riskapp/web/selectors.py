"""Reads that compose the dashboard from the other apps' data."""

from __future__ import annotations

from riskapp.assessments.models import AssessmentRun, RunStatus
from riskapp.assets.models import ModelAsset
from riskapp.ops.selectors import workers_online


def dashboard_summary(*, organization) -> dict:
    runs = AssessmentRun.objects.filter(organization=organization)
    return {
        "asset_count": ModelAsset.objects.filter(organization=organization).count(),
        "active_runs": list(
            runs.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).select_related("asset", "profile")[:10]
        ),
        "recent_runs": list(
            runs.exclude(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).select_related("asset", "profile")[:8]
        ),
        "workers": list(workers_online()),
    }
