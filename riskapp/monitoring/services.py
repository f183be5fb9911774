"""Writes for monitoring: regression checks after runs, alerts, schedules on celery beat, baselines and channels."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from riskapp.assessments.models import AssessmentRun, Profile, RunStatus
from riskapp.audit.services import audit_record
from riskapp.monitoring import selectors
from riskapp.monitoring.channels import ChannelError, channel_transport, new_webhook_secret
from riskapp.monitoring.models import (
    SEVERITY_RANK,
    Alert,
    AlertKind,
    AlertStatus,
    BaselinePin,
    Channel,
    ChannelKind,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    IntervalUnit,
    RunComparison,
    Schedule,
    ScheduleKind,
    Severity,
)
from riskapp.monitoring.regression import compare_checks

logger = logging.getLogger(__name__)

SCHEDULE_TASK = "workers.tasks.run_scheduled_assessment"
SYSTEM = "system"


# --- regression detection (hook: called by assessments.services.run_execute) ------------------------------


def regression_check(*, run: AssessmentRun) -> list[Alert]:
    """Compare a finished run with its baseline; open, update or resolve its alerts; notify channels.

    Returns the alerts that were opened or updated by this run. Safe to call twice for the same run
    (a redelivered task): the second call finds the comparison already recorded and changes nothing.
    """
    run = AssessmentRun.objects.select_related("asset", "profile", "organization", "version").get(pk=run.pk)
    if run.status != RunStatus.SUCCEEDED:
        return []
    if RunComparison.objects.filter(run=run).exists():
        return list(Alert.objects.filter(current_run=run))

    baseline, pinned = selectors.baseline_for(run=run)
    rows = []
    if baseline is not None:
        rows = compare_checks(selectors.check_metrics_for(run=baseline), selectors.check_metrics_for(run=run),
                              run.profile.tolerances)
    regressed_rows = [row for row in rows if row.regressed]
    try:
        cells = selectors.control_statuses_after(run=run)
        flips = selectors.control_flips(run=run, baseline=baseline, cells=cells)
        regression_controls = selectors.controls_for_regression(rows=regressed_rows, cells=cells)
    except Exception:  # control status is the compliance app's; its failure must not hide metric regressions
        logger.exception("Control status for run %s could not be read; comparing metrics only", run.pk)
        cells, flips, regression_controls = None, [], []

    touched: list[Alert] = []
    notifications: list[tuple[Alert, str]] = []
    with transaction.atomic():
        try:
            RunComparison.objects.create(
                run=run, baseline_run=baseline, baseline_pinned=pinned,
                regressed=bool(regressed_rows or flips),
                rows=[row.to_dict() for row in rows], control_flips=flips,
            )
        except IntegrityError:
            return list(Alert.objects.filter(current_run=run))

        # Metric regressions: one alert per asset + profile, holding the set of regressed metrics.
        if regressed_rows:
            worst = max(regressed_rows, key=lambda row: row.excess)
            severity = Severity.CRITICAL if worst.excess >= 2 else Severity.WARNING
            title = (f"{run.asset.name}: {len(regressed_rows)} metric{'s' if len(regressed_rows) != 1 else ''} "
                     f"regressed — {worst.metric}: {_fmt(worst.baseline)} → {_fmt(worst.current)}")
            alert, event = _alert_raise(
                run=run, kind=AlertKind.REGRESSION, severity=severity, title=title, baseline=baseline,
                diff=[row.to_dict() for row in regressed_rows],
                controls=regression_controls,
            )
            touched.append(alert)
            if event:
                notifications.append((alert, event))
        elif baseline is not None:
            recovered = _alert_auto_resolve(run=run, kind=AlertKind.REGRESSION,
                                            reason=f"Run #{run.pk} is back within tolerance of run #{baseline.pk}.")
            if recovered:
                notifications.append((recovered, DeliveryEvent.RESOLVED))

        # Controls that flipped from compliant to non-compliant.
        if flips:
            names = ", ".join(f"{f['control_id']}" for f in flips[:3]) + (" …" if len(flips) > 3 else "")
            title = f"{run.asset.name}: {len(flips)} control{'s' if len(flips) != 1 else ''} became non-compliant ({names})"
            alert, event = _alert_raise(run=run, kind=AlertKind.CONTROL, severity=Severity.CRITICAL, title=title,
                                        baseline=baseline, diff=[], controls=flips)
            touched.append(alert)
            if event:
                notifications.append((alert, event))
        elif cells is not None:
            active = selectors.active_alert_for(dedupe_key=_dedupe_key(run, AlertKind.CONTROL))
            # Resolved once none of its controls is non-compliant any more (a "partly" automated control
            # can at best be partial from evidence alone).
            if active and all(getattr(cells.get((c["framework_slug"], c["control_id"])), "status", None)
                              not in (None, "non_compliant") for c in active.controls):
                recovered = _alert_auto_resolve(run=run, kind=AlertKind.CONTROL,
                                                reason=f"No control is non-compliant any more after run #{run.pk}.")
                if recovered:
                    notifications.append((recovered, DeliveryEvent.RESOLVED))

        # An evaluation the engine's sanity checks distrust: its numbers cannot be relied on either way.
        if run.unreliable:
            reasons = [str(r) for r in (run.unreliable_reasons or [])] or ["The engine flagged the evaluation unreliable."]
            alert, event = _alert_raise(
                run=run, kind=AlertKind.UNRELIABLE, severity=Severity.WARNING,
                title=f"{run.asset.name}: evaluation of run #{run.pk} is unreliable", baseline=None, diff=[],
                controls=[], reasons=reasons,
            )
            touched.append(alert)
            if event:
                notifications.append((alert, event))
        else:
            recovered = _alert_auto_resolve(run=run, kind=AlertKind.UNRELIABLE,
                                            reason=f"Run #{run.pk} passed the evaluation sanity checks.")
            if recovered:
                notifications.append((recovered, DeliveryEvent.RESOLVED))

        for alert, event in notifications:
            alert_notify(alert=alert, event=event)
    return touched


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _dedupe_key(run: AssessmentRun, kind: str) -> str:
    return f"asset:{run.asset_id}:profile:{run.profile_id}:{kind}"


def _alert_raise(*, run, kind, severity, title, baseline, diff, controls, reasons=None) -> tuple[Alert, str | None]:
    """Open an alert, or update the active one with the same dedupe key. Returns the notification event, if any."""
    key = _dedupe_key(run, kind)
    now = timezone.now()
    alert = Alert.objects.select_for_update().filter(dedupe_key=key, status__in=["open", "acknowledged"]).first()
    if alert is None:
        alert = Alert(organization=run.organization, asset=run.asset, profile=run.profile, kind=kind,
                      dedupe_key=key, severity=severity, title=title[:300], diff=diff, controls=controls,
                      reasons=reasons or [], baseline_run=baseline, current_run=run, first_run=run,
                      last_seen_at=now)
        alert.full_clean()
        alert.save()
        audit_record(actor=SYSTEM, organization=run.organization, action="alert.open", obj=alert,
                     details={"run": run.pk, "kind": kind, "severity": severity,
                              "metrics": [row["key"] for row in diff]})
        return alert, DeliveryEvent.OPENED
    previous_keys = {row["key"] for row in alert.diff}
    previous_controls = {(c.get("framework"), c.get("control_id")) for c in alert.controls}
    escalated = (SEVERITY_RANK[Severity(severity)] > SEVERITY_RANK[Severity(alert.severity)]
                 or bool({row["key"] for row in diff} - previous_keys)
                 or bool({(c.get("framework"), c.get("control_id")) for c in controls} - previous_controls))
    alert.severity = severity if SEVERITY_RANK[Severity(severity)] >= SEVERITY_RANK[Severity(alert.severity)] else alert.severity
    alert.title = title[:300]
    alert.diff = diff
    alert.controls = controls
    alert.reasons = reasons or []
    alert.baseline_run = baseline
    alert.current_run = run
    alert.occurrences += 1
    alert.last_seen_at = now
    if escalated and alert.status == AlertStatus.ACKNOWLEDGED:
        # Something new went wrong since someone looked: it needs looking at again.
        alert.status = AlertStatus.OPEN
    alert.full_clean()
    alert.save()
    audit_record(actor=SYSTEM, organization=run.organization, action="alert.update", obj=alert,
                 details={"run": run.pk, "escalated": escalated, "metrics": [row["key"] for row in diff]})
    return alert, DeliveryEvent.ESCALATED if escalated else None


def _alert_auto_resolve(*, run, kind, reason: str) -> Alert | None:
    alert = selectors.active_alert_for(dedupe_key=_dedupe_key(run, kind))
    if alert is None:
        return None
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = timezone.now()
    alert.resolved_by = None
    alert.resolved_by_run = run
    alert.auto_resolved = True
    alert.resolve_comment = reason
    alert.full_clean()
    alert.save()
    audit_record(actor=SYSTEM, organization=run.organization, action="alert.auto_resolve", obj=alert,
                 details={"run": run.pk, "reason": reason})
    return alert


# --- alerts: people acknowledge and resolve ------------------------------------------------------------------


def alert_acknowledge(*, alert: Alert, user, comment: str = "") -> Alert:
    if alert.status != AlertStatus.OPEN:
        raise ValidationError("Only an open alert can be acknowledged.")
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = user
    alert.acknowledge_comment = comment.strip()
    alert.full_clean()
    alert.save()
    audit_record(actor=user, organization=alert.organization, action="alert.acknowledge", obj=alert,
                 details={"comment": alert.acknowledge_comment})
    return alert


def alert_resolve(*, alert: Alert, user, comment: str) -> Alert:
    if alert.status == AlertStatus.RESOLVED:
        raise ValidationError("The alert is already resolved.")
    if not comment.strip():
        raise ValidationError({"comment": ["Say why the alert is resolved."]})
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = timezone.now()
    alert.resolved_by = user
    alert.resolve_comment = comment.strip()
    alert.auto_resolved = False
    alert.full_clean()
    alert.save()
    audit_record(actor=user, organization=alert.organization, action="alert.resolve", obj=alert,
                 details={"comment": alert.resolve_comment})
    return alert


# --- notifications ---------------------------------------------------------------------------------------------


def _channel_wants(channel: Channel, alert: Alert) -> bool:
    if SEVERITY_RANK[Severity(alert.severity)] < SEVERITY_RANK[Severity(channel.min_severity)]:
        return False
    return channel.all_assets or channel.assets.filter(pk=alert.asset_id).exists()


def alert_notify(*, alert: Alert, event: str) -> list[Delivery]:
    """One pending Delivery per enabled channel whose rules match; each is sent by a task after commit."""
    from workers.tasks import deliver_alert

    deliveries = []
    for channel in Channel.objects.filter(organization=alert.organization, enabled=True).prefetch_related("assets"):
        if not _channel_wants(channel, alert):
            continue
        delivery = Delivery(organization=alert.organization, channel=channel, alert=alert, event=event,
                            message_id=f"msg_{uuid.uuid4().hex}")
        delivery.full_clean()
        delivery.save()
        deliveries.append(delivery)
        transaction.on_commit(lambda pk=delivery.pk: deliver_alert.delay(pk))
    return deliveries


def retry_countdown(attempt: int) -> int:
    """Seconds to wait before attempt number `attempt` (2, 3, …): exponential backoff."""
    return settings.RISKAPP_ALERT_RETRY_BASE_S * 2 ** max(0, attempt - 2)


def delivery_attempt(*, delivery_id: int) -> Delivery | None:
    """Send one pending delivery. Returns the next attempt's row when a transient failure should be retried."""
    claimed = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, attempted_at__isnull=True) \
        .update(attempted_at=timezone.now())
    if claimed != 1:
        return None  # already attempted (a redelivered task)
    delivery = Delivery.objects.select_related("channel", "channel__organization", "alert", "alert__asset",
                                               "alert__profile", "alert__organization").get(pk=delivery_id)
    channel = delivery.channel
    if not channel.enabled and delivery.event != DeliveryEvent.TEST:
        delivery.status = DeliveryStatus.FAILED
        delivery.error = "Not sent: the channel is disabled."
        delivery.save(update_fields=["status", "error"])
        return None
    try:
        channel_transport(channel).notify(delivery.alert, delivery)
    except ChannelError as exc:
        delivery.error = str(exc)[:2000]
        delivery.response_status = exc.response_status
        if exc.permanent:
            delivery.status = DeliveryStatus.FAILED
            delivery.save(update_fields=["status", "error", "response_status"])
            channel_disable(channel=channel, reason=f"Disabled after a permanent failure on "
                                                    f"{timezone.now():%Y-%m-%d %H:%M} UTC: {exc}")
            return None
        if delivery.attempt >= settings.RISKAPP_ALERT_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            delivery.error += f" (gave up after {delivery.attempt} attempts)"
            delivery.save(update_fields=["status", "error", "response_status"])
            return None
        with transaction.atomic():
            delivery.status = DeliveryStatus.RETRYING
            delivery.save(update_fields=["status", "error", "response_status"])
            following = Delivery(organization=delivery.organization, channel=channel, alert=delivery.alert,
                                 event=delivery.event, message_id=delivery.message_id, attempt=delivery.attempt + 1,
                                 previous=delivery)
            following.full_clean()
            following.save()
        return following
    delivery.status = DeliveryStatus.SENT
    delivery.error = ""
    delivery.save(update_fields=["status", "error"])
    return None


