"""Compliance pages: posture per framework, the assets × controls matrix, control pages with evidence history,
manual evidence, reports, and the read-only pages auditors open through a share link (no account)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from riskapp.accounts.models import Membership, Role
from riskapp.accounts.permissions import can_write
from riskapp.compliance import selectors, services
from riskapp.compliance.api import report_file_response
from riskapp.compliance.forms import ManualEvidenceForm, MatrixFilterForm, ReportRequestForm, ShareLinkForm
from riskapp.compliance.models import Control, ControlStatus, ManualEvidence, Report, ReportStatus


def _assets(organization):
    from riskapp.assets.models import ModelAsset

    return ModelAsset.objects.filter(organization=organization).order_by("name")


def _asset_or_404(organization, asset_id):
    return get_object_or_404(_assets(organization), pk=asset_id)


def _no_org(request):
    return render(request, "web/no_organization.html")


@login_required
def index(request):
    organization = request.organization
    if not organization:
        return _no_org(request)
    return render(request, "compliance/index.html", {
        "postures": selectors.posture_by_framework(organization=organization),
        "asset_count": _assets(organization).count(),
        "reports": selectors.reports_for(organization)[:5],
        "chain": selectors.evidence_chain_for(organization),
        "statuses": selectors.STATUS_ORDER,
    })


@login_required
def verify_page(request):
    """Walk the whole evidence chain now (linear in its length, so on demand rather than on every page)."""
    organization = request.organization
    if not organization:
        return _no_org(request)
    return render(request, "compliance/verify.html", {"verify": services.evidence_verify(organization=organization)})


@login_required
def framework_page(request, slug: str):
    organization = request.organization
    if not organization:
        return _no_org(request)
    framework = selectors.framework_by_slug(slug)
    if framework is None:
        raise Http404("No such framework.")
    assets = list(_assets(organization))
    form = MatrixFilterForm(request.GET or None, assets=assets)
    statuses, search, chosen = [], "", assets
    if form.is_valid():
        statuses = form.cleaned_data["status"]
        search = form.cleaned_data["q"]
        if form.cleaned_data["asset"]:
            chosen = [a for a in assets if a.pk == form.cleaned_data["asset"]]
    matrix = selectors.status_matrix(organization=organization, framework=framework, assets=chosen,
                                     statuses=statuses, search=search)
    return render(request, "compliance/framework.html", {
        "framework": framework, "matrix": matrix, "form": form, "filtered": bool(statuses or search or
                                                                              len(chosen) != len(assets)),
        "statuses": selectors.STATUS_ORDER, "counts": matrix.counts,
        "legend": [(status.value, status.label, STATUS_HELP[status], matrix.counts.get(status.value, 0))
                   for status in selectors.STATUS_ORDER],
        "catalog": selectors.assessable_controls(framework) if not assets else None,
    })


@login_required
def mapping_page(request):
    from riskapp.compliance.models import MappingRule

    rules = (MappingRule.objects.filter(retired_at__isnull=True).prefetch_related("controls__framework")
             .order_by("order"))
    rows = []
    for rule in rules:
        targets: dict = {}
        for control in sorted(rule.controls.all(), key=lambda c: (c.framework.order, c.order)):
            targets.setdefault(control.framework, []).append(control)
        rows.append((rule, list(targets.items())))
    return render(request, "compliance/mapping.html", {"rows": rows})


@login_required
def control_page(request, slug: str, ref_id: str):
    organization = request.organization
    if not organization:
        return _no_org(request)
    framework = selectors.framework_by_slug(slug)
    control = selectors.control_by_ref(framework=framework, ref_id=ref_id) if framework else None
    if control is None:
        raise Http404("No such control.")
    rules = list(selectors.rules_for_control(control))
    statuses = []
    if control.assessable:
        matrix = selectors.status_matrix(organization=organization, framework=framework)
        statuses = matrix.for_control(control) if control in matrix.controls else []
    members = [m.user for m in Membership.objects.filter(organization=organization).select_related("user")]
    return render(request, "compliance/control.html", {
        "framework": framework, "control": control, "rules": rules, "statuses": statuses,
        "children": control.children.filter(retired_at__isnull=True).order_by("order"),
        "history": selectors.evidence_history(organization=organization, control=control),
        "manual": selectors.manual_evidence_for(organization=organization, control=control),
        "manual_form": ManualEvidenceForm(members=members, initial={"owner": request.user.pk}),
        "can_write": can_write(request.user, organization.pk),
        "check_kinds": sorted({kind for rule in rules for kind in rule.kinds}),
    })


@login_required
def manual_evidence_add(request, asset_id: int, control_id: int):
    organization = request.organization
    if not organization:
        return _no_org(request)
    asset = _asset_or_404(organization, asset_id)
    control = get_object_or_404(Control.objects.select_related("framework"), pk=control_id)
    back = reverse("compliance:control", args=[control.framework.slug, control.ref_id])
    if request.method != "POST":
        return redirect(back)
    if not can_write(request.user, organization.pk):
        messages.error(request, "Your role does not allow attaching evidence.")
        return redirect(back)
    members = [m.user for m in Membership.objects.filter(organization=organization).select_related("user")]
    form = ManualEvidenceForm(request.POST, request.FILES, members=members)
    if form.is_valid():
        owner = next((u for u in members if u.pk == form.cleaned_data["owner"]), request.user)
        try:
            services.manual_evidence_attach(
                organization=organization, asset=asset, control=control, user=request.user, owner=owner,
                title=form.cleaned_data["title"], expires_on=form.cleaned_data["expires_on"],
                link=form.cleaned_data["link"], upload=form.cleaned_data["file"], notes=form.cleaned_data["notes"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Evidence attached to {control.ref_id} for {asset.name}.")
            return redirect(back)
    else:
        messages.error(request, "Evidence not attached: " + " ".join(
            f"{error}" for errors in form.errors.values() for error in errors))
    return redirect(back)


@login_required
def manual_evidence_file(request, evidence_id: int):
    from django.http import FileResponse

    organization = request.organization
    if not organization:
        return _no_org(request)
    evidence = get_object_or_404(ManualEvidence, pk=evidence_id, organization=organization)
    if not evidence.file:
        raise Http404("This evidence is a link, not a file.")
    return FileResponse(evidence.file.open("rb"), as_attachment=True,
                        filename=evidence.original_filename or f"evidence-{evidence.pk}")


@login_required
def report_list(request):
    organization = request.organization
    if not organization:
        return _no_org(request)
    assets = list(_assets(organization))
    form = ReportRequestForm(request.POST or None, assets=assets,
                             initial={"framework": request.GET.get("framework", "iso-42001"),
                                      "asset": request.GET.get("asset")})
    if request.method == "POST":
        if not can_write(request.user, organization.pk):
            messages.error(request, "Your role does not allow generating reports.")
        elif form.is_valid():
            asset = next((a for a in assets if a.pk == form.cleaned_data["asset"]), None)
            try:
                report = services.report_request(
                    organization=organization, framework=form.cleaned_data["framework"],
                    fmt=form.cleaned_data["format"], user=request.user, asset=asset,
                    period_start=form.cleaned_data["period_start"], period_end=form.cleaned_data["period_end"])
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, f"Report {str(report.uid)[:8]} queued; it appears below when ready.")
                return redirect("compliance:reports")
    return render(request, "compliance/reports.html", {
        "form": form, "reports": selectors.reports_for(organization)[:100],
        "links": selectors.share_links_for(organization)[:50],
        "can_write": can_write(request.user, organization.pk),
        "share_form": ShareLinkForm(),
    })


@login_required
def report_row(request, report_id: int):
    organization = request.organization
    if not organization:
        raise Http404
    report = get_object_or_404(selectors.reports_for(organization), pk=report_id)
    return render(request, "compliance/_report_row.html", {"report": report,
                                                            "can_write": can_write(request.user, organization.pk),
                                                            "share_form": ShareLinkForm()})


@login_required
def report_download(request, report_id: int):
    organization = request.organization
    if not organization:
        raise Http404
    report = get_object_or_404(Report, pk=report_id, organization=organization)
    if report.status != ReportStatus.SUCCEEDED or not report.file:
        raise Http404("The report is not ready.")
    return report_file_response(report)


@login_required
@require_POST
def share_link_new(request):
    organization = request.organization
    if not organization:
        raise Http404
    form = ShareLinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Link not created: " + " ".join(e for errs in form.errors.values() for e in errs))
        return redirect("compliance:reports")
    report = asset = None
    if form.cleaned_data["report"]:
        report = get_object_or_404(Report, pk=form.cleaned_data["report"], organization=organization)
    if form.cleaned_data["asset"]:
        asset = _asset_or_404(organization, form.cleaned_data["asset"])
    if not can_write(request.user, organization.pk, Role.ANALYST):
        messages.error(request, "Your role does not allow sharing.")
        return redirect("compliance:reports")
    try:
        link, raw = services.share_link_create(organization=organization, user=request.user, report=report,
                                               asset=asset, expires_in_days=form.cleaned_data["expires_in_days"],
                                               label=form.cleaned_data["label"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("compliance:reports")
    url = request.build_absolute_uri(reverse("compliance:shared", args=[raw]))
    messages.success(request, f"Read-only link for the auditor (copy it now, it is not shown again; valid until "
                              f"{link.expires_at:%Y-%m-%d}): {url}")
    return redirect("compliance:reports")


@login_required
@require_POST
def share_link_revoke_view(request, link_id: int):
    organization = request.organization
    if not organization:
        raise Http404
    link = get_object_or_404(selectors.share_links_for(organization), pk=link_id)
    if not can_write(request.user, organization.pk):
        messages.error(request, "Your role does not allow revoking links.")
    else:
        services.share_link_revoke(link=link, user=request.user)
        messages.success(request, f"Link {link.prefix}… revoked.")
    return redirect("compliance:reports")


# --- auditors, through a share link: no account, read-only, every access audited ------------------------


def shared(request, token: str):
    link = services.share_link_access(raw_token=token, what="page")
    if link is None:
        return render(request, "compliance/shared_gone.html", status=404)
    context = {"link": link, "organization": link.organization, "token": token}
    if link.report_id:
        context["report"] = link.report
    else:
        asset = link.asset
        cells = selectors.control_statuses_for_asset(asset=asset)
        by_framework = {}
        for cell in cells:
            by_framework.setdefault(cell.control.framework, []).append(cell)
        context.update({
            "asset": asset,
            "by_framework": [(framework, items, _counts(items)) for framework, items in by_framework.items()],
            "evidence": selectors.evidence_for_asset(organization=link.organization, asset=asset)[:200],
            "chain": selectors.evidence_chain_for(link.organization),
        })
    return render(request, "compliance/shared.html", context)


def _counts(cells):
    counts = {status.value: 0 for status in selectors.STATUS_ORDER}
    for cell in cells:
        counts[cell.status] += 1
    return [(status.value, status.label, counts[status.value]) for status in selectors.STATUS_ORDER]


def shared_download(request, token: str):
    link = services.share_link_access(raw_token=token, what="download")
    if link is None or not link.report_id or link.report.status != ReportStatus.SUCCEEDED:
        raise Http404("This link does not open a report.")
    return report_file_response(link.report)


# --- the asset page's compliance section (registered in AppConfig.ready) ----------------------------------


def asset_section_context(request, asset) -> dict:
    postures = selectors.posture_by_framework(organization=asset.organization, assets=[asset])
    return {"compliance_postures": postures, "compliance_statuses": selectors.STATUS_ORDER,
            "compliance_can_share": can_write(request.user, asset.organization_id)}


STATUS_HELP = {
    ControlStatus.COMPLIANT: "newest evidence meets every mapped rule",
    ControlStatus.NON_COMPLIANT: "newest evidence fails a mapped rule",
    ControlStatus.PARTIAL: "some rules gave no verdict, or tests cover part of the control",
    ControlStatus.STALE: "newest evidence is older than the freshness window",
    ControlStatus.NOT_ASSESSED: "no assessment has evidenced it yet",
    ControlStatus.NEEDS_MANUAL: "no automated test can evidence it",
}
