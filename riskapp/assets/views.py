"""HTML pages of the model registry: the asset list, registering a model, an asset's page, versions and datasets.

Other apps add sections to an asset's page (runs, schedules, compliance posture) without editing this file:
in their AppConfig.ready() they append ``(template name, context function(request, asset) -> dict)`` to
``ASSET_DETAIL_SECTIONS``. The page renders each template, in order, with the page's context plus what the
function returned, inside ``{% block asset_sections %}`` of templates/assets/detail.html.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from riskapp.accounts.permissions import can_write
from riskapp.assets import intake, selectors, services
from riskapp.assets.forms import AssetFilterForm, DatasetAddForm, RegisterModelForm, VersionUploadForm
from riskapp.assets.models import DatasetRole, ValidationStatus

ASSET_DETAIL_SECTIONS: list = []

# Service error keys → the form field that shows them.
FORM_FIELD_FOR_ERROR = {"file": "data_file", "dataset": "data_file", "endpoint": "endpoint_url",
                        "endpoint_output_kind": "endpoint_output_kind", "endpoint_timeout_s": "endpoint_url",
                        "endpoint_rate_limit_per_s": "endpoint_url"}


def _show_service_errors(form, exc: ValidationError) -> None:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    for key, texts in errors.items():
        field = FORM_FIELD_FOR_ERROR.get(key, key)
        if field not in form.fields:
            field = None
        for text in texts:
            form.add_error(field, text)


def limited_uploads(view):
    """Enforce RISKAPP_MAX_UPLOAD_BYTES while the request body streams in (CSRF is still checked, after that)."""
    protected = csrf_protect(view)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.upload_handlers.insert(0, intake.LimitedUploadHandler(request,
                                                                      max_bytes=settings.RISKAPP_MAX_UPLOAD_BYTES))
        return protected(request, *args, **kwargs)

    return csrf_exempt(wrapper)


def _bound_form(form_class, request, **kwargs):
    """The form bound to the request, carrying the refusal of an oversize upload as the file field's error."""
    form = form_class(request.POST or None, request.FILES or None, **kwargs)
    refused = getattr(request, "upload_refused", None)
    if refused:
        form.is_valid()
        field = FORM_FIELD_FOR_ERROR.get(refused[0], refused[0])
        form.errors[field if field in form.fields else "__all__"] = form.error_class([refused[1]])
    return form, bool(refused)


def _require_write(request) -> None:
    if not can_write(request.user, request.organization.pk):
        raise PermissionDenied("Your role in this organization can read models but not register or change them.")


@login_required
def asset_list(request):
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html")
    filters = AssetFilterForm(request.GET or None)
    criteria = filters.cleaned_data if filters.is_valid() else {}
    assets = selectors.assets_for(organization=organization, risk_tier=criteria.get("risk_tier", ""),
                                  sector=criteria.get("sector", ""), status=criteria.get("status", ""),
                                  query=criteria.get("q", ""))
    return render(request, "assets/list.html", {
        "assets": assets,
        "filters": filters,
        "filtered": any(criteria.values()),
        "has_any": selectors.assets_for(organization=organization).exists(),
        "can_write": can_write(request.user, organization.pk),
    })