def channel_disable(*, channel: Channel, reason: str) -> Channel:
    channel.enabled = False
    channel.disabled_reason = reason[:2000]
    channel.disabled_at = timezone.now()
    channel.save(update_fields=["enabled", "disabled_reason", "disabled_at"])
    audit_record(actor=SYSTEM, organization=channel.organization, action="channel.disable", obj=channel,
                 details={"reason": channel.disabled_reason})
    return channel


# --- channels -------------------------------------------------------------------------------------------------


def _clean_recipients(recipients) -> list[str]:
    if isinstance(recipients, str):
        recipients = recipients.replace(";", ",").replace("\n", ",").split(",")
    cleaned = []
    for address in recipients or []:
        address = str(address).strip()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError as exc:
            raise ValidationError({"email_recipients": [f"{address!r} is not an e-mail address."]}) from exc
        if address not in cleaned:
            cleaned.append(address)
    return cleaned


def _check_url(url: str) -> None:
    from workers.engine.model import EndpointError, check_endpoint_address

    try:
        check_endpoint_address(url, allow_private=settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE)
    except EndpointError as exc:
        raise ValidationError({"url": [str(exc).replace("endpoint", "webhook")]}) from exc


def _channel_validate(channel: Channel, assets) -> None:
    if channel.kind == ChannelKind.EMAIL:
        channel.url = ""
        if not channel.email_recipients:
            raise ValidationError({"email_recipients": ["Give at least one e-mail address."]})
    else:
        channel.email_recipients = []
        if not channel.url:
            raise ValidationError({"url": ["Give the receiver's URL."]})
        _check_url(channel.url)
    if not channel.all_assets and not assets:
        raise ValidationError({"assets": ["Choose the assets, or send alerts for all assets."]})
    for asset in assets:
        if asset.organization_id != channel.organization_id:
            raise ValidationError({"assets": ["Unknown asset."]})
    channel.full_clean()


