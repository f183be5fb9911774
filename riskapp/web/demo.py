"""Demo seed steps that make the first look at `make run` explain the product: an assessed model, an alert, a report.

Appended to seed_demo's SEED_STEPS by WebConfig.ready(). Everything is real and measured, run in this process
(no worker needed), and idempotent: a step that finds its result already there does nothing.

1. seed_assessed_model: the `quick` profile on the Digits CNN v1 (≤ 200 samples), via run_create + run_execute.
2. seed_regression_alert: a weekly re-assessment schedule, then the weaker CNN (v2-weaker) swapped in and assessed
   again, so monitoring compares it with v1's run and opens a real regression alert.
3. seed_evidence_report: an ISO/IEC 42001 PDF report rendered from the evidence the two runs recorded.
"""

from __future__ import annotations

import time

DEMO_ASSET = "Digits CNN"
DEMO_PROFILE = "quick"
DEMO_FRAMEWORK = "iso-42001"
DEMO_SCHEDULE_CRON = "0 6 * * 1"  # Mondays 06:00: a visible "next re-assessment" on the dashboard


def _quick_profile():
    from riskapp.assessments.models import Profile

    return Profile.objects.get(slug=DEMO_PROFILE, organization__isnull=True)


def _assess(seed, *, asset, version, profile, trigger):
    """Create the run and execute it here, synchronously; returns the finished run."""
    from riskapp.assessments.services import run_create, run_execute

    started = time.monotonic()
    # Executed right here, so nothing is enqueued: a worker would only find the run finished at its next start.
    run = run_create(asset=asset, profile=profile, user=seed.user, version=version, trigger=trigger, enqueue=False)
    finished = run_execute(run_id=run.pk)
    seed.say(f"  assessed {asset.name} {version.label} with {profile.name}: {finished.get_status_display()} "
             f"in {time.monotonic() - started:.1f} s (run #{finished.pk})")
    return finished


def seed_assessed_model(seed) -> None:
    from riskapp.assessments.models import AssessmentRun, RunStatus, RunTrigger
    from riskapp.assets.services import model_version_make_current

    asset = seed.assets.get(DEMO_ASSET)
    v1 = seed.versions.get((DEMO_ASSET, "v1"))
    if asset is None or v1 is None:
        return
    profile = _quick_profile()
    if AssessmentRun.objects.filter(asset=asset, version=v1, profile=profile, status=RunStatus.SUCCEEDED).exists():
        return
    asset.refresh_from_db()
    if asset.current_version_id != v1.pk:
        model_version_make_current(version=v1, user=seed.user)
        asset.refresh_from_db()
    _assess(seed, asset=asset, version=v1, profile=profile, trigger=RunTrigger.MANUAL)


def seed_regression_alert(seed) -> None:
    from riskapp.assessments.models import AssessmentRun, RunStatus, RunTrigger
    from riskapp.assets.services import model_version_make_current
    from riskapp.monitoring.models import Alert, Schedule
    from riskapp.monitoring.services import schedule_create

    asset = seed.assets.get(DEMO_ASSET)
    weaker = seed.versions.get((DEMO_ASSET, "v2-weaker"))
    if asset is None or weaker is None:
        return
    profile = _quick_profile()
    if not Schedule.objects.filter(asset=asset, profile=profile).exists():
        schedule_create(organization=seed.organization, asset=asset, profile=profile, user=seed.user,
                        cron=DEMO_SCHEDULE_CRON, run_on_new_version=True)
        seed.say(f"  scheduled a weekly {profile.name} re-assessment of {asset.name}")
    if Alert.objects.filter(asset=asset).exists() or AssessmentRun.objects.filter(
            asset=asset, version=weaker, profile=profile, status=RunStatus.SUCCEEDED).exists():
        return
    asset.refresh_from_db()
    if asset.current_version_id != weaker.pk:
        model_version_make_current(version=weaker, user=seed.user)
        asset.refresh_from_db()
    run = _assess(seed, asset=asset, version=weaker, profile=profile, trigger=RunTrigger.NEW_VERSION)
    alerts = Alert.objects.filter(asset=asset, current_run=run).count()
    seed.say(f"  monitoring compared it with v1's run: {alerts} alert(s) opened")


def seed_evidence_report(seed) -> None:
    from riskapp.compliance.models import Report, ReportStatus
    from riskapp.compliance.selectors import framework_by_slug
    from riskapp.compliance.services import report_generate, report_request

    framework = framework_by_slug(DEMO_FRAMEWORK)
    if framework is None or seed.organization is None:
        return
    existing = Report.objects.filter(organization=seed.organization, framework=framework, format="pdf")
    if existing.filter(status=ReportStatus.SUCCEEDED).exists():
        return
    started = time.monotonic()
    report = existing.filter(status=ReportStatus.QUEUED).first() or report_request(
        organization=seed.organization, framework=framework, fmt="pdf", user=seed.user, enqueue=False)
    report = report_generate(report_id=report.pk)
    seed.say(f"  generated the {framework.name} PDF report: {report.get_status_display()} "
             f"in {time.monotonic() - started:.1f} s (SHA-256 {report.sha256[:12]}…)")


DEMO_STEPS = [seed_assessed_model, seed_regression_alert, seed_evidence_report]


def register_seed_steps() -> None:
    from riskapp.assets.management.commands.seed_demo import SEED_STEPS

    for step in DEMO_STEPS:
        if step not in SEED_STEPS:
            SEED_STEPS.append(step)
