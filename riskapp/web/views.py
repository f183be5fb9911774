"""Pages that belong to no single app: the dashboard and organization settings (members, API tokens)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from riskapp.accounts.models import ApiToken, Membership, Role
from riskapp.accounts.permissions import can_write
from riskapp.accounts.services import (
    FRESHNESS_DAYS_RANGE,
    api_token_create,
    api_token_revoke,
    organization_settings_update,
)
from riskapp.audit.selectors import audit_events_for
from riskapp.web.charts import posture_over_time_svg
from riskapp.web.context_processors import alert_badge_context
from riskapp.web.selectors import check_guides, dashboard_summary, runs_panel
from riskapp.web.templatetags.web_format import framework_short

POLL_INTERVAL_MS = 2000


def poll_interval_ms(default: int = POLL_INTERVAL_MS) -> int:
    """How often live fragments refresh; settings.RISKAPP_POLL_INTERVAL_MS overrides the page's default (e.g. to
    watch a run of a few seconds move in a browser test)."""
    return int(getattr(settings, "RISKAPP_POLL_INTERVAL_MS", None) or default)


@login_required
def dashboard(request):
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html")
    summary = dashboard_summary(organization=organization)
    posture_chart = posture_over_time_svg(
        [{"label": framework_short(row["framework"]), "points": row["points"]} for row in summary["posture_history"]],
        title="Share of controls compliant over time, per framework")
    return render(request, "web/dashboard.html", {"summary": summary, "posture_chart": posture_chart,
                                                  "poll_interval": poll_interval_ms()})


@login_required
def dashboard_runs(request):
    """The dashboard's runs panel alone: polled while a run is queued or running, then no more."""
    organization = request.organization
    if not organization:
        raise Http404("No organization.")
    return render(request, "web/_runs_panel.html", {"summary": runs_panel(organization=organization),
                                                    "poll_interval": poll_interval_ms()})


@login_required
def guide(request):
    """What each check measures, what ε is, why sanity checks matter, what a control id is — and the links between."""
    return render(request, "web/guide.html", {"checks": check_guides()})


@login_required
def nav_alert_badge(request):
    """The navigation's open-alert badge alone: polled while a run or validation can still raise an alert."""
    return render(request, "web/_nav_badge.html", alert_badge_context(request))


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “CI pipeline”.")


@login_required
def settings_page(request):
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html")
    new_token = None
    # Its own id prefix: other sections of this page (alert channels) have a "name" field too.
    form = ApiTokenForm(request.POST or None, auto_id="token_%s")
    if request.method == "POST" and form.is_valid():
        _token, new_token = api_token_create(user=request.user, organization=organization, name=form.cleaned_data["name"])
        messages.success(request, "Token created. Copy it now: it will not be shown again.")
        form = ApiTokenForm(auto_id="token_%s")
    context = {
        "organization": organization,
        "memberships": Membership.objects.filter(organization=organization).select_related("user"),
        "tokens": ApiToken.objects.filter(organization=organization, user=request.user),
        "token_form": form,
        "new_token": new_token,
        "is_admin": can_write(request.user, organization.pk, Role.ADMIN),
        "organization_form": OrganizationSettingsForm(auto_id="org_%s", initial={
            "freshness_days": organization.freshness_days,
            "store_screened_inputs": organization.store_screened_inputs}),
        "audit_events": audit_events_for(organization=organization, limit=25),
        "settings_templates": [template_name for template_name, _ in SETTINGS_SECTIONS],
    }
    for _template_name, context_fn in SETTINGS_SECTIONS:
        context.update(context_fn(request))
    return render(request, "web/settings.html", context)


class OrganizationSettingsForm(forms.Form):
    freshness_days = forms.IntegerField(
        label="Evidence stays fresh for (days)", min_value=FRESHNESS_DAYS_RANGE[0], max_value=FRESHNESS_DAYS_RANGE[1],
        help_text="After this many days without new evidence, a control's status turns “stale”.")
    store_screened_inputs = forms.BooleanField(
        label="Keep the raw inputs of flagged screening requests", required=False,
        help_text="Off: only their hashes are kept. On: flagged inputs are stored for investigation.")


@login_required
@require_POST
def organization_settings(request):
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html")
    if not can_write(request.user, organization.pk, Role.ADMIN):
        raise PermissionDenied("Only an organization's admins and owners change its settings.")
    form = OrganizationSettingsForm(request.POST, auto_id="org_%s")
    if form.is_valid():
        organization_settings_update(organization=organization, actor=request.user, **form.cleaned_data)
        messages.success(request, "Organization settings saved.")
    else:
        messages.error(request, "Settings not saved: " + " ".join(
            f"{form.fields[name].label}: {' '.join(errors)}" for name, errors in form.errors.items()))
    return redirect("web:settings")


# Apps add (template name, context function(request) -> dict) to show their settings on this page.
SETTINGS_SECTIONS: list = []


@login_required
@require_POST
def token_revoke(request, token_id: int):
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user, organization=request.organization)
    api_token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("web:settings")