def channel_create(*, organization, user, name: str, kind: str, url: str = "", email_recipients=None,
                   min_severity: str = Severity.WARNING, all_assets: bool = True, assets=()) -> tuple[Channel, str | None]:
    """Create a channel. For a signed webhook, also returns its secret: the only time anyone sees it."""
    assets = list(assets or [])
    channel = Channel(organization=organization, name=name.strip(), kind=kind, url=url.strip(),
                      email_recipients=_clean_recipients(email_recipients), min_severity=min_severity,
                      all_assets=all_assets, created_by=user if getattr(user, "is_authenticated", False) else None)
    secret = None
    if kind == ChannelKind.WEBHOOK:
        secret = new_webhook_secret()
        channel.secret = secret
    _channel_validate(channel, assets)
    with transaction.atomic():
        channel.save()
        channel.assets.set(assets)
        audit_record(actor=user, organization=organization, action="channel.create", obj=channel,
                     details={"name": channel.name, "kind": kind, "min_severity": min_severity,
                              "all_assets": all_assets, "assets": [a.pk for a in assets]})
    return channel, secret


def channel_update(*, channel: Channel, user, name: str | None = None, url: str | None = None,
                   email_recipients=None, min_severity: str | None = None, all_assets: bool | None = None,
                   assets=None, enabled: bool | None = None) -> Channel:
    """Change a channel. Re-enabling one that a failure disabled clears the reason."""
    if name is not None:
        channel.name = name.strip()
    if url is not None:
        channel.url = url.strip()
    if email_recipients is not None:
        channel.email_recipients = _clean_recipients(email_recipients)
    if min_severity is not None:
        channel.min_severity = min_severity
    if all_assets is not None:
        channel.all_assets = all_assets
    assets = list(channel.assets.all()) if assets is None else list(assets)
    if enabled is not None:
        channel.enabled = enabled
        if enabled:
            channel.disabled_reason = ""
            channel.disabled_at = None
    _channel_validate(channel, assets)
    with transaction.atomic():
        channel.save()
        channel.assets.set(assets)
        audit_record(actor=user, organization=channel.organization, action="channel.update", obj=channel,
                     details={"name": channel.name, "enabled": channel.enabled, "min_severity": channel.min_severity,
                              "all_assets": channel.all_assets, "assets": [a.pk for a in assets]})
    return channel


