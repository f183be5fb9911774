"""Web pages for monitoring: alerts (list, detail, acknowledge, resolve), schedules, baselines and channels."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from riskapp.accounts.models import Role
from riskapp.accounts.permissions import can_write
from riskapp.assessments.models import AssessmentRun
from riskapp.assets.models import ModelAsset
from riskapp.monitoring import selectors, services
from riskapp.monitoring.forms import (
    ChannelForm,
    CommentForm,
    ResolveForm,
    ScheduleForm,
    profiles_for_organization,
)
from riskapp.monitoring.models import Alert, AlertStatus, Channel, Schedule

NEW_SECRET_SESSION_KEY = "monitoring_new_webhook_secret"
TREND_AXIS = {"robust_accuracy": "Robust accuracy", "breaking_epsilon": "Breaking ε", "membership_auc": "AUC",
              "extraction_agreement": "Agreement", "backdoor_success": "Success rate"}


def _require_organization(request):
    if not request.organization:
        return render(request, "web/no_organization.html")
    return None


def _require_write(request, minimum: str = Role.ANALYST) -> None:
    if not can_write(request.user, request.organization.pk, minimum):
        raise PermissionDenied("Your role in this organization does not allow this action.")


def _form_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _back(request, fallback: str):
    target = request.POST.get("next") or ""
    # Only local paths: never an open redirect.
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(fallback)


def _url_or_none(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


# --- navigation badge, asset page and settings sections (registered in apps.py) ---------------------------------


def alert_badge(request) -> dict:
    organization = getattr(request, "organization", None)
    if organization is None:
        return {}
    return {"monitoring:alerts": selectors.open_alert_count(organization=organization)}


def asset_schedules_context(request, asset) -> dict:
    schedules = list(selectors.schedules_for(organization=asset.organization, asset=asset))
    for schedule in schedules:
        schedule.next_run_at = selectors.schedule_next_run(schedule)
    profiles = profiles_for_organization(asset.organization)
    baselines = []
    for profile in profiles:
        pin = selectors.baseline_pin_for(asset=asset, profile=profile)
        if pin is not None:
            baselines.append({"profile": profile, "pin": pin})
    return {
        "monitoring_schedules": schedules,
        # Own id prefix: the asset page's run form has a "profile" field too (labels must point at this one).
        "monitoring_schedule_form": ScheduleForm(organization=asset.organization, auto_id="schedule_%s"),
        "monitoring_baselines": baselines,
        "monitoring_active_alerts": list(selectors.alerts_for(organization=asset.organization, status="active",
                                                              asset=asset)[:10]),
        "monitoring_can_write": can_write(request.user, asset.organization_id),
    }


def settings_channels_context(request) -> dict:
    organization = request.organization
    channels = list(selectors.channels_for(organization=organization))
    return {
        "monitoring_channels": channels,
        "monitoring_channel_form": ChannelForm(organization=organization, auto_id="channel_%s"),
        "monitoring_new_secret": request.session.pop(NEW_SECRET_SESSION_KEY, None),
        "monitoring_can_manage_channels": can_write(request.user, organization.pk, Role.ADMIN),
        "monitoring_recent_deliveries": list(selectors.deliveries_for(organization=organization, limit=15)),
    }


# --- alerts -----------------------------------------------------------------------------------------------------


def _alert_get(request, alert_id: int) -> Alert:
    return get_object_or_404(Alert.objects.select_related("asset", "profile", "baseline_run", "current_run",
                                                          "first_run", "resolved_by_run", "acknowledged_by",
                                                          "resolved_by"),
                             pk=alert_id, organization=request.organization)


@login_required
def alert_list(request):
    if (page := _require_organization(request)) is not None:
        return page
    status = request.GET.get("status") or "active"
    if status not in {"active", "all", *AlertStatus.values}:
        status = "active"
    alerts = selectors.alerts_for(organization=request.organization, status=None if status == "all" else status)
    asset = None
    asset_id = request.GET.get("asset")
    if asset_id and asset_id.isdigit():
        asset = ModelAsset.objects.filter(organization=request.organization, pk=int(asset_id)).first()
        if asset is not None:
            alerts = alerts.filter(asset=asset)
    return render(request, "monitoring/alert_list.html", {
        "alerts": alerts[:200],
        "status": status,
        "statuses": [("active", "Active"), *AlertStatus.choices, ("all", "All")],
        "filter_asset": asset,
        "assets": ModelAsset.objects.filter(organization=request.organization).order_by("name"),
        "open_count": selectors.open_alert_count(organization=request.organization),
        "schedule_count": selectors.schedules_for(organization=request.organization).count(),
    })


@login_required
def alert_detail(request, alert_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    alert = _alert_get(request, alert_id)
    from riskapp.web.charts import trend_svg

    trends = []
    for row in alert.diff[:4]:
        points = selectors.alert_trend(alert=alert, metric_key=row["key"])
        baseline = row.get("baseline")
        tolerance = row.get("tolerance") if row.get("tolerance_kind") == "absolute" else (
            abs(baseline) * row["tolerance"] if baseline is not None and row.get("tolerance") is not None else None)
        trends.append({"metric": row["metric"], "chart": trend_svg(
            [(p["label"], p["value"]) for p in points], baseline=baseline, tolerance=tolerance,
            higher_is_better=row.get("worse_when") == "lower", title=f"{row['metric']} over recent runs",
            y_label=TREND_AXIS.get(row.get("tolerance_name"), ""), value_format="{:.3f}",
            # Shares (accuracy, success rate, AUC) end at 1: a tolerance band must not stretch the axis past 100%.
            y_max=1.0 if all(0 <= p["value"] <= 1 for p in points) and (baseline is None or 0 <= baseline <= 1)
            and row.get("tolerance_name") != "breaking_epsilon" else None,
        )})
    return render(request, "monitoring/alert_detail.html", {
        "alert": alert,
        "trends": trends,
        "ack_form": CommentForm(),
        "resolve_form": ResolveForm(),
        "deliveries": list(selectors.deliveries_for(organization=request.organization, alert=alert, limit=30)),
        "can_write": can_write(request.user, request.organization.pk),
        "run_url": "assessments:detail" if _url_or_none("assessments:detail", 1) else None,
        "pin": selectors.baseline_pin_for(asset=alert.asset, profile=alert.profile),
    })


@login_required
@require_POST
def alert_acknowledge_view(request, alert_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    alert = _alert_get(request, alert_id)
    _require_write(request)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.alert_acknowledge(alert=alert, user=request.user, comment=form.cleaned_data["comment"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Alert acknowledged.")
    return redirect("monitoring:alert", alert_id=alert.pk)


@login_required
@require_POST
def alert_resolve_view(request, alert_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    alert = _alert_get(request, alert_id)
    _require_write(request)
    form = ResolveForm(request.POST)
    if form.is_valid():
        try:
            services.alert_resolve(alert=alert, user=request.user, comment=form.cleaned_data["comment"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Alert resolved.")
            return redirect("monitoring:alert", alert_id=alert.pk)
    else:
        messages.error(request, "Say why the alert is resolved.")
    return redirect("monitoring:alert", alert_id=alert.pk)


# --- baselines --------------------------------------------------------------------------------------------------


@login_required
@require_POST
def baseline_pin_view(request, run_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    run = get_object_or_404(AssessmentRun, pk=run_id, organization=request.organization)
    _require_write(request)
    try:
        services.baseline_pin(run=run, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Run #{run.pk} is now the baseline for {run.asset.name} with {run.profile.name}.")
    return _back(request, reverse("monitoring:alerts"))


@login_required
@require_POST
def baseline_unpin_view(request, asset_id: int, profile_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    asset = get_object_or_404(ModelAsset, pk=asset_id, organization=request.organization)
    profile = get_object_or_404(profiles_for_organization(request.organization), pk=profile_id)
    _require_write(request)
    services.baseline_unpin(asset=asset, profile=profile, user=request.user)
    messages.success(request, "The baseline is the last good run again.")
    return _back(request, reverse("monitoring:alerts"))


# --- schedules --------------------------------------------------------------------------------------------------


@login_required
def schedule_list(request):
    if (page := _require_organization(request)) is not None:
        return page
    schedules = list(selectors.schedules_for(organization=request.organization))
    for schedule in schedules:
        schedule.next_run_at = selectors.schedule_next_run(schedule)
    return render(request, "monitoring/schedule_list.html", {
        "schedules": schedules,
        "can_write": can_write(request.user, request.organization.pk),
        "asset_url": "assets:detail" if _url_or_none("assets:detail", 1) else None,
    })


@login_required
def schedule_create_view(request, asset_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    asset = get_object_or_404(ModelAsset, pk=asset_id, organization=request.organization)
    _require_write(request)
    form = ScheduleForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.schedule_create(organization=request.organization, asset=asset, profile=data["profile"],
                                     user=request.user, kind=data["kind"], cron=data["cron"],
                                     interval_every=data["interval_every"], interval_unit=data["interval_unit"],
                                     run_on_new_version=data["run_on_new_version"])
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Scheduled {data['profile'].name} re-assessments of {asset.name}.")
            return _back(request, reverse("monitoring:schedules"))
    return render(request, "monitoring/schedule_form.html", {"asset": asset, "form": form}, status=400 if form.errors else 200)


def _schedule_get(request, schedule_id: int) -> Schedule:
    return get_object_or_404(Schedule.objects.select_related("asset", "profile", "periodic_task"),
                             pk=schedule_id, organization=request.organization)


@login_required
@require_POST
def schedule_pause_view(request, schedule_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    schedule = _schedule_get(request, schedule_id)
    _require_write(request)
    services.schedule_pause(schedule=schedule, user=request.user)
    messages.success(request, "Schedule paused.")
    return _back(request, reverse("monitoring:schedules"))


@login_required
@require_POST
def schedule_resume_view(request, schedule_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    schedule = _schedule_get(request, schedule_id)
    _require_write(request)
    services.schedule_resume(schedule=schedule, user=request.user)
    messages.success(request, "Schedule resumed.")
    return _back(request, reverse("monitoring:schedules"))


@login_required
@require_POST
def schedule_run_now_view(request, schedule_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    schedule = _schedule_get(request, schedule_id)
    _require_write(request)
    try:
        run = services.schedule_run_now(schedule=schedule, user=request.user)
    except ValidationError as exc:
        messages.error(request, "Could not start the run: " + "; ".join(exc.messages))
        return _back(request, reverse("monitoring:schedules"))
    messages.success(request, f"Started run #{run.pk} ({schedule.profile.name}) of {schedule.asset.name}.")
    run_url = _url_or_none("assessments:detail", run.pk)
    return redirect(run_url) if run_url else _back(request, reverse("monitoring:schedules"))


@login_required
@require_POST
def schedule_delete_view(request, schedule_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    schedule = _schedule_get(request, schedule_id)
    _require_write(request)
    services.schedule_delete(schedule=schedule, user=request.user)
    messages.success(request, "Schedule deleted.")
    return _back(request, reverse("monitoring:schedules"))


# --- channels ---------------------------------------------------------------------------------------------------


def _channel_get(request, channel_id: int) -> Channel:
    return get_object_or_404(Channel, pk=channel_id, organization=request.organization)


@login_required
def channel_create_view(request):
    if (page := _require_organization(request)) is not None:
        return page
    _require_write(request, Role.ADMIN)
    form = ChannelForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            _channel, secret = services.channel_create(
                organization=request.organization, user=request.user, name=data["name"], kind=data["kind"],
                url=data["url"], email_recipients=data["email_recipients"], min_severity=data["min_severity"],
                all_assets=data["all_assets"], assets=data["assets"])
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            if secret:
                # Shown on the next page only: popped from the session there, never stored elsewhere in clear.
                request.session[NEW_SECRET_SESSION_KEY] = secret
            messages.success(request, f"Channel “{data['name']}” created.")
            return redirect(reverse("web:settings") + "#alert-channels")
    return render(request, "monitoring/channel_form.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_POST
def channel_test_view(request, channel_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    channel = _channel_get(request, channel_id)
    _require_write(request, Role.ADMIN)
    services.channel_send_test(channel=channel, user=request.user)
    messages.success(request, f"Test message queued for “{channel.name}”; its result appears under recent deliveries.")
    return redirect(reverse("web:settings") + "#alert-channels")


@login_required
@require_POST
def channel_toggle_view(request, channel_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    channel = _channel_get(request, channel_id)
    _require_write(request, Role.ADMIN)
    try:
        services.channel_update(channel=channel, user=request.user, enabled=not channel.enabled)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Channel “{channel.name}” {'enabled' if channel.enabled else 'disabled'}.")
    return redirect(reverse("web:settings") + "#alert-channels")


@login_required
@require_POST
def channel_delete_view(request, channel_id: int):
    if (page := _require_organization(request)) is not None:
        return page
    channel = _channel_get(request, channel_id)
    _require_write(request, Role.ADMIN)
    services.channel_delete(channel=channel, user=request.user)
    messages.success(request, "Channel deleted.")
    return redirect(reverse("web:settings") + "#alert-channels")
