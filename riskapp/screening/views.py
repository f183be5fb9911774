"""Screening pages: an asset's screening (calibration, flag rate, events, tokens, policy) and the asset-page section."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from riskapp.accounts.models import Role
from riskapp.accounts.permissions import can_write
from riskapp.assets.models import ModelAsset
from riskapp.screening import selectors, services
from riskapp.screening.forms import ScreeningPolicyForm, ScreeningTokenForm
from riskapp.screening.models import ScreeningToken

ASSET_SECTION_TEMPLATE = "screening/asset_section.html"


def _asset_or_404(request, pk: int) -> ModelAsset:
    if request.organization is None:
        raise Http404
    return get_object_or_404(ModelAsset.objects.select_related("organization", "current_version"),
                             pk=pk, organization=request.organization)


def _asset_page(asset) -> str:
    try:
        return reverse("assets:detail", args=[asset.pk])
    except NoReverseMatch:
        return reverse("screening:asset", args=[asset.pk])


def _run_url() -> str | None:
    """The URL name of a run's page, when the assessments pages are installed."""
    try:
        reverse("assessments:detail", args=[1])
    except NoReverseMatch:
        return None
    return "assessments:detail"


def calibration_rows(detector) -> list[dict]:
    """Detection rate per attack (and the adaptive attack), as measured by detection.train."""
    if detector is None:
        return []
    rows = []
    for kind, figures in sorted((detector.calibration.get("per_attack") or {}).items()):
        rows.append({"attack": kind.upper(), "adaptive": False, **figures})
    adaptive = detector.calibration.get("adaptive")
    if adaptive:
        rows.append({"attack": "Adaptive PGD (knows the detector)", "adaptive": True, **adaptive})
    return rows


def screening_context(request, asset) -> dict:
    """Everything the asset-page section and the screening page show."""
    from riskapp.web.charts import trend_svg

    detector = selectors.detector_current(asset=asset)
    since = timezone.now() - timedelta(hours=24)
    flag_rate = selectors.flag_rate_by_hour(asset=asset, hours=48)
    return {
        "screening_asset": asset,
        "screening_detector": detector,
        "screening_older_detectors": list(selectors.detectors_for(asset=asset).exclude(
            pk=detector.pk if detector else None)[:5]),
        "screening_calibration": calibration_rows(detector),
        "screening_policy": selectors.policy_for(asset=asset),
        "screening_totals": selectors.traffic_totals(asset=asset, since=since),
        "screening_flag_chart": trend_svg(
            [(hour, rate) for hour, rate, _inputs in flag_rate],
            baseline=detector.either_false_positive_rate if detector else None,
            higher_is_better=False, title="Flagged share of screened inputs per hour (48 h)",
            y_label="flagged share", value_format="{:.1%}", y_min=0.0),
        "screening_tokens": list(selectors.tokens_for(asset=asset)),
        "screening_training_run": selectors.training_run_pending(asset=asset),
        "screening_run_url": _run_url(),
        "screening_can_write": can_write(request.user, asset.organization_id),
    }


def asset_section_context(request, asset) -> dict:
    return screening_context(request, asset)


@login_required
def asset_screening(request, pk: int):
    asset = _asset_or_404(request, pk)
    context = screening_context(request, asset)
    context.update({
        "asset": asset,
        "events": list(selectors.events_for(asset=asset, limit=100)),
        "policy_form": ScreeningPolicyForm(instance=context["screening_policy"]),
        "token_form": ScreeningTokenForm(),
        "asset_page": _asset_page(asset),
    })
    return render(request, "screening/asset.html", context)


def _require_write(request, asset) -> None:
    if not can_write(request.user, asset.organization_id):
        raise Http404  # viewers never see the write forms; a crafted POST gets nothing either


@login_required
@require_POST
def screening_enable(request, pk: int):
    asset = _asset_or_404(request, pk)
    _require_write(request, asset)
    try:
        run = services.screening_enable(asset=asset, user=request.user)
    except ValidationError as exc:
        messages.error(request, "Screening could not be enabled: " + " ".join(exc.messages))
        return redirect(_asset_page(asset))
    messages.success(request, f"Screening is on. Run #{run.pk} is training the detectors; the screen endpoint "
                              "answers once it has finished.")
    return redirect(_asset_page(asset))


@login_required
@require_POST
def policy_update(request, pk: int):
    asset = _asset_or_404(request, pk)
    _require_write(request, asset)
    form = ScreeningPolicyForm(request.POST, instance=selectors.policy_for(asset=asset))
    if form.is_valid():
        services.policy_update(asset=asset, user=request.user, **form.cleaned_data)
        messages.success(request, "Screening policy saved.")
        return redirect("screening:asset", pk=asset.pk)
    context = screening_context(request, asset)
    context.update({"asset": asset, "events": list(selectors.events_for(asset=asset, limit=100)),
                    "policy_form": form, "token_form": ScreeningTokenForm(), "asset_page": _asset_page(asset)})
    return render(request, "screening/asset.html", context, status=400)


@login_required
@require_POST
def token_create(request, pk: int):
    asset = _asset_or_404(request, pk)
    _require_write(request, asset)
    form = ScreeningTokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the token a name.")
        return redirect("screening:asset", pk=asset.pk)
    token, raw = services.screening_token_create(asset=asset, user=request.user, name=form.cleaned_data["name"])
    return render(request, "screening/token_created.html", {"asset": asset, "token": token, "raw_token": raw})


@login_required
@require_POST
def token_revoke(request, token_id: int):
    if request.organization is None:
        raise Http404
    token = get_object_or_404(ScreeningToken.objects.select_related("asset"), pk=token_id,
                              organization=request.organization)
    _require_write(request, token.asset)
    services.screening_token_revoke(token=token, user=request.user)
    messages.success(request, f"Screening token “{token.name}” revoked.")
    return redirect("screening:asset", pk=token.asset_id)


SETTINGS_TEMPLATE = "screening/settings_section.html"


def settings_context(request) -> dict:
    organization = request.organization
    return {"screening_store_inputs": bool(organization and organization.store_screened_inputs),
            "screening_settings_admin": bool(organization and can_write(request.user, organization.pk, Role.ADMIN))}


@login_required
@require_POST
def store_inputs_update(request):
    organization = request.organization
    if organization is None or not can_write(request.user, organization.pk, Role.ADMIN):
        raise Http404
    store = request.POST.get("store_screened_inputs") == "on"
    services.organization_store_inputs_set(organization=organization, user=request.user, store=store)
    messages.success(request, "Flagged inputs are now stored with their events." if store
                     else "Flagged inputs are no longer stored; only their hashes and scores are.")
    return redirect("web:settings")