def channel_delete(*, channel: Channel, user) -> None:
    audit_record(actor=user, organization=channel.organization, action="channel.delete", obj=channel,
                 details={"name": channel.name, "kind": channel.kind})
    channel.delete()


def channel_send_test(*, channel: Channel, user) -> Delivery:
    """Queue a test message to the channel (even a disabled one: that is how people check a fix)."""
    from workers.tasks import deliver_alert

    delivery = Delivery(organization=channel.organization, channel=channel, alert=None, event=DeliveryEvent.TEST,
                        message_id=f"msg_{uuid.uuid4().hex}")
    delivery.full_clean()
    delivery.save()
    audit_record(actor=user, organization=channel.organization, action="channel.test", obj=channel,
                 details={"delivery": delivery.pk})
    transaction.on_commit(lambda: deliver_alert.delay(delivery.pk))
    return delivery


# --- baselines -------------------------------------------------------------------------------------------------


def baseline_pin(*, run: AssessmentRun, user) -> BaselinePin:
    if run.status != RunStatus.SUCCEEDED:
        raise ValidationError("Only a successful run can be the baseline.")
    pin, _created = BaselinePin.objects.update_or_create(
        asset=run.asset, profile=run.profile,
        defaults={"organization": run.organization, "run": run,
                  "pinned_by": user if getattr(user, "is_authenticated", False) else None},
    )
    audit_record(actor=user, organization=run.organization, action="baseline.pin", obj=pin,
                 details={"run": run.pk, "asset": run.asset_id, "profile": run.profile_id})
    return pin