@sensitive_post_parameters("endpoint_auth_header_value")
@login_required
@limited_uploads
def asset_register_view(request):
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html")
    _require_write(request)
    form, refused = _bound_form(RegisterModelForm, request)
    if request.method == "POST" and not refused and form.is_valid():
        try:
            asset, version = services.asset_register(
                organization=organization, user=request.user, asset_fields=form.asset_kwargs(),
                version_fields=form.version_kwargs(), datasets=form.dataset_specs(base_name=form.cleaned_data["name"]))
        except ValidationError as exc:
            _show_service_errors(form, exc)
        else:
            messages.success(request, f"“{asset.name}” is registered. Version {version.label} is being validated.")
            return redirect("assets:detail", pk=asset.pk)
    return render(request, "assets/register.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def asset_detail(request, pk: int):
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html")
    asset = selectors.asset_get(organization=organization, pk=pk)
    context = {
        "asset": asset,
        "versions": selectors.versions_of(asset=asset),
        "datasets": selectors.asset_datasets(asset=asset),
        "can_write": can_write(request.user, organization.pk),
        "section_templates": [template_name for template_name, _ in ASSET_DETAIL_SECTIONS],
    }
    for _template_name, context_fn in ASSET_DETAIL_SECTIONS:
        context.update(context_fn(request, asset))
    return render(request, "assets/detail.html", context)


@sensitive_post_parameters("endpoint_auth_header_value")
@login_required
@limited_uploads
def version_upload(request, pk: int):
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html")
    asset = selectors.asset_get(organization=organization, pk=pk)
    _require_write(request)
    current = asset.current_version
    initial = {"make_current": True}
    if current is not None:
        initial |= {"format": current.format, "input_shape": ",".join(str(d) for d in current.input_shape),
                    "nb_classes": current.nb_classes, "clip_min": current.clip_min, "clip_max": current.clip_max,
                    "class_names": ",".join(current.class_names)}
    form, refused = _bound_form(VersionUploadForm, request, initial=initial)
    if request.method == "POST" and not refused and form.is_valid():
        try:
            version = services.model_version_create(asset=asset, user=request.user, **form.version_kwargs())
        except ValidationError as exc:
            _show_service_errors(form, exc)
        else:
            messages.success(request, f"Version {version.label} is uploaded and being validated.")
            return redirect("assets:detail", pk=asset.pk)
    return render(request, "assets/version_upload.html", {"asset": asset, "form": form},
                  status=400 if form.errors else 200)


@login_required
@limited_uploads
def dataset_add(request, pk: int):
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html")
    asset = selectors.asset_get(organization=organization, pk=pk)
    _require_write(request)
    form, refused = _bound_form(DatasetAddForm, request, initial={"name": f"{asset.name} evaluation data"})
    if request.method == "POST" and not refused and form.is_valid():
        data = form.cleaned_data
        try:
            if data["data_source"] == "builtin":
                dataset = services.dataset_create(organization=organization, user=request.user, name=data["name"],
                                                  role=data["role"], builtin_name=data["builtin_name"])
            else:
                dataset = services.dataset_create(organization=organization, user=request.user, name=data["name"],
                                                  role=data["role"], file=data["data_file"],
                                                  label_column=data.get("label_column") or "label")
            services.asset_update(asset=asset, user=request.user, **{f"{dataset.role}_dataset": dataset})
        except ValidationError as exc:
            _show_service_errors(form, exc)
        else:
            messages.success(request, f"“{dataset.name}” is now the {DatasetRole(dataset.role).label.lower()} data "
                                      f"of {asset.name}.")
            return redirect("assets:detail", pk=asset.pk)
    return render(request, "assets/dataset_add.html", {"asset": asset, "form": form},
                  status=400 if form.errors else 200)


@login_required
def version_status(request, pk: int):
    """The live status fragment of one version; it stops asking to be polled once validation has finished."""
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html", status=404)
    version = selectors.version_get(organization=organization, pk=pk)
    return render(request, "assets/_version_status.html", {"version": version,
                                                             "poll": version.status == ValidationStatus.PENDING})


@login_required
def dataset_status(request, pk: int):
    """The live status fragment of one dataset; polling stops once it is validated or rejected."""
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html", status=404)
    dataset = selectors.dataset_get(organization=organization, pk=pk)
    return render(request, "assets/_dataset_status.html", {"dataset": dataset})


@login_required
@require_POST
def version_make_current(request, pk: int):
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html", status=404)
    version = selectors.version_get(organization=organization, pk=pk)
    _require_write(request)
    try:
        services.model_version_make_current(version=version, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Version {version.label} is now the current version.")
    return redirect(reverse("assets:detail", args=[version.asset_id]))


@login_required
def version_download(request, pk: int):
    """The uploaded artifact as stored (any member may download it, as auditors re-check its hash); audited."""
    organization = request.organization
    if not organization:
        return render(request, "web/no_organization.html", status=404)
    version = selectors.version_get(organization=organization, pk=pk)
    try:
        handle, filename = services.model_version_artifact_open(version=version, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(reverse("assets:detail", args=[version.asset_id]))
    return FileResponse(handle, as_attachment=True, filename=filename, content_type="application/octet-stream")
