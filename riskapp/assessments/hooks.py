"""How the assessments app plugs into pages other apps own: the asset page's "Run assessment" section."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

ASSET_SECTION_TEMPLATE = "assessments/asset_section.html"


def asset_section_context(request, asset) -> dict:
    """Context for the "Run assessment" form and the latest runs on an asset's page."""
    from riskapp.accounts.permissions import can_write
    from riskapp.assessments.forms import RunCreateForm
    from riskapp.assessments.selectors import runs_for

    return {
        "run_form": RunCreateForm(asset=asset),
        "asset_runs": list(runs_for(organization=asset.organization, asset=asset)[:10]),
        "can_run_assessment": can_write(request.user, asset.organization_id),
    }


def register() -> None:
    try:
        from riskapp.assets.views import ASSET_DETAIL_SECTIONS
    except ImportError:
        # The registry's asset page is not there yet; the runs pages work without it.
        logger.warning("riskapp.assets.views.ASSET_DETAIL_SECTIONS is missing: no 'Run assessment' on asset pages")
        return
    entry = (ASSET_SECTION_TEMPLATE, asset_section_context)
    if entry not in ASSET_DETAIL_SECTIONS:
        ASSET_DETAIL_SECTIONS.append(entry)