def baseline_unpin(*, asset, profile: Profile, user) -> None:
    pin = BaselinePin.objects.filter(asset=asset, profile=profile).first()
    if pin is None:
        return
    audit_record(actor=user, organization=asset.organization, action="baseline.unpin", obj=pin,
                 details={"run": pin.run_id})
    pin.delete()


# --- schedules ---------------------------------------------------------------------------------------------------


def _cron_fields(expression: str) -> dict:
    from django_celery_beat.validators import crontab_validator

    parts = expression.split()
    if len(parts) != 5:
        raise ValidationError({"cron": ["A cron expression has five fields: minute hour day-of-month month "
                                        "day-of-week, e.g. “0 3 * * *”."]})
    try:
        crontab_validator(" ".join(parts))
    except ValidationError as exc:
        raise ValidationError({"cron": [f"Not a valid cron expression: {'; '.join(exc.messages)}"]}) from exc
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    return {"minute": minute, "hour": hour, "day_of_month": day_of_month, "month_of_year": month_of_year,
            "day_of_week": day_of_week}


def _schedule_validate(schedule: Schedule) -> None:
    if schedule.profile.organization_id not in (None, schedule.organization_id):
        raise ValidationError({"profile": ["Unknown profile."]})
    if schedule.asset.organization_id != schedule.organization_id:
        raise ValidationError({"asset": ["Unknown asset."]})
    if schedule.kind == ScheduleKind.CRON:
        schedule.cron = " ".join(schedule.cron.split())
        _cron_fields(schedule.cron)
        schedule.interval_every, schedule.interval_unit = None, ""
    else:
        if not schedule.interval_every or schedule.interval_unit not in IntervalUnit.values:
            raise ValidationError({"interval_every": ["Give the interval, e.g. every 1 day."]})
        if timedelta(**{schedule.interval_unit: schedule.interval_every}) < timedelta(minutes=5):
            raise ValidationError({"interval_every": ["The shortest interval is 5 minutes."]})
        schedule.cron = ""
    schedule.full_clean(exclude=["periodic_task", "last_run"])


def periodic_task_name(schedule_id: int) -> str:
    return f"riskapp schedule {schedule_id}"


def _sync_periodic_task(schedule: Schedule) -> None:
    """Make the schedule's django-celery-beat PeriodicTask match it (database scheduler reads these rows)."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    crontab = interval = None
    if schedule.kind == ScheduleKind.CRON:
        crontab, _ = CrontabSchedule.objects.get_or_create(**_cron_fields(schedule.cron), timezone="UTC")
    else:
        interval, _ = IntervalSchedule.objects.get_or_create(every=schedule.interval_every,
                                                             period=schedule.interval_unit)
    task = schedule.periodic_task or PeriodicTask(name=periodic_task_name(schedule.pk))
    task.task = SCHEDULE_TASK
    task.args = json.dumps([schedule.pk])
    task.kwargs = "{}"
    task.crontab, task.interval = crontab, interval
    task.enabled = schedule.enabled
    task.description = f"Re-assess {schedule.asset.name} with {schedule.profile.name}"
    task.save()
    if schedule.periodic_task_id != task.pk:
        schedule.periodic_task = task
        schedule.save(update_fields=["periodic_task"])


def schedule_create(*, organization, asset, profile: Profile, user, kind: str = ScheduleKind.CRON, cron: str = "",
                    interval_every: int | None = None, interval_unit: str = "", enabled: bool = True,
                    run_on_new_version: bool = True) -> Schedule:
    schedule = Schedule(organization=organization, asset=asset, profile=profile, kind=kind, cron=cron or "",
                        interval_every=interval_every, interval_unit=interval_unit or "", enabled=enabled,
                        run_on_new_version=run_on_new_version,
                        created_by=user if getattr(user, "is_authenticated", False) else None)
    _schedule_validate(schedule)
    with transaction.atomic():
        schedule.save()
        _sync_periodic_task(schedule)
        audit_record(actor=user, organization=organization, action="schedule.create", obj=schedule,
                     details={"asset": asset.pk, "profile": profile.pk, "when": schedule.describe(),
                              "run_on_new_version": run_on_new_version})
    return schedule


def schedule_update(*, schedule: Schedule, user, **changes) -> Schedule:
    allowed = {"profile", "kind", "cron", "interval_every", "interval_unit", "run_on_new_version", "enabled"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"Cannot change {', '.join(sorted(unknown))} of a schedule.")
    for field, value in changes.items():
        setattr(schedule, field, value if value is not None or field == "interval_every" else "")
    _schedule_validate(schedule)
    with transaction.atomic():
        schedule.save()
        _sync_periodic_task(schedule)
        audit_record(actor=user, organization=schedule.organization, action="schedule.update", obj=schedule,
                     details={"when": schedule.describe(), "enabled": schedule.enabled,
                              "run_on_new_version": schedule.run_on_new_version})
    return schedule


def schedule_pause(*, schedule: Schedule, user) -> Schedule:
    return _schedule_set_enabled(schedule=schedule, user=user, enabled=False)


def schedule_resume(*, schedule: Schedule, user) -> Schedule:
    return _schedule_set_enabled(schedule=schedule, user=user, enabled=True)


def _schedule_set_enabled(*, schedule: Schedule, user, enabled: bool) -> Schedule:
    with transaction.atomic():
        schedule.enabled = enabled
        schedule.save(update_fields=["enabled", "updated_at"])
        _sync_periodic_task(schedule)
        audit_record(actor=user, organization=schedule.organization,
                     action="schedule.resume" if enabled else "schedule.pause", obj=schedule)
    return schedule


def schedule_delete(*, schedule: Schedule, user) -> None:
    with transaction.atomic():
        audit_record(actor=user, organization=schedule.organization, action="schedule.delete", obj=schedule,
                     details={"asset": schedule.asset_id, "profile": schedule.profile_id, "when": schedule.describe()})
        task = schedule.periodic_task
        schedule.delete()
        if task is not None:
            task.delete()


def schedule_run_now(*, schedule: Schedule, user) -> AssessmentRun:
    """Start the schedule's re-assessment at once (a person asked), without waiting for its next time.

    The run counts as the schedule's last run, is compared with the same baseline as a scheduled one, and leaves
    the beat timing alone. A paused schedule can be run now too: pausing stops the clock, not the person.
    """
    from riskapp.assessments.models import RunTrigger
    from riskapp.assessments.services import run_create

    with transaction.atomic():
        run = run_create(asset=schedule.asset, profile=schedule.profile, user=user, trigger=RunTrigger.SCHEDULE)
        schedule.last_run = run
        schedule.last_fired_at = timezone.now()
        schedule.last_error = ""
        schedule.save(update_fields=["last_run", "last_fired_at", "last_error", "updated_at"])
        audit_record(actor=user, organization=schedule.organization, action="schedule.run_now", obj=schedule,
                     details={"run": run.pk})
    return run


def schedule_fire(*, schedule_id: int) -> AssessmentRun | None:
    """What beat's periodic task does: start a re-assessment of the schedule's asset with its profile."""
    from riskapp.assessments.models import RunTrigger
    from riskapp.assessments.services import run_create

    schedule = Schedule.objects.select_related("asset", "profile", "organization").filter(pk=schedule_id).first()
    if schedule is None:
        # Its asset was deleted (the schedule went with it, by cascade): retire the orphaned beat entry.
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(name=periodic_task_name(schedule_id), task=SCHEDULE_TASK).delete()
        return None
    if not schedule.enabled:
        return None  # paused after beat read its row
    now = timezone.now()
    try:
        with transaction.atomic():
            run = run_create(asset=schedule.asset, profile=schedule.profile, user=None, trigger=RunTrigger.SCHEDULE)
            schedule.last_run = run
            schedule.last_fired_at = now
            schedule.last_error = ""
            schedule.save(update_fields=["last_run", "last_fired_at", "last_error", "updated_at"])
    except ValidationError as exc:
        schedule.last_fired_at = now
        schedule.last_error = "; ".join(exc.messages)[:2000]
        schedule.save(update_fields=["last_fired_at", "last_error", "updated_at"])
        audit_record(actor=SYSTEM, organization=schedule.organization, action="schedule.skip", obj=schedule,
                     details={"error": schedule.last_error})
        logger.warning("Schedule %s did not start a run: %s", schedule.pk, schedule.last_error)
        return None
    audit_record(actor=SYSTEM, organization=schedule.organization, action="schedule.fire", obj=schedule,
                 details={"run": run.pk})
    return run


# --- new model versions (hook: called by assets.services.model_version_validate) --------------------------------


def on_version_validated(*, version) -> list[AssessmentRun]:
    """Re-assess a newly validated version with the profile of each enabled schedule that asks for it."""
    from riskapp.assessments.models import RunTrigger
    from riskapp.assessments.services import run_create

    asset = version.asset
    schedules_by_profile: dict[Profile, list[Schedule]] = {}
    for schedule in Schedule.objects.filter(asset=asset, enabled=True, run_on_new_version=True).select_related("profile"):
        schedules_by_profile.setdefault(schedule.profile, []).append(schedule)
    runs = []
    for profile, schedules in schedules_by_profile.items():
        try:
            with transaction.atomic():
                run = run_create(asset=asset, profile=profile, user=None, version=version,
                                 trigger=RunTrigger.NEW_VERSION)
                # The schedule launched it, so it is the schedule's last run ("never" would be wrong).
                Schedule.objects.filter(pk__in=[s.pk for s in schedules]).update(
                    last_run=run, last_fired_at=timezone.now(), last_error="", updated_at=timezone.now())
        except ValidationError as exc:
            logger.warning("New version %s of asset %s: no %s re-assessment: %s", version.pk, asset.pk,
                           profile.slug, "; ".join(exc.messages))
            audit_record(actor=SYSTEM, organization=asset.organization, action="schedule.new_version_skip",
                         obj=version, details={"profile": profile.pk, "error": "; ".join(exc.messages)})
            continue
        runs.append(run)
    return runs


# --- alerts raised outside assessment runs (hook: riskapp.screening) -----------------------------------------


def alert_open_or_update(*, organization, asset, profile: Profile, kind: str, dedupe_key: str, severity: str,
                         title: str, reasons: list[str]) -> tuple[Alert, bool]:
    """Open an alert found outside a run (e.g. runtime screening), or update the active one with the same key.

    Channels are notified when it opens. Returns (alert, opened).
    """
    now = timezone.now()
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(dedupe_key=dedupe_key, status__in=["open", "acknowledged"]).first()
        if alert is None:
            alert = Alert(organization=organization, asset=asset, profile=profile, kind=kind, dedupe_key=dedupe_key,
                          severity=severity, title=title[:300], reasons=list(reasons), last_seen_at=now)
            alert.full_clean()
            try:
                with transaction.atomic():
                    alert.save()
            except IntegrityError:  # another process opened it a moment ago: update that one instead
                alert = Alert.objects.select_for_update().get(dedupe_key=dedupe_key, status__in=["open", "acknowledged"])
            else:
                audit_record(actor=SYSTEM, organization=organization, action="alert.open", obj=alert,
                             details={"kind": kind, "severity": severity})
                alert_notify(alert=alert, event=DeliveryEvent.OPENED)
                return alert, True
        alert.title = title[:300]
        alert.reasons = list(reasons)
        if SEVERITY_RANK[Severity(severity)] > SEVERITY_RANK[Severity(alert.severity)]:
            alert.severity = severity
        alert.occurrences += 1
        alert.last_seen_at = now
        alert.full_clean()
        alert.save()
        audit_record(actor=SYSTEM, organization=organization, action="alert.update", obj=alert,
                     details={"kind": kind, "occurrences": alert.occurrences})
    return alert, False
